//! How a refused device request is answered: a 4xx (a 503 when the store cannot take it now),
//! never a 401 on the command channel, since a 401 can make a device drop its enrollment.
//! What a refusal records, if anything, is `service::device`'s business.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::device::DeviceFailure;

/// What can go wrong with a device request: the use case's failure, or what the HTTP layer
/// refuses before it gets there (identity, body size and pace).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Failure(#[from] DeviceFailure),
    #[error("{0}")]
    Identity(String),
    #[error("{0}")]
    MalformedSignature(String),
    /// The body is larger than the request's identity allows (see `BodySizes`).
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    SlowBody(String),
    /// The connection failed while the body was read.
    #[error("the request body could not be read: {0}")]
    Body(String),
    /// The URL's query string is over what is recorded with each message.
    #[error(transparent)]
    Query(#[from] crate::mdm::url_params::UrlParamsError),
}

impl DeviceError {
    pub fn status(&self) -> StatusCode {
        match self {
            DeviceError::Failure(DeviceFailure::UnknownMessage | DeviceFailure::Parse(_))
            | DeviceError::MalformedSignature(_)
            | DeviceError::Body(_) => StatusCode::BAD_REQUEST,
            DeviceError::Identity(_) | DeviceError::Failure(DeviceFailure::Refused(_)) => StatusCode::FORBIDDEN,
            DeviceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            DeviceError::Query(_) => StatusCode::URI_TOO_LONG,
            DeviceError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            DeviceError::Failure(DeviceFailure::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            DeviceError::Failure(DeviceFailure::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            DeviceError::Failure(DeviceFailure::UnknownMessage) => "unknown_message",
            DeviceError::Failure(DeviceFailure::Parse(_)) => "parse",
            DeviceError::Failure(DeviceFailure::Refused(_)) => "refused",
            DeviceError::Failure(DeviceFailure::Unavailable(_)) => "unavailable",
            DeviceError::Failure(DeviceFailure::Internal(_)) => "internal",
            DeviceError::Identity(_) => "identity",
            DeviceError::MalformedSignature(_) => "signature_format",
            DeviceError::TooLarge(_) => "too_large",
            DeviceError::SlowBody(_) => "slow_body",
            DeviceError::Body(_) => "body",
            DeviceError::Query(_) => "query",
        }
    }
}

impl IntoResponse for DeviceError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Internal details go to the log, not to the device.
        let body = match &self {
            DeviceError::Failure(DeviceFailure::Internal(detail)) => {
                tracing::error!(error = %detail, "device request failed");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        (status, body).into_response()
    }
}
