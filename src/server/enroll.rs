//! What `GET /enroll` and the OTA profile service serve: profiles signed with the server's TLS
//! identity that point devices at the base URL; their topic is --topic, else the installed push
//! certificate's, read when a profile is served.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::ServerConfig;
use crate::http::enroll::EnrollConfig;
use crate::pki::apple::{AppleDeviceCa, AppleIdentityError};
use crate::pki::profile::{check_base_url, check_topic, ProfileError};
use crate::pki::Ca;

use super::tls::{self, TlsError};

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.display())]
    DeviceCa(PathBuf, #[source] AppleIdentityError),
    #[error("Apple's device CA")]
    AppleCa(#[source] AppleIdentityError),
}

pub fn config(
    config: &ServerConfig,
    ca: &Ca,
    static_challenge: Option<String>,
) -> Result<Arc<EnrollConfig>, EnrollError> {
    let base_url = config.base_url();
    check_base_url(&base_url)?;
    if let Some(topic) = &config.enroll.topic {
        check_topic(topic)?;
    }
    let files = tls::serve_files(ca, config)?;
    let signer = tls::profile_signer(&files.cert, &files.key)?;
    tracing::info!(%base_url, "serving enrollment profiles at /enroll");
    let extra_device_ca = match &config.ota_device_ca {
        Some(path) => {
            let pem = std::fs::read_to_string(path).map_err(|source| EnrollError::Read {
                path: path.clone(),
                source,
            })?;
            let cas = AppleDeviceCa::from_pem_bundle(&pem).map_err(|e| EnrollError::DeviceCa(path.clone(), e))?;
            tracing::info!(path = %path.display(), device_ca = %cas.chain_names(), "OTA phase 2 also accepts this device CA");
            Some(cas)
        }
        None => None,
    };
    let device_cas = AppleDeviceCa::apple_with(extra_device_ca).map_err(EnrollError::AppleCa)?;
    Ok(Arc::new(EnrollConfig {
        base_url,
        device_cas,
        topic: config.enroll.topic.clone(),
        static_challenge,
        ca_cert_der: ca.cert_der().to_vec(),
        organization: config.enroll.organization.clone(),
        signer,
    }))
}
