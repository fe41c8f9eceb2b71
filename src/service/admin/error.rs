//! Why an admin use case did not do what it was asked: the admin-result error family, apart
//! from device replies. The HTTP edge maps each kind to one status; the service decides which
//! kind it is.

use crate::domain::access::Denied;
use crate::domain::enrollment::Refusal;
use crate::service::enrollments::ServiceError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller's role does not allow it.
    #[error(transparent)]
    Forbidden(Denied),
    /// The request itself is wrong; `path` names the field.
    #[error("{message}")]
    Invalid { message: String, path: Option<String> },
    #[error("{0}")]
    NotFound(String),
    /// Refused for good in the current state: retrying will not help.
    #[error("{0}")]
    Conflict(String),
    /// The store could not take or answer it now: worth retrying (the message is the store's).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Pushes cannot be sent (no push certificate, or APNs refused it).
    #[error("{0}")]
    PushUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl AdminError {
    pub fn invalid(message: impl Into<String>) -> Self {
        AdminError::Invalid {
            message: message.into(),
            path: None,
        }
    }

    pub fn invalid_at(message: impl Into<String>, path: &str) -> Self {
        AdminError::Invalid {
            message: message.into(),
            path: Some(path.into()),
        }
    }

    /// The store could not take it now: the whole request is worth retrying.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AdminError::Unavailable(_))
    }
}

impl From<Denied> for AdminError {
    fn from(d: Denied) -> Self {
        AdminError::Forbidden(d)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Unavailable(e.to_string())
    }
}

/// What an enrollment's refusal means to an admin: an enrollment that never authenticated
/// does not exist for the API.
impl From<ServiceError> for AdminError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused(Refusal::NotAuthenticated) => AdminError::NotFound("no such enrollment".into()),
            ServiceError::Refused(Refusal::UnknownCommand(uuid)) => {
                AdminError::NotFound(format!("no pending command {uuid} for this enrollment"))
            }
            ServiceError::Refused(r) => AdminError::Conflict(r.to_string()),
            ServiceError::Store(e) => e.into(),
            ServiceError::Contention(s) => AdminError::Unavailable(format!("contention on {s}")),
            other => AdminError::Internal(other.to_string()),
        }
    }
}
