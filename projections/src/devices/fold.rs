//! How each event changes the inventory.

use annal_schemas::events::checkin::{Authenticate, TokenUpdate};
use annal_schemas::events::DeviceRef;
use annal_schemas::Event;
use serde_json::{Map, Value};

use super::{Device, DeviceState, Inventory};
use crate::context::{Answer, Context, Input};
use crate::plist_json::answer_dictionary;

impl Inventory {
    pub(crate) fn apply(&mut self, cx: &Context<'_>, input: &Input<'_>) {
        let docs = &mut self.docs;
        match input {
            Input::Event(Event::Authenticate(e)) => docs.upsert(cx.key, || Device::new(cx.key), |d| authenticate(d, e)),
            // A user channel has no Authenticate: its first TokenUpdate opens it.
            Input::Event(Event::TokenUpdate(e)) => {
                docs.upsert(cx.key, || Device::new(cx.key), |d| token_update(d, e, cx))
            }
            Input::Event(Event::CheckOut(e)) => {
                if let Some(d) = docs.update(cx.key) {
                    d.state = DeviceState::CheckedOut;
                    d.topic = Some(e.topic.clone());
                }
            }
            Input::Event(Event::IdentityBound(e)) => {
                if let Some(d) = docs.update(cx.key) {
                    d.identity_fingerprint = Some(e.certificate.fingerprint_sha256.clone());
                }
            }
            Input::Event(Event::IdentityRotated(e)) => {
                if let Some(d) = docs.update(cx.key) {
                    d.identity_fingerprint = Some(e.certificate.fingerprint_sha256.clone());
                }
            }
            Input::Event(Event::PushFailed(e)) if e.token_dead => {
                if let Some(d) = docs.update(cx.key) {
                    d.token_dead = true;
                }
            }
            Input::Answered(Answer::Acknowledged, c) => acknowledged(self, cx, &c.request_type),
            _ => {}
        }
        if input.is_device_message() {
            if let Some(d) = self.docs.update(cx.key) {
                d.last_seen_at = Some(cx.at);
                d.last_seen_position = Some(cx.position);
            }
        }
    }
}

fn authenticate(d: &mut Device, e: &Authenticate) {
    identifiers(d, &e.device);
    d.state = DeviceState::Authenticated;
    d.generation = e.generation;
    d.topic = Some(e.topic.clone());
    d.identity_fingerprint = Some(e.identity.fingerprint_sha256.clone());
    // A new generation has not completed enrollment yet.
    d.enrolled_at = None;
    // What the device says at enrollment is current; what it leaves out stays as last known.
    let reported = [
        (&mut d.serial_number, &e.serial_number),
        (&mut d.imei, &e.imei),
        (&mut d.meid, &e.meid),
        (&mut d.os_version, &e.os_version),
        (&mut d.build_version, &e.build_version),
        (&mut d.product_name, &e.product_name),
        (&mut d.device_name, &e.device_name),
        (&mut d.model, &e.model),
        (&mut d.model_name, &e.model_name),
    ];
    for (field, value) in reported {
        if value.is_some() {
            field.clone_from(value);
        }
    }
}

fn token_update(d: &mut Device, e: &TokenUpdate, cx: &Context<'_>) {
    identifiers(d, &e.device);
    if d.state != DeviceState::Enrolled || d.enrolled_at.is_none() {
        d.enrolled_at = Some(cx.at);
    }
    d.state = DeviceState::Enrolled;
    d.topic = Some(e.topic.clone());
    d.identity_fingerprint = Some(e.identity.fingerprint_sha256.clone());
    d.token_dead = false;
}

fn identifiers(d: &mut Device, device: &DeviceRef) {
    if device.udid.is_some() {
        d.udid.clone_from(&device.udid);
    }
    if device.enrollment_id.is_some() {
        d.enrollment_id.clone_from(&device.enrollment_id);
    }
    if let Some(user) = device.user_id.as_ref().or(device.enrollment_user_id.as_ref()) {
        d.user_id = Some(user.clone());
    }
}

/// Only the answers to DeviceInformation and SecurityInfo are parsed: the raw plist is the
/// costliest thing a rebuild reads.
fn acknowledged(inventory: &mut Inventory, cx: &Context<'_>, request_type: &str) {
    let dictionary = match request_type {
        "DeviceInformation" => "QueryResponses",
        "SecurityInfo" => "SecurityInfo",
        _ => return,
    };
    if inventory.get(cx.key).is_none() {
        return;
    }
    let Some(answer) = cx.raw.and_then(|raw| answer_dictionary(raw, dictionary)) else {
        return;
    };
    let Some(d) = inventory.docs.update(cx.key) else {
        return;
    };
    if dictionary == "SecurityInfo" {
        d.security_info = Some(answer);
        d.security_info_at = Some(cx.at);
    } else {
        merge_query_responses(d, answer);
        d.query_responses_at = Some(cx.at);
    }
}

/// Merged key by key: a later DeviceInformation asking for fewer keys keeps the older ones.
fn merge_query_responses(d: &mut Device, answer: Map<String, Value>) {
    for (key, value) in answer {
        if let (Some(field), Some(text)) = (top_level_field(d, &key), value.as_str()) {
            *field = Some(text.to_owned());
        }
        d.query_responses.insert(key, value);
    }
}

/// The inventory field a DeviceInformation query also sets.
fn top_level_field<'a>(d: &'a mut Device, query: &str) -> Option<&'a mut Option<String>> {
    Some(match query {
        "DeviceName" => &mut d.device_name,
        "OSVersion" => &mut d.os_version,
        "BuildVersion" => &mut d.build_version,
        "SerialNumber" => &mut d.serial_number,
        "ModelName" => &mut d.model_name,
        "ProductName" => &mut d.product_name,
        "Model" => &mut d.model,
        "IMEI" => &mut d.imei,
        "MEID" => &mut d.meid,
        _ => return None,
    })
}
