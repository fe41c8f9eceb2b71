//! What the configuration must satisfy beyond each value's own type: options that go together,
//! and files holding keys or secrets that only their owner may read. Values from the file are
//! clap defaults, which clap's own `requires` does not see, so the server checks again here.

use std::path::{Path, PathBuf};

use super::{ConfigError, ServerConfig};

impl ServerConfig {
    /// Options that only mean something together.
    pub fn relations(&self) -> Result<(), ConfigError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return Err(ConfigError::Relation("tls_cert is set without tls_key")),
            (None, Some(_)) => return Err(ConfigError::Relation("tls_key is set without tls_cert")),
            _ => {}
        }
        if self.enroll.challenge.is_some() && self.enroll.scep_challenge_file.is_some() {
            return Err(ConfigError::Relation(
                "enroll.challenge and enroll.scep_challenge_file are both set: keep one",
            ));
        }
        let w = &self.webhook;
        let needs_url = w.hmac_key_file.is_some() || w.no_idle || w.ca_file.is_some();
        if needs_url && w.url.is_none() {
            return Err(ConfigError::Relation("webhook options are set without webhook.url"));
        }
        let n = &self.nats;
        if (n.creds_file.is_some() || n.source.is_some()) && n.url.is_none() {
            return Err(ConfigError::Relation("nats options are set without nats.url"));
        }
        Ok(())
    }

    /// Every key or secret file the server reads that exists now: the data key opens every
    /// sealed secret in the log, the CA key issues device identities, the TLS key impersonates
    /// the server, the admin API key opens the whole API. The ones the server creates itself
    /// (on a first start) are created mode 0600.
    pub fn key_files(&self) -> Vec<PathBuf> {
        let data = &self.data_dir;
        let mut files = vec![
            data.join("ca").join("ca.key"),
            self.data_key_path(),
            self.tls_key
                .clone()
                .unwrap_or_else(|| data.join("tls").join("server.key")),
        ];
        if self.admin_api_key.is_none() {
            files.push(data.join("admin-api-key"));
        }
        files.extend(
            [
                &self.webhook.hmac_key_file,
                &self.nats.creds_file,
                &self.enroll.scep_challenge_file,
            ]
            .into_iter()
            .flatten()
            .cloned(),
        );
        files.retain(|f| f.exists());
        files
    }

    /// Refuses to go on when a key file may be read by other users: a key others could read is
    /// a key others may have.
    pub fn check_key_files(&self) -> Result<(), ConfigError> {
        self.key_files().iter().try_for_each(|f| check_private(f))
    }
}

/// Refuses a file that group or others may access, naming it, its mode and the fix.
pub fn check_private(path: &Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| ConfigError::Permissions {
                path: path.to_path_buf(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::NotPrivate {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}
