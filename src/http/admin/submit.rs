//! `POST /v1/commands`: queue a command for one or many enrollments (or a group, or a filter,
//! resolved when it is queued), written either as JSON in Apple's key names
//! (`{"RequestType": "DeviceLock", "Message": "…"}`) or as a command plist, both checked
//! against Apple's schema first. An invalid command is refused whole with the
//! exact key path; a valid one is queued per enrollment with a result for each.
//!
//! ClearPasscode needs the device's UnlockToken: when the request leaves it out, each
//! enrollment's escrowed token (from its TokenUpdate) is put in that enrollment's command.

use annal_schemas::events::group::TargetFilter;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::enqueue::answer;
use super::error::ApiError;
use super::extract::Json;
use crate::http::AppState;
use crate::service::admin::Caller;
use crate::service::commands::{CheckedCommand, CommandSource, EnqueueRequest};
use crate::service::groups::Selection;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    #[serde(default)]
    pub enrollments: Vec<String>,
    /// A group's name instead of `enrollments`: resolved now, recorded with the command.
    pub group: Option<String>,
    /// Or a filter given here, as a group's would be.
    pub filter: Option<TargetFilter>,
    /// The command as JSON, Apple's key names.
    pub command: Option<serde_json::Value>,
    /// Or the command as a plist (XML text): a bare Command dictionary or a full envelope.
    pub plist: Option<String>,
    pub command_uuid: Option<String>,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    /// How many devices `enrollments` names: required for a destructive command to more than
    /// ten devices, refused when it disagrees with the list.
    pub confirm_count: Option<usize>,
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

impl TryFrom<SubmitRequest> for EnqueueRequest {
    type Error = ApiError;

    fn try_from(req: SubmitRequest) -> Result<Self, ApiError> {
        let selection = match (req.group, req.filter) {
            (Some(name), None) => Some(Selection::Group(name)),
            (None, Some(filter)) => Some(Selection::Filter(filter)),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(ApiError::invalid_at("give a group or a filter, not both", "group")),
        };
        Ok(EnqueueRequest {
            targets: req.enrollments,
            selection,
            command: CommandSource::Checked(CheckedCommand {
                json: req.command,
                plist: req.plist,
                command_uuid: req.command_uuid,
                platform: req.platform,
            }),
            idempotency_key: req.idempotency_key,
            reason: req.reason,
            confirm_count: req.confirm_count,
            expires_at: req.expires_at,
            no_push: !req.push,
        })
    }
}

pub async fn submit(State(app): State<AppState>, caller: Caller, Json(req): Json<SubmitRequest>) -> Response {
    let req = match EnqueueRequest::try_from(req) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    match app.commands().enqueue(&caller, req).await {
        Ok(result) => answer(result),
        Err(e) => ApiError::from(e).into_response(),
    }
}
