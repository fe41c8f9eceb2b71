//! What the configuration must satisfy beyond each value's own type (the rules live in
//! `annal::config` and `annal::server::preflight`), and ANNAL_* variables no option reads.

use std::ffi::OsStr;

use crate::cli::serve::ServeArgs;
use crate::cli::Global;

/// Every problem `serve` would meet before serving, as messages.
pub fn problems(global: &Global, args: &ServeArgs) -> Vec<String> {
    annal::server::preflight::problems(&args.config(global))
}

/// Whether serve can use the data directory: `Ok(Some(note))` when it does not exist yet but can
/// be made, an error when it cannot be made or written.
pub fn data_dir(dir: &std::path::Path) -> Result<Option<String>, String> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(format!("data_dir {} is not a directory", dir.display()));
        }
        return writable(dir).map(|()| None);
    }
    let parent = dir
        .ancestors()
        .skip(1)
        .find(|a| a.exists())
        .unwrap_or(std::path::Path::new("."));
    writable(parent)?;
    Ok(Some(format!(
        "data_dir {} does not exist yet: serve creates it",
        dir.display()
    )))
}

/// Tries to create (and removes) a file in `dir`: permissions, a read-only mount and a full
/// disk all show here.
fn writable(dir: &std::path::Path) -> Result<(), String> {
    let probe = dir.join(format!(".annal-config-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("data_dir: {} cannot be written: {e}", dir.display())),
    }
}

/// ANNAL_* variables that no option reads: most likely a typo that silently changes nothing.
pub fn unknown_env(root: &clap::Command) -> Vec<String> {
    let mut known = vec!["ANNAL_LOG".to_owned(), "ANNAL_CONFIG".to_owned()];
    collect_env(root, &mut known);
    let mut unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.to_str().map(str::to_owned))
        .filter(|name| name.starts_with("ANNAL_") && !name.starts_with("ANNAL_TEST_"))
        .filter(|name| !known.contains(name))
        .collect();
    unknown.sort();
    unknown
}

fn collect_env(cmd: &clap::Command, into: &mut Vec<String>) {
    into.extend(
        cmd.get_arguments()
            .filter_map(|a| a.get_env().and_then(OsStr::to_str).map(str::to_owned)),
    );
    for sub in cmd.get_subcommands() {
        collect_env(sub, into);
    }
}
