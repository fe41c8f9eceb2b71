//! Encoding the device use case's reply as the HTTP answer the device expects.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::service::device::DeviceReply;

pub fn to_response(reply: DeviceReply) -> Response {
    match reply {
        DeviceReply::Empty => StatusCode::OK.into_response(),
        DeviceReply::Plist(body) => ([(header::CONTENT_TYPE, "application/xml")], body).into_response(),
        DeviceReply::Json(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        DeviceReply::Gone => StatusCode::GONE.into_response(),
        DeviceReply::Declined(reason) => (StatusCode::FORBIDDEN, reason).into_response(),
        DeviceReply::NotFound(reason) => (StatusCode::NOT_FOUND, reason).into_response(),
    }
}
