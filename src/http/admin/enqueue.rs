//! `PUT /v1/enqueue/{ids}`: queue one raw command plist for one or more enrollments
//! (comma-separated), as NanoMDM's API does, so its tools work unchanged. The plist may be a
//! full envelope (`CommandUUID` + `Command`) or a bare `Command` dictionary; a CommandUUID is
//! assigned if absent. Optional headers: `Idempotency-Key`, `X-Annal-Reason`; `?nopush=1`
//! queues without pushing (NanoMDM's parameter).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::Query;
use super::queue::answer;
use crate::http::AppState;
use crate::service::admin::Caller;
use crate::service::commands::{CommandSource, Commands, EnqueueRequest};

pub async fn enqueue(
    State(app): State<AppState>,
    caller: Caller,
    Path(ids): Path<String>,
    Query(q): Query<EnqueueQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let req = EnqueueRequest {
        targets: vec![ids],
        command: CommandSource::Raw(body),
        idempotency_key: header("Idempotency-Key"),
        reason: header("X-Annal-Reason"),
        expires_at: None,
        no_push: q.nopush.as_deref().is_some_and(|v| !matches!(v, "" | "0" | "false")),
    };
    match Commands::new(&app.enrollments, &app.data_key, &app.push)
        .enqueue(&caller, req)
        .await
    {
        Ok(result) => answer(result),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct EnqueueQuery {
    /// Any value but empty, `0` or `false` queues without pushing.
    pub nopush: Option<String>,
}
