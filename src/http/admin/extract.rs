//! `Query` and `Json` extractors whose refusals are the API's JSON errors (400 with the
//! reason) rather than axum's plain-text answers: a script gets one error shape everywhere.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(query_error(e)),
        }
    }
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::invalid_at(format!("invalid query: {}", e.body_text()), "query")
}

pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(e) => Err(json_error(e)),
        }
    }
}

fn json_error(e: JsonRejection) -> ApiError {
    ApiError::invalid_at(format!("invalid JSON body: {}", e.body_text()), "body")
}

/// Why the caller acts, from `X-Annal-Reason` (as for an enqueue or a cancel): UTF-8, not
/// only ASCII, since a reason is written in the admin's language.
pub fn reason_header(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("X-Annal-Reason").map(|v| std::str::from_utf8(v.as_bytes())) {
        None => Ok(None),
        Some(Ok(reason)) => Ok(Some(reason.to_string())),
        Some(Err(_)) => Err(ApiError::invalid_at("X-Annal-Reason is not UTF-8 text", "reason")),
    }
}
