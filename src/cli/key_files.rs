//! `annal serve` refuses to start when a file holding a key or a secret may be read by other
//! users: the data key opens every sealed secret in the log, the CA key issues device
//! identities, the TLS key impersonates the server, the admin API key opens the whole API.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::serve::ServeArgs;

/// Every key or secret file `serve` reads that exists now; the ones it creates itself later
/// (on a first start) are created mode 0600.
pub fn files(global: &super::Global, args: &ServeArgs) -> Vec<PathBuf> {
    let data = &global.data_dir;
    let mut files = vec![
        data.join("ca").join("ca.key"),
        args.data_key_file.clone().unwrap_or_else(|| data.join("secrets.key")),
        args.tls_key
            .clone()
            .unwrap_or_else(|| data.join("tls").join("server.key")),
    ];
    if args.admin_api_key.is_none() {
        files.push(data.join("admin-api-key"));
    }
    files.extend(
        [
            &args.webhook.webhook_hmac_key_file,
            &args.nats.nats_creds_file,
            &args.enroll.scep_challenge_file,
        ]
        .into_iter()
        .flatten()
        .cloned(),
    );
    files.retain(|f| f.exists());
    files
}

/// Refuses a file that group or others may access, naming it, its mode and the fix.
pub fn check_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the permissions of {}", path.display()))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{} holds a key or secret but its mode {mode:04o} lets group or others access it; refusing to start. Fix: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
    Ok(())
}

pub fn check_all(global: &super::Global, args: &ServeArgs) -> anyhow::Result<()> {
    files(global, args).iter().try_for_each(|f| check_private(f))
}
