//! How each event changes the inventory.

use annal_schemas::events::checkin::{Authenticate, TokenUpdate};
use annal_schemas::events::command::CancelReason;
use annal_schemas::events::DeviceRef;
use annal_schemas::Event;
use serde_json::{Map, Value};

use super::compact::{own, DeviceDoc};
use super::{DeviceState, Inventory};

use annal_schemas::ddm::synced_token;

fn forget_sync(docs: &mut crate::docs::DocStore<DeviceDoc>, key: &str, command_uuid: &str) {
    let Some(token) = synced_token(command_uuid) else {
        return;
    };
    if docs.get(key).is_some_and(|d| d.ddm_given.as_deref() == Some(token)) {
        if let Some(d) = docs.update(key) {
            d.ddm_given.set(None);
        }
    }
}
use crate::context::{Answer, AnswerKind, CommandRef, Context, Input};

impl Inventory {
    pub(crate) fn apply(&mut self, cx: &Context<'_>, input: &Input<'_>) {
        let docs = &mut self.docs;
        match input {
            Input::Event(Event::Authenticate(e)) => {
                docs.upsert(cx.key, || DeviceDoc::new(cx.key), |d| authenticate(d, e, cx.key))
            }
            // A user channel has no Authenticate: its first TokenUpdate opens it.
            Input::Event(Event::TokenUpdate(e)) => {
                docs.upsert(cx.key, || DeviceDoc::new(cx.key), |d| token_update(d, e, cx))
            }
            Input::Event(Event::CheckOut(e)) => {
                if let Some(d) = docs.update(cx.key) {
                    d.state = DeviceState::CheckedOut;
                    d.topic.set(Some(&e.topic));
                    d.ddm_given.set(None);
                }
            }
            // An admin ended the enrollment (`annal devices forget`): as a checkout, for the
            // inventory.
            Input::Event(Event::DeviceForgotten(_)) => {
                if let Some(d) = docs.update(cx.key) {
                    d.state = DeviceState::CheckedOut;
                    d.ddm_given.set(None);
                }
            }
            // A sync cancelled (but for a newer one) or expired was not given (as the
            // enrollment's own state has it).
            Input::Event(Event::CommandCancelled(e)) if e.reason != CancelReason::Superseded => {
                forget_sync(docs, cx.key, &e.command_uuid)
            }
            Input::Event(Event::CommandExpired(e)) => forget_sync(docs, cx.key, &e.command_uuid),
            Input::Event(Event::IdentityBound(e)) => {
                if let Some(d) = docs.update(cx.key) {
                    d.set_certificate(&e.certificate);
                }
            }
            Input::Event(Event::IdentityRotated(e)) => {
                if let Some(d) = docs.update(cx.key) {
                    d.set_certificate(&e.certificate);
                }
            }
            Input::Event(Event::PushFailed(e)) if e.token_dead => {
                if let Some(d) = docs.update(cx.key) {
                    d.token_dead = true;
                }
            }
            Input::Event(Event::CommandQueued(e)) if e.request_type == "DeclarativeManagement" => {
                if let (Some(token), Some(d)) = (synced_token(&e.command_uuid), docs.update(cx.key)) {
                    d.ddm_given.set(Some(token));
                }
            }
            Input::Event(Event::DeclarationStatusReported(e)) => {
                if let Some(d) = docs.update(cx.key) {
                    // A full report replaces what was known: the old one need not be read.
                    let mut status = if e.full_report {
                        Default::default()
                    } else {
                        d.ddm_status().unwrap_or_default()
                    };
                    status.apply(e.full_report, &e.report);
                    d.set_ddm_status(Some(&status));
                    d.ddm_status_at = Some(cx.at);
                }
            }
            Input::Answered(Answer::Acknowledged, c) => acknowledged(self, cx, c),
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

fn authenticate(d: &mut DeviceDoc, e: &Authenticate, key: &str) {
    d.ids.authenticated(key, e);
    identifiers(d, &e.device);
    d.state = DeviceState::Authenticated;
    d.generation = e.generation;
    d.topic.set(Some(&e.topic));
    d.topic_mismatch = false;
    d.set_fingerprint(&e.identity.fingerprint_sha256);
    // A new generation has not completed enrollment yet, nor been given a declaration set, nor
    // reported on one.
    d.enrolled_at = None;
    d.ddm_given.set(None);
    d.set_ddm_status(None);
    d.ddm_status_at = None;
    // What the device says at enrollment is current; what it leaves out stays as last known.
    if e.device_name.is_some() {
        d.device_name = own(e.device_name.as_deref());
    }
    let shared = [
        (&mut d.os_version, &e.os_version),
        (&mut d.build_version, &e.build_version),
        (&mut d.product_name, &e.product_name),
        (&mut d.model, &e.model),
        (&mut d.model_name, &e.model_name),
    ];
    for (field, value) in shared {
        if value.is_some() {
            field.set(value.as_deref());
        }
    }
    d.change_rare(|_, _, imei, meid| {
        for (field, value) in [(imei, &e.imei), (meid, &e.meid)] {
            if value.is_some() {
                *field = own(value.as_deref());
            }
        }
    });
}

fn token_update(d: &mut DeviceDoc, e: &TokenUpdate, cx: &Context<'_>) {
    d.ids.token_updated(cx.key, e);
    identifiers(d, &e.device);
    if d.state != DeviceState::Enrolled || d.enrolled_at.is_none() {
        d.enrolled_at = Some(cx.at);
    }
    d.state = DeviceState::Enrolled;
    // A user channel has no Authenticate: its first TokenUpdate sets the topic.
    d.topic_mismatch = d.topic.as_deref().is_some_and(|enrolled| enrolled != e.topic);
    if !d.topic_mismatch {
        d.topic.set(Some(&e.topic));
    }
    d.set_fingerprint(&e.identity.fingerprint_sha256);
    d.token_dead = false;
}

/// The identifiers of a User Enrollment or a user channel (the UDID: `DeviceIds`).
fn identifiers(d: &mut DeviceDoc, device: &DeviceRef) {
    let user = device.user_id.as_ref().or(device.enrollment_user_id.as_ref());
    if device.enrollment_id.is_some() || user.is_some() {
        d.change_rare(|enrollment_id, user_id, _, _| {
            if device.enrollment_id.is_some() {
                *enrollment_id = own(device.enrollment_id.as_deref());
            }
            if let Some(user) = user {
                *user_id = own(Some(user));
            }
        });
    }
}

/// Only the answers to DeviceInformation and SecurityInfo are read ([`CommandRef::answer`]).
fn acknowledged(inventory: &mut Inventory, cx: &Context<'_>, c: &CommandRef<'_>) {
    let kind = match AnswerKind::of(&c.request_type) {
        Some(kind) => kind,
        None => return,
    };
    if !inventory.contains(cx.key) {
        return;
    }
    let Some(answer) = c.answer(cx.raw) else {
        return;
    };
    let Some(d) = inventory.docs.update(cx.key) else {
        return;
    };
    match kind {
        AnswerKind::SecurityInfo => {
            d.set_security_info(Some(answer));
            d.security_info_at = Some(cx.at);
        }
        AnswerKind::DeviceInformation => {
            merge_query_responses(d, answer);
            d.query_responses_at = Some(cx.at);
        }
    }
}

/// Merged key by key: a later DeviceInformation asking for fewer keys keeps the older ones.
fn merge_query_responses(d: &mut DeviceDoc, answer: &Map<String, Value>) {
    d.ids.answered(answer);
    let mut merged = d.query_responses();
    for (key, value) in answer {
        if let Some(text) = value.as_str() {
            set_top_level_field(d, key, text);
        }
        merged.insert(key.clone(), value.clone());
    }
    d.set_query_responses(&merged);
}

/// The inventory field a DeviceInformation query also sets (the serial number: `DeviceIds`).
fn set_top_level_field(d: &mut DeviceDoc, query: &str, text: &str) {
    match query {
        "DeviceName" => d.device_name = own(Some(text)),
        "OSVersion" => d.os_version.set(Some(text)),
        "BuildVersion" => d.build_version.set(Some(text)),
        "ModelName" => d.model_name.set(Some(text)),
        "ProductName" => d.product_name.set(Some(text)),
        "Model" => d.model.set(Some(text)),
        "IMEI" => d.change_rare(|_, _, imei, _| *imei = own(Some(text))),
        "MEID" => d.change_rare(|_, _, _, meid| *meid = own(Some(text))),
        _ => {}
    }
}
