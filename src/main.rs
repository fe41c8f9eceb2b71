//! The `annal` command: server and admin CLI.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // `annal … | head` must end quietly when the reader goes away, as Unix tools do; Rust
    // ignores SIGPIPE by default, which turns the closed pipe into a panic in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Everything Annal writes (databases, keys, exports) is its owner's alone, whatever umask
    // the service manager left: group and others get no bits on files this process creates.
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's creation mask; no thread has started yet.
    unsafe {
        libc::umask(0o077);
    }
    // kurrentdb's gRPC stack enables rustls's ring provider too; with two providers rustls
    // cannot pick one, so name ours before anything uses TLS.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = cli::config::parse_from(std::env::args_os().collect());
    #[cfg(unix)]
    if !args.cli.command.ends_on_broken_pipe() {
        // SAFETY: as above, still before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
    }
    cli::logging::init(&args.cli.global);
    if let Some(file) = &args.file {
        tracing::debug!(path = %file.path.display(), keys = file.values.len(), "configuration file");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("annal: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("annal: {e:#}");
            ExitCode::FAILURE
        }
    }
}
