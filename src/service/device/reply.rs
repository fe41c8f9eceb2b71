//! The device's answer to a decision, made before its events are appended: a sealed command or
//! bootstrap token is opened here, so one this node cannot open is never recorded as delivered.

use crate::domain::enrollment::{DdmReply, Reply};
use crate::secrets::DataKey;

/// What the device is answered; the HTTP layer only encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceReply {
    /// 200 with a zero-length body: accepted, or (command channel) nothing more to do. The
    /// command channel ends a session so, not with an empty plist.
    Empty,
    /// 200 with a plist (a command, a bootstrap token).
    Plist(Vec<u8>),
    /// 200 with a JSON document (declarative management).
    Json(String),
    /// UserAuthenticate declined: 410 Gone (the device then stops asking).
    Gone,
    /// A protocol-correct refusal of a valid request (GetToken with no token service): 403
    /// with the reason.
    Declined(String),
    /// An unknown declaration: 404 with the reason.
    NotFound(&'static str),
}

pub fn device_reply(reply: &Reply, key: &DataKey) -> Result<DeviceReply, String> {
    let open = |e: crate::secrets::SecretsError| format!("opening a sealed value: {e}");
    Ok(match reply {
        Reply::Empty | Reply::Ddm(DdmReply::StatusAccepted) => DeviceReply::Empty,
        Reply::Command { payload, sealed, .. } => DeviceReply::Plist(if *sealed {
            key.open_raw(payload).map_err(open)?
        } else {
            payload.to_vec()
        }),
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
                .map_err(|e| format!("encoding a plist: {e}"))?;
            DeviceReply::Plist(body)
        }
        Reply::Gone => DeviceReply::Gone,
        Reply::Declined(reason) => DeviceReply::Declined(reason.clone()),
        Reply::Ddm(DdmReply::Json(body)) => DeviceReply::Json(body.clone()),
        Reply::Ddm(DdmReply::NotFound) => DeviceReply::NotFound("no such declaration"),
        // An admin's answer never comes out of a device request.
        Reply::Queued { .. } => return Err("an enqueue answer to a device request".into()),
    })
}
