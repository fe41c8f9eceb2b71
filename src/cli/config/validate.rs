//! What the configuration must satisfy beyond each value's own type (the rules live in
//! `annal::config` and `annal::server::preflight`), and ANNAL_* variables no option reads.

use std::ffi::OsStr;

use crate::cli::serve::ServeArgs;
use crate::cli::Global;

/// Every problem `serve` would meet before serving, as messages.
pub fn problems(global: &Global, args: &ServeArgs) -> Vec<String> {
    annal::server::preflight::problems(&args.config(global))
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
