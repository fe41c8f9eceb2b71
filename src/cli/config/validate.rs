//! What the configuration must satisfy beyond each value's own type: options that go
//! together, and files that must be readable and belong together. `serve` checks the
//! relations at start (values from the file are defaults, which clap's `requires` does not
//! see); `config check` checks everything it can without starting.

use std::ffi::OsStr;

use crate::cli::serve::ServeArgs;
use crate::cli::Global;

/// Options that only mean something together.
pub fn relations(args: &ServeArgs) -> anyhow::Result<()> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(_), None) => anyhow::bail!("tls_cert is set without tls_key"),
        (None, Some(_)) => anyhow::bail!("tls_key is set without tls_cert"),
        _ => {}
    }
    if args.enroll.challenge.is_some() && args.enroll.scep_challenge_file.is_some() {
        anyhow::bail!("enroll.challenge and enroll.scep_challenge_file are both set: keep one");
    }
    let w = &args.webhook;
    let needs_url = w.webhook_hmac_key_file.is_some() || w.webhook_no_idle || w.webhook_ca_file.is_some();
    if needs_url && w.webhook_url.is_none() {
        anyhow::bail!("webhook options are set without webhook.url");
    }
    let n = &args.nats;
    if (n.nats_creds_file.is_some() || n.nats_source.is_some()) && n.nats_url.is_none() {
        anyhow::bail!("nats options are set without nats.url");
    }
    Ok(())
}

/// Every problem `serve` would meet before serving, as messages.
pub fn problems(global: &Global, args: &ServeArgs) -> Vec<String> {
    let mut problems = Vec::new();
    let mut note = |r: anyhow::Result<()>| {
        if let Err(e) = r {
            problems.push(format!("{e:#}"));
        }
    };
    note(global.store_url().map(drop));
    note(relations(args));
    note(args.push.settings().map(drop));
    note(args.webhook.config().map(drop));
    note(args.nats.config().and_then(|c| match c {
        Some(c) => annal::stream::nats::check(&c).map_err(anyhow::Error::from),
        None => Ok(()),
    }));
    note(args.enroll.challenge().map(drop));
    note(crate::cli::key_files::check_all(global, args));
    if let Some(path) = &args.external_ca {
        note(
            annal::pki::TrustAnchors::from_pem_file(path)
                .map(drop)
                .map_err(|e| anyhow::anyhow!("external_ca {}: {e}", path.display())),
        );
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        note(crate::cli::tls::check_pair(cert, key).map(drop));
    }
    if let Some(path) = &args.data_key_file {
        if !path.exists() {
            problems.push(format!(
                "data_key_file {} does not exist (serve creates it only for an empty log)",
                path.display()
            ));
        }
    }
    problems
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
