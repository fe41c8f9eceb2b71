//! `PUT /v1/enqueue/{ids}`: queue one raw command plist for one or more enrollments
//! (comma-separated), as NanoMDM's API does, so its tools work unchanged. The plist may be a
//! full envelope (`CommandUUID` + `Command`) or a bare `Command` dictionary; a CommandUUID is
//! assigned if absent. Optional headers: `Idempotency-Key`, `X-Annal-Reason`; `?nopush=1`
//! queues without pushing (NanoMDM's parameter).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::auth::require;
use super::error::ApiError;
use super::extract::Query;
use super::queue::{check_request_type, enqueue_each, enrollment_ids, Enqueue};
use crate::domain::access::{Action, Caller};
use crate::http::AppState;
use crate::mdm::parse_command;

pub async fn enqueue(
    State(app): State<AppState>,
    caller: Caller,
    Path(ids): Path<String>,
    Query(q): Query<EnqueueQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match prepare(&caller, &ids, &headers, &body, q.nopush.as_deref()) {
        Ok((ids, req, command)) => {
            enqueue_each(&app, &caller, &ids, &req, |_| {
                let command = command.clone();
                async move { Ok(command) }
            })
            .await
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct EnqueueQuery {
    /// Any value but empty, `0` or `false` queues without pushing.
    pub nopush: Option<String>,
}

fn prepare(
    caller: &Caller,
    ids: &str,
    headers: &HeaderMap,
    body: &[u8],
    nopush: Option<&str>,
) -> Result<(Vec<String>, Enqueue, plist::Dictionary), ApiError> {
    let ids = enrollment_ids(&[ids])?;
    let (uuid, request_type, command) =
        parse_command(body).map_err(|e| ApiError::invalid(format!("invalid command: {e}")))?;
    require(
        caller,
        Action::Enqueue {
            request_type: &request_type,
        },
    )?;
    check_request_type(&request_type)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let req = Enqueue {
        command_uuid: uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase()),
        request_type,
        idempotency_key: header("Idempotency-Key"),
        reason: header("X-Annal-Reason"),
        expires_at: None,
        push: !nopush.is_some_and(|v| !matches!(v, "" | "0" | "false")),
    };
    Ok((ids, req, command))
}
