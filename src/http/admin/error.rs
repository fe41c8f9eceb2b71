//! Admin API errors as JSON: `{"error": {"code": "...", "message": "...", "path": "..."}}`,
//! each with the precise status a script can branch on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::service::admin::{AdminError, Denied};

/// An admin request's failure: the caller could not be authenticated, or the use case refused
/// it (`AdminError`, which already says which kind it is; this layer only adds the status).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("an API key is required: Authorization: Bearer <key>")]
    Unauthenticated,
    #[error("the API key is not valid")]
    BadKey,
    /// A NanoMDM route refused a missing or wrong key: NanoMDM's 401 with its Basic challenge,
    /// which its clients (and curl `-u`) expect.
    #[error("an API key is required: HTTP Basic with the key as password")]
    NanoMdmUnauthorized,
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        AdminError::invalid(message).into()
    }

    pub fn invalid_at(message: impl Into<String>, path: &str) -> Self {
        AdminError::invalid_at(message, path).into()
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AdminError::NotFound(message.into()).into()
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        AdminError::Unavailable(message.into()).into()
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AdminError::Internal(message.into()).into()
    }

    pub fn forbidden(denied: Denied) -> Self {
        AdminError::Forbidden(denied).into()
    }

    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::BadKey => (StatusCode::FORBIDDEN, "bad_key"),
            ApiError::NanoMdmUnauthorized => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Admin(e) => match e {
                AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                AdminError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid"),
                AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
                AdminError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                AdminError::PushUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "push_unavailable"),
                AdminError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        AdminError::from(e).into()
    }
}

impl From<crate::readmodel::QueryError> for ApiError {
    fn from(e: crate::readmodel::QueryError) -> Self {
        match e {
            crate::readmodel::QueryError::Store(e) => e.into(),
            crate::readmodel::QueryError::ReadModel(e) => e.into(),
        }
    }
}

impl From<crate::readmodel::projector::ProjectorError> for ApiError {
    fn from(e: crate::readmodel::projector::ProjectorError) -> Self {
        use crate::readmodel::projector::ProjectorError;
        use crate::readmodel::ReadModelError;
        match e {
            ProjectorError::ReadModel(ReadModelError::Unavailable(m)) => ApiError::unavailable(m),
            ProjectorError::ReadModel(ReadModelError::Database(m)) => ApiError::unavailable(m),
            ProjectorError::Store(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl ApiError {
    /// The error object (without the `error` wrapper), also used per enrollment in fan-outs.
    pub fn body(&self) -> serde_json::Value {
        let (_, code) = self.status_and_code();
        let mut body = json!({"code": code, "message": self.to_string()});
        if let ApiError::Admin(AdminError::Invalid { path: Some(path), .. }) = self {
            body["path"] = path.clone().into();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let challenge = match self {
            ApiError::NanoMdmUnauthorized => Some(r#"Basic realm="nanomdm""#),
            // RFC 9110: a 401 names how to authenticate.
            ApiError::Unauthenticated => Some(r#"Bearer realm="annal""#),
            _ => None,
        };
        let mut response = (status, Json(json!({ "error": self.body() }))).into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<crate::service::scep::ScepServiceError> for ApiError {
    fn from(e: crate::service::scep::ScepServiceError) -> Self {
        crate::service::admin::challenges::challenge_error(e).into()
    }
}

/// An error in NanoMDM's shape, `{"error": "<message>"}` (its `ErrorResponse`), for the NanoMDM
/// routes whose clients read that shape (`/v1/pushcert`, `/v1/escrowkeyunlock`); the status is
/// Annal's, and a refused key keeps its challenge.
pub struct NanoMdmError(pub ApiError);

impl From<ApiError> for NanoMdmError {
    fn from(e: ApiError) -> Self {
        NanoMdmError(e)
    }
}

impl From<AdminError> for NanoMdmError {
    fn from(e: AdminError) -> Self {
        NanoMdmError(e.into())
    }
}

impl IntoResponse for NanoMdmError {
    fn into_response(self) -> Response {
        let message = self.0.to_string();
        let annal = self.0.into_response();
        let mut nano = (annal.status(), Json(json!({ "error": message }))).into_response();
        if let Some(challenge) = annal.headers().get(axum::http::header::WWW_AUTHENTICATE) {
            nano.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, challenge.clone());
        }
        nano
    }
}
