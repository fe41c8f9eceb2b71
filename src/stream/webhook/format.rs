//! From a recorded event to the JSON body MicroMDM and NanoMDM post to their webhook URL, so
//! receivers written for those servers work unchanged:
//!
//! ```json
//! {"topic": "mdm.TokenUpdate", "event_id": "<UUIDv7>", "created_at": "<RFC 3339>",
//!  "checkin_event": {"udid": "…", "enrollment_id": "…", "raw_payload": "<base64 plist>"}}
//! {"topic": "mdm.Connect", "event_id": "…", "created_at": "…",
//!  "acknowledge_event": {"udid": "…", "status": "Acknowledged", "command_uuid": "…",
//!                        "raw_payload": "…"}}
//! ```
//!
//! `event_id` is Annal's event id, stable across re-deliveries, so a receiver can drop
//! duplicates. `created_at` is when the log recorded the event. As NanoMDM 0.9 does, each
//! event carries `ids` (the channel's enrollment id, its type and a user channel's device), a
//! TokenUpdate its `token_update_tally`, Idle no `command_uuid`, and a message sent on a URL
//! with a query string its `url_params` (first value of each name, as the device sent them).
//! The raw payload never carries a secret (see `redact`).

use std::collections::BTreeMap;

use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{DecodeError, Event, RecordedEvent};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::SecondsFormat;
use serde::Serialize;

use crate::secrets::DataKey;
use crate::stream::redact::{clear_raw, open_raw, RedactError};

/// The command-channel topic: every `Status` report, Idle included.
pub const CONNECT_TOPIC: &str = "mdm.Connect";
/// Annal's own topic (no MicroMDM equivalent): a device's re-enrollment under another identity
/// was refused, evidence of an attempt to take the device over.
pub const ENROLLMENT_REFUSED_TOPIC: &str = "annal.EnrollmentRefused";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatOptions {
    /// Whether `Status: Idle` polls are sent (as `mdm.Connect` with status `Idle`, as NanoMDM
    /// does). They are the bulk of the traffic of an idle fleet.
    pub include_idle: bool,
    /// Whether `raw_payload` keeps the device's secrets (PushMagic, UnlockToken, …), for a
    /// receiver that needs them; off unless the admin opts in.
    pub include_secrets: bool,
}

impl Default for FormatOptions {
    fn default() -> Self {
        Self {
            include_idle: true,
            include_secrets: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The event's body does not decode (e.g. written by a newer Annal): its ids are unknown.
    #[error("event body: {0}")]
    Decode(#[from] DecodeError),
}

/// One webhook request body.
#[derive(Debug)]
pub struct Webhook {
    pub topic: &'static str,
    pub body: Vec<u8>,
    /// Why `raw_payload` was sent empty: the raw could not be opened or parsed, so it could not
    /// be checked for secrets.
    pub raw_withheld: Option<RedactError>,
}

/// Where an event type goes: a check-in topic, or `mdm.Connect` with a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Checkin(&'static str),
    Connect(&'static str),
}

/// The route of an event type; None for events that are not device messages.
pub fn route(event_type: &str) -> Option<Route> {
    let route = match event_type {
        "Authenticate" => Route::Checkin("mdm.Authenticate"),
        "TokenUpdate" => Route::Checkin("mdm.TokenUpdate"),
        "CheckOut" => Route::Checkin("mdm.CheckOut"),
        "UserAuthenticate" => Route::Checkin("mdm.UserAuthenticate"),
        "SetBootstrapToken" => Route::Checkin("mdm.SetBootstrapToken"),
        "GetBootstrapToken" => Route::Checkin("mdm.GetBootstrapToken"),
        "GetToken" => Route::Checkin("mdm.GetToken"),
        // A status report is a DeclarativeManagement check-in to the device (and to NanoMDM).
        "DeclarativeManagement" | "DeclarationStatusReported" => Route::Checkin("mdm.DeclarativeManagement"),
        "Idle" => Route::Connect("Idle"),
        "CommandAcknowledged" => Route::Connect("Acknowledged"),
        "CommandErrored" => Route::Connect("Error"),
        "CommandFormatError" => Route::Connect("CommandFormatError"),
        "CommandNotNow" => Route::Connect("NotNow"),
        _ => return None,
    };
    Some(route)
}

#[derive(Serialize)]
struct Body<'a> {
    topic: &'static str,
    event_id: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkin_event: Option<CheckinEvent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledge_event: Option<AcknowledgeEvent<'a>>,
}

#[derive(Serialize)]
struct CheckinEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    udid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrollment_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<Ids>,
    raw_payload: String,
    /// TokenUpdate only.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_update_tally: Option<u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    url_params: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct AcknowledgeEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    udid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrollment_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<Ids>,
    status: &'static str,
    /// Left out on Idle, as NanoMDM does.
    #[serde(skip_serializing_if = "Option::is_none")]
    command_uuid: Option<&'a str>,
    raw_payload: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    url_params: &'a BTreeMap<String, String>,
}

/// NanoMDM's resolved enrollment: which channel sent the message. `id` is the channel's
/// enrollment id (a user channel's is `<device id>:<user id>`), `parent_id` a user channel's
/// device channel, `type` NanoMDM's name for the kind of enrollment.
#[derive(Debug, PartialEq, Serialize)]
pub struct Ids {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The UserID a Shared iPad user connects with; its user is named by UserShortName instead.
const SHARED_IPAD_USER_ID: &str = "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF";

/// The ids of the channel `device` names, as NanoMDM resolves them; `user_short_name` names a
/// Shared iPad user. None when the message names no device (only a damaged log has one).
pub fn enrollment_ids(device: &DeviceRef, user_short_name: Option<&str>) -> Option<Ids> {
    let (device_id, user, device_kind) = match (&device.udid, &device.enrollment_id) {
        (Some(udid), _) => {
            let user = match device.user_id.as_deref() {
                Some(SHARED_IPAD_USER_ID) => user_short_name
                    .or(Some(SHARED_IPAD_USER_ID))
                    .map(|u| (u, "Shared iPad")),
                Some(user) => Some((user, "User")),
                None => None,
            };
            (udid, user, "Device")
        }
        (None, Some(enrollment_id)) => {
            let user = device.enrollment_user_id.as_deref().map(|u| (u, "User Enrollment"));
            (enrollment_id, user, "User Enrollment (Device)")
        }
        (None, None) => return None,
    };
    Some(match user {
        Some((user, kind)) => Ids {
            id: format!("{device_id}:{user}"),
            parent_id: Some(device_id.clone()),
            kind,
        },
        None => Ids {
            id: device_id.clone(),
            parent_id: None,
            kind: device_kind,
        },
    })
}

/// The webhook for `event`, or None when the event is not one receivers get (or is an Idle
/// poll and Idle is off).
pub fn format(event: &RecordedEvent, key: &DataKey, options: FormatOptions) -> Result<Option<Webhook>, FormatError> {
    if event.event_type == "EnrollmentRefused" {
        return enrollment_refused(event);
    }
    let Some(route) = route(&event.event_type) else {
        return Ok(None);
    };
    if route == Route::Connect("Idle") && !options.include_idle {
        return Ok(None);
    }
    let decoded = event.decode()?;
    let Some((device, command_uuid, identity)) = ids(&decoded) else {
        return Ok(None);
    };
    let opened = |raw: &[u8]| {
        if options.include_secrets {
            open_raw(raw, key)
        } else {
            clear_raw(raw, key)
        }
    };
    let (raw_payload, raw_withheld) = match event.raw.as_deref().map(opened) {
        None => (String::new(), None),
        Some(Ok(plain)) => (B64.encode(plain), None),
        Some(Err(e)) => (String::new(), Some(e)),
    };
    let (udid, enrollment_id) = (device.udid.as_deref(), device.enrollment_id.as_deref());
    let (tally, short_name) = match &decoded {
        Event::TokenUpdate(e) => (e.token_update_tally, e.user_short_name.as_deref()),
        _ => (None, None),
    };
    let ids = enrollment_ids(device, short_name);
    let (topic, checkin_event, acknowledge_event) = match route {
        Route::Checkin(topic) => {
            let checkin = CheckinEvent {
                udid,
                enrollment_id,
                ids,
                raw_payload,
                token_update_tally: tally,
                url_params: &identity.url_params,
            };
            (topic, Some(checkin), None)
        }
        Route::Connect(status) => {
            let ack = AcknowledgeEvent {
                udid,
                enrollment_id,
                ids,
                status,
                command_uuid,
                raw_payload,
                url_params: &identity.url_params,
            };
            (CONNECT_TOPIC, None, Some(ack))
        }
    };
    let body = Body {
        topic,
        event_id: event.event_id.to_string(),
        created_at: event.recorded_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        checkin_event,
        acknowledge_event,
    };
    Ok(Some(Webhook {
        topic,
        // A struct of strings always serialises.
        body: serde_json::to_vec(&body).unwrap_or_default(),
        raw_withheld,
    }))
}

#[derive(Serialize)]
struct RefusedBody<'a> {
    topic: &'static str,
    event_id: String,
    created_at: String,
    enrollment_refused_event: &'a annal_schemas::events::identity::EnrollmentRefused,
}

/// `annal.EnrollmentRefused`: who tried to enroll as which device, with which certificate.
fn enrollment_refused(event: &RecordedEvent) -> Result<Option<Webhook>, FormatError> {
    let Event::EnrollmentRefused(refused) = event.decode()? else {
        return Ok(None);
    };
    let body = RefusedBody {
        topic: ENROLLMENT_REFUSED_TOPIC,
        event_id: event.event_id.to_string(),
        created_at: event.recorded_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        enrollment_refused_event: &refused,
    };
    Ok(Some(Webhook {
        topic: ENROLLMENT_REFUSED_TOPIC,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        raw_withheld: None,
    }))
}

/// The enrollment ids, (for command results) the CommandUUID, and the identity a device
/// message carried.
fn ids(event: &Event) -> Option<(&DeviceRef, Option<&str>, &IdentityRef)> {
    let ids = match event {
        Event::Authenticate(e) => (&e.device, None, &e.identity),
        Event::TokenUpdate(e) => (&e.device, None, &e.identity),
        Event::CheckOut(e) => (&e.device, None, &e.identity),
        Event::UserAuthenticate(e) => (&e.device, None, &e.identity),
        Event::SetBootstrapToken(e) => (&e.device, None, &e.identity),
        Event::GetBootstrapToken(e) => (&e.device, None, &e.identity),
        Event::GetToken(e) => (&e.device, None, &e.identity),
        Event::DeclarativeManagement(e) => (&e.device, None, &e.identity),
        Event::DeclarationStatusReported(e) => (&e.device, None, &e.identity),
        Event::Idle(e) => (&e.device, None, &e.identity),
        Event::CommandAcknowledged(e) => (&e.device, Some(e.command_uuid.as_str()), &e.identity),
        Event::CommandErrored(e) => (&e.device, Some(e.command_uuid.as_str()), &e.identity),
        Event::CommandFormatError(e) => (&e.device, Some(e.command_uuid.as_str()), &e.identity),
        Event::CommandNotNow(e) => (&e.device, Some(e.command_uuid.as_str()), &e.identity),
        _ => return None,
    };
    Some(ids)
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
