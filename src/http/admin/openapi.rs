//! `GET /v1/openapi.json`: the admin API's OpenAPI 3.1 document. It is written by hand in
//! `schemas/openapi.json` and checked by `tests/openapi.rs` (valid references, an operationId
//! and responses on every operation, every served route documented). Served without a key:
//! it describes the API and holds no data.

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../../../schemas/openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn serves_the_document_as_json() {
        let response = openapi().await.into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(doc["paths"]["/v1/openapi.json"]["get"].is_object());
    }
}
