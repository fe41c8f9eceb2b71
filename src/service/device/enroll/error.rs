//! Why an enrollment request was not served.

use crate::pki::profile::ProfileError;
use crate::service::scep::ScepServiceError;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The store cannot serve enrollment now.
    #[error("{0}")]
    Unavailable(String),
    /// No usable push topic (none configured, or not an MDM topic): a setup step is missing,
    /// not a store failure.
    #[error("{0}")]
    NoPushTopic(String),
    /// The server's own configuration cannot make the profile.
    #[error("{0}")]
    Internal(String),
    /// The body is not what the endpoint takes (400).
    #[error("{message}")]
    Invalid { message: String, path: Option<String> },
    /// The body's signer is not trusted for it (403).
    #[error("{0}")]
    Untrusted(String),
    #[error(transparent)]
    Scep(#[from] ScepServiceError),
}

impl EnrollError {
    pub fn invalid(message: impl Into<String>) -> Self {
        EnrollError::Invalid {
            message: message.into(),
            path: None,
        }
    }

    pub fn invalid_body(message: impl Into<String>) -> Self {
        EnrollError::Invalid {
            message: message.into(),
            path: Some("body".to_owned()),
        }
    }
}

/// A profile Annal cannot build from its own configuration is the server's fault; a push
/// certificate whose topic is not an MDM topic is one Annal cannot enroll devices with yet.
pub fn profile_error(e: ProfileError) -> EnrollError {
    match e {
        ProfileError::Topic(_) => EnrollError::NoPushTopic(e.to_string()),
        other => EnrollError::Internal(other.to_string()),
    }
}
