//! How a refused device request is answered: a 4xx (a 503 when the store cannot take it now),
//! never a 401 on the command channel, since a 401 can make a device drop its enrollment.
//! What a refusal records, if anything, is `service::device`'s business.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::enrollment::Refusal;
use crate::mdm::ParseError;
use crate::service::device::DeviceFailure;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("the body is neither a check-in message (no MessageType) nor a command report (no Status)")]
    UnknownMessage,
    #[error("invalid message: {0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Identity(String),
    #[error("{0}")]
    MalformedSignature(String),
    #[error("{0}")]
    Refused(Refusal),
    /// The body is larger than the request's identity allows (see `BodySizes`).
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    SlowBody(String),
    /// The connection failed while the body was read.
    #[error("the request body could not be read: {0}")]
    Body(String),
    /// The store cannot take the request now; the detail (why) goes to the log only.
    #[error("the event store is unavailable; try again")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl DeviceError {
    pub fn status(&self) -> StatusCode {
        match self {
            DeviceError::UnknownMessage | DeviceError::Parse(_) | DeviceError::MalformedSignature(_) => {
                StatusCode::BAD_REQUEST
            }
            DeviceError::Identity(_) | DeviceError::Refused(_) => StatusCode::FORBIDDEN,
            DeviceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            DeviceError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            DeviceError::Body(_) => StatusCode::BAD_REQUEST,
            DeviceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DeviceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            DeviceError::UnknownMessage => "unknown_message",
            DeviceError::Parse(_) => "parse",
            DeviceError::Identity(_) => "identity",
            DeviceError::MalformedSignature(_) => "signature_format",
            DeviceError::Refused(_) => "refused",
            DeviceError::TooLarge(_) => "too_large",
            DeviceError::SlowBody(_) => "slow_body",
            DeviceError::Body(_) => "body",
            DeviceError::Unavailable(_) => "unavailable",
            DeviceError::Internal(_) => "internal",
        }
    }
}

impl From<DeviceFailure> for DeviceError {
    fn from(e: DeviceFailure) -> Self {
        match e {
            DeviceFailure::UnknownMessage => DeviceError::UnknownMessage,
            DeviceFailure::Parse(e) => DeviceError::Parse(e),
            DeviceFailure::Refused(r) => DeviceError::Refused(r),
            DeviceFailure::Unavailable(detail) => DeviceError::Unavailable(detail),
            DeviceFailure::Internal(detail) => DeviceError::Internal(detail),
        }
    }
}

impl IntoResponse for DeviceError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Internal details go to the log, not to the device.
        let body = match &self {
            DeviceError::Internal(detail) => {
                tracing::error!(error = %detail, "device request failed");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        (status, body).into_response()
    }
}
