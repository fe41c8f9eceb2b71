//! `POST /v1/commands`: queue a command for one or many enrollments, written either as JSON in
//! Apple's key names (`{"RequestType": "DeviceLock", "Message": "…"}`) or as a command plist,
//! both checked against Apple's schema first. An invalid command is refused whole with the
//! exact key path; a valid one is queued per enrollment with a result for each.
//!
//! ClearPasscode needs the device's UnlockToken: when the request leaves it out, each
//! enrollment's escrowed token (from its TokenUpdate) is put in that enrollment's command.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use plist::{Dictionary, Value as Plist};
use serde::Deserialize;

use super::auth::require;
use super::error::ApiError;
use super::extract::Json;
use super::queue::{check_request_type, enqueue_each, enrollment_ids, Enqueue};
use crate::domain::access::{Action, Caller};
use crate::http::AppState;
use crate::mdm::commands::{from_json, validate, CommandError, Platform};
use crate::mdm::parse_command;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    pub enrollments: Vec<String>,
    /// The command as JSON, Apple's key names.
    pub command: Option<serde_json::Value>,
    /// Or the command as a plist (XML text): a bare Command dictionary or a full envelope.
    pub plist: Option<String>,
    pub command_uuid: Option<String>,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Wake the devices with an APNs push (default true; needs the push issue's APNs client).
    #[serde(default = "yes")]
    pub push: bool,
    /// Check platform support too (iOS, macOS, tvOS, visionOS, watchOS).
    pub platform: Option<String>,
}

fn yes() -> bool {
    true
}

fn schema_error(e: CommandError, prefix: &str) -> ApiError {
    let path = if prefix.is_empty() {
        e.path.clone()
    } else {
        format!("{prefix}.{}", e.path)
    };
    ApiError::Invalid {
        message: format!("invalid command: `{path}`: {}", e.reason),
        path: Some(path),
    }
}

/// The Command dictionary the request describes, checked against Apple's schema.
pub fn command_of(req: &SubmitRequest) -> Result<(Option<String>, String, Dictionary), ApiError> {
    let platform = req
        .platform
        .as_deref()
        .map(|p| {
            p.parse::<Platform>().map_err(|e| ApiError::Invalid {
                message: e.to_string(),
                path: Some("platform".into()),
            })
        })
        .transpose()?;
    let mut parsed = match (&req.command, &req.plist) {
        (Some(json), None) => {
            let mut json = json.clone();
            // The UnlockToken is filled in per device below: check the rest now.
            let fill_token = json.get("RequestType").and_then(|v| v.as_str()) == Some("ClearPasscode")
                && json.get("UnlockToken").is_none();
            if fill_token {
                if let Some(obj) = json.as_object_mut() {
                    obj.insert("UnlockToken".into(), "AA==".into());
                }
            }
            let mut command = from_json(&json, platform).map_err(|e| schema_error(e, "command"))?;
            if fill_token {
                command.remove("UnlockToken");
            }
            let request_type = rt(&command);
            (req.command_uuid.clone(), request_type, command)
        }
        (None, Some(text)) => {
            let (uuid, _, command) = parse_command(text.as_bytes()).map_err(|e| ApiError::Invalid {
                message: format!("invalid command plist: {e}"),
                path: Some("plist".into()),
            })?;
            let request_type = validate(&command, platform).map_err(|e| schema_error(e, "plist"))?;
            (req.command_uuid.clone().or(uuid), request_type, command)
        }
        _ => return Err(ApiError::invalid("give exactly one of `command` (JSON) or `plist`")),
    };
    if parsed.0.as_deref().is_some_and(str::is_empty) {
        parsed.0 = None;
    }
    Ok(parsed)
}

fn rt(command: &Dictionary) -> String {
    command
        .get("RequestType")
        .and_then(Plist::as_string)
        .unwrap_or_default()
        .to_string()
}

pub async fn submit(State(app): State<AppState>, caller: Caller, Json(req): Json<SubmitRequest>) -> Response {
    let prepared = (|| {
        let ids = enrollment_ids(&req.enrollments)?;
        let (uuid, request_type, command) = command_of(&req)?;
        require(
            &caller,
            Action::Enqueue {
                request_type: &request_type,
            },
        )?;
        check_request_type(&request_type)?;
        Ok::<_, ApiError>((ids, uuid, request_type, command))
    })();
    let (ids, uuid, request_type, command) = match prepared {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let needs_token = request_type == "ClearPasscode" && !command.contains_key("UnlockToken");
    let enqueue = Enqueue {
        command_uuid: uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase()),
        request_type,
        idempotency_key: req.idempotency_key.clone(),
        reason: req.reason.clone(),
        expires_at: req.expires_at,
        push: req.push,
    };
    let app_for_token = app.clone();
    enqueue_each(&app, &caller, &ids, &enqueue, |id| {
        let (app, mut command) = (app_for_token.clone(), command.clone());
        async move {
            if needs_token {
                command.insert(
                    "UnlockToken".into(),
                    Plist::Data(escrowed_unlock_token(&app, &id).await?),
                );
            }
            Ok(command)
        }
    })
    .await
}

async fn escrowed_unlock_token(app: &AppState, id: &str) -> Result<Vec<u8>, ApiError> {
    let (state, _) = app.enrollments.state(id).await.map_err(super::queue::service_error)?;
    let sealed = state
        .unlock_token
        .ok_or_else(|| ApiError::Conflict("no UnlockToken is escrowed for this enrollment".into()))?;
    app.data_key
        .open(&sealed)
        .map_err(|e| ApiError::Internal(format!("the escrowed UnlockToken cannot be opened: {e}")))
}
