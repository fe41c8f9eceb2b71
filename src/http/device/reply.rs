//! Encoding a decision's reply as the HTTP answer the device expects.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::DeviceError;
use crate::domain::enrollment::{DdmReply, Reply};
use crate::secrets::DataKey;

/// Annal declares nothing yet: one fixed token for the empty declaration set.
const EMPTY_DECLARATIONS_TOKEN: &str = "annal-empty-declarations-1";

pub fn to_response(reply: &Reply, key: &DataKey) -> Result<Response, DeviceError> {
    let open = |e: crate::secrets::SecretsError| DeviceError::Internal(format!("opening a sealed value: {e}"));
    Ok(match reply {
        // The command channel ends a session with a zero-length body, not an empty plist.
        Reply::Empty | Reply::Ddm(DdmReply::StatusAccepted) => StatusCode::OK.into_response(),
        Reply::Command { payload, sealed, .. } => {
            let body = if *sealed {
                key.open_raw(payload).map_err(open)?
            } else {
                payload.to_vec()
            };
            ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
        }
        Reply::BootstrapToken(token) => {
            let mut dict = plist::Dictionary::new();
            if let Some(sealed) = token {
                dict.insert(
                    "BootstrapToken".into(),
                    plist::Value::Data(key.open(sealed).map_err(open)?),
                );
            }
            let mut body = Vec::new();
            plist::Value::Dictionary(dict)
                .to_writer_xml(&mut body)
                .map_err(|e| DeviceError::Internal(format!("encoding a plist: {e}")))?;
            ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
        }
        Reply::Gone => StatusCode::GONE.into_response(),
        Reply::Declined(reason) => (StatusCode::FORBIDDEN, reason.clone()).into_response(),
        Reply::Ddm(DdmReply::Tokens) => json(serde_json::json!({
            "SyncTokens": { "DeclarationsToken": EMPTY_DECLARATIONS_TOKEN, "Timestamp": "1970-01-01T00:00:00Z" }
        })),
        Reply::Ddm(DdmReply::DeclarationItems) => json(serde_json::json!({
            "Declarations": { "Activations": [], "Assets": [], "Configurations": [], "Management": [] },
            "DeclarationsToken": EMPTY_DECLARATIONS_TOKEN
        })),
        Reply::Ddm(DdmReply::NotFound) => (StatusCode::NOT_FOUND, "no such declaration").into_response(),
        Reply::Queued {
            command_uuid,
            duplicate,
        } => json(serde_json::json!({ "command_uuid": command_uuid, "duplicate": duplicate })),
    })
}

fn json(value: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}
