//! Admin API errors as JSON: `{"error": {"code": "...", "message": "...", "path": "..."}}`,
//! each with the precise status a script can branch on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::service::admin::{AdminError, Denied};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("an API key is required: Authorization: Bearer <key>")]
    Unauthenticated,
    #[error("the API key is not valid")]
    BadKey,
    #[error(transparent)]
    Forbidden(Denied),
    #[error("{message}")]
    Invalid { message: String, path: Option<String> },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Push cannot be sent (no push certificate, or APNs refused it and pushes are suspended).
    #[error("{0}")]
    PushUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Invalid {
            message: message.into(),
            path: None,
        }
    }

    /// The store could not take or answer the request: worth retrying later (Retry-After).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ApiError::Unavailable(_))
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::BadKey => (StatusCode::FORBIDDEN, "bad_key"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::PushUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "push_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// One kind for one kind: the service decided which it is.
impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Forbidden(d) => ApiError::Forbidden(d),
            AdminError::Invalid { message, path } => ApiError::Invalid { message, path },
            AdminError::NotFound(m) => ApiError::NotFound(m),
            AdminError::Conflict(m) => ApiError::Conflict(m),
            AdminError::Unavailable(m) => ApiError::Unavailable(m),
            AdminError::PushUnavailable(m) => ApiError::PushUnavailable(m),
            AdminError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<crate::service::projector::ProjectorError> for ApiError {
    fn from(e: crate::service::projector::ProjectorError) -> Self {
        use crate::readmodel::ReadModelError;
        use crate::service::projector::ProjectorError;
        match e {
            ProjectorError::ReadModel(ReadModelError::Unavailable(m)) => ApiError::Unavailable(m),
            ProjectorError::ReadModel(ReadModelError::Database(m)) => ApiError::Unavailable(m),
            ProjectorError::Store(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    /// The error object (without the `error` wrapper), also used per enrollment in fan-outs.
    pub fn body(&self) -> serde_json::Value {
        let (_, code) = self.status_and_code();
        let mut body = json!({"code": code, "message": self.to_string()});
        if let ApiError::Invalid { path: Some(path), .. } = self {
            body["path"] = path.clone().into();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        (status, Json(json!({ "error": self.body() }))).into_response()
    }
}

impl From<crate::service::scep::ScepServiceError> for ApiError {
    fn from(e: crate::service::scep::ScepServiceError) -> Self {
        crate::service::admin::challenges::challenge_error(e).into()
    }
}
