//! From NanoMDM's rows to the events a device and an admin would have caused on Annal: each
//! stored Authenticate, TokenUpdate and command answer is replayed through the device path's
//! own translation (`service::device::translate_*`: parsing, sealing) and the enrollment's own
//! `decide`, so the inventory, the queues and push see an imported device exactly as a native
//! one. Pure but for sealing: nothing here reads or writes a store.
//!
//! What marks the import: every event's actor is [`ACTOR`], and the identity the replayed
//! device messages name has the proof [`PROOF`] (instead of `mdm-signature` or `mtls`), so a
//! device's history and the audit trail both say where these events came from.

use std::collections::{HashMap, HashSet};

use annal_schemas::events::identity::CertificateInfo;
use annal_schemas::Event;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::rows::{CertAuthRow, DeviceRow, EnrollmentRow, QueueRow, ResultRow, Snapshot};
use super::NanoError;
use crate::domain::enrollment::{
    decide_with, AdminInput, BoundIdentity, DeviceInput, Enrollment, Identity, Input, Reenrollment, SetBootstrapToken,
};
use crate::secrets::DataKey;
use crate::service::device::{translate_checkin, translate_report, Translated};

/// The actor of every imported event (followed by who ran the import).
pub const ACTOR: &str = "import:nanomdm";
/// The proof recorded for the identity of every replayed device message.
pub const PROOF: &str = "nanomdm-import";
/// The note on a command NanoMDM had taken out of the queue without an answer.
const CLEARED: &str = "inactive in NanoMDM's queue when imported (cleared by a new Authenticate or by an admin)";

/// The events of one decision, appended together under one correlation id, as the runner does.
pub type Decision = Vec<(Event, Option<Bytes>)>;

/// One channel to import: its enrollment stream's events.
#[derive(Debug)]
pub struct Channel {
    /// Annal's enrollment key (`<UDID>`, `<EnrollmentID>`, `<device>:<user>`).
    pub key: String,
    /// NanoMDM's `enrollments.id` (or `devices.id` for a device that never sent TokenUpdate).
    pub source_id: String,
    /// The device channel this user channel belongs to (its Annal key).
    pub parent: Option<String>,
    pub certificate: CertificateInfo,
    /// The push topic its TokenUpdate names.
    pub topic: Option<String>,
    pub decisions: Vec<Decision>,
    pub commands: Counts,
}

/// What happened to the queued commands of a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Queued and waiting for the device (no answer, or NotNow).
    pub pending: u64,
    /// Queued and answered (Acknowledged, Error, CommandFormatError).
    pub answered: u64,
    /// Queued, then cancelled because NanoMDM had cleared them.
    pub cleared: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.pending += other.pending;
        self.answered += other.answered;
        self.cleared += other.cleared;
    }
}

/// A source row not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub table: &'static str,
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    /// Device channels first, then user channels (which need theirs).
    pub channels: Vec<Channel>,
    pub skipped: Vec<Skipped>,
}

/// Turns the snapshot into events, refusing the first row that cannot be imported.
pub fn plan(snapshot: &Snapshot, key: &DataKey, now: DateTime<Utc>) -> Result<Plan, NanoError> {
    let ctx = Context::new(snapshot, key, now);
    let mut plan = Plan::default();
    let mut devices: HashMap<&str, (String, CertificateInfo)> = HashMap::new();
    for device in &snapshot.devices {
        let enrollment = ctx.enrollments.get(device.id.as_str());
        if let Some(e) = enrollment.filter(|e| !e.enabled) {
            plan.skipped.push(Skipped {
                table: "enrollments",
                id: e.id.clone(),
                reason: "disabled in NanoMDM (the device checked out or enrolled again without a TokenUpdate)".into(),
            });
            continue;
        }
        let channel = ctx.device_channel(device, enrollment)?;
        devices.insert(device.id.as_str(), (channel.key.clone(), channel.certificate.clone()));
        plan.channels.push(channel);
    }
    for user in &snapshot.users {
        let Some(enrollment) = ctx.enrollments.get(user.id.as_str()).filter(|e| e.enabled) else {
            plan.skipped.push(Skipped {
                table: "users",
                id: user.id.clone(),
                reason: "no enabled enrollment for this user channel in NanoMDM".into(),
            });
            continue;
        };
        let Some((parent, certificate)) = devices.get(user.device_id.as_str()) else {
            plan.skipped.push(Skipped {
                table: "users",
                id: user.id.clone(),
                reason: format!("its device channel {} is not imported", user.device_id),
            });
            continue;
        };
        plan.channels
            .push(ctx.user_channel(user, enrollment, parent, certificate)?);
    }
    Ok(plan)
}

struct Context<'a> {
    key: &'a DataKey,
    now: DateTime<Utc>,
    enrollments: HashMap<&'a str, &'a EnrollmentRow>,
    /// The last certificate hash NanoMDM associated with each enrollment id.
    cert_auth: HashMap<&'a str, &'a CertAuthRow>,
    queue: HashMap<&'a str, Vec<&'a QueueRow>>,
    results: HashMap<(&'a str, &'a str), &'a ResultRow>,
    /// Each enrollment id's results, in the order they were read.
    results_of: HashMap<&'a str, Vec<&'a ResultRow>>,
    snapshot: &'a Snapshot,
}

impl<'a> Context<'a> {
    fn new(snapshot: &'a Snapshot, key: &'a DataKey, now: DateTime<Utc>) -> Self {
        let mut queue: HashMap<&str, Vec<&QueueRow>> = HashMap::new();
        for q in &snapshot.queue {
            queue.entry(q.id.as_str()).or_default().push(q);
        }
        let mut results_of: HashMap<&str, Vec<&ResultRow>> = HashMap::new();
        for r in &snapshot.results {
            results_of.entry(r.id.as_str()).or_default().push(r);
        }
        Self {
            key,
            now,
            enrollments: snapshot.enrollments.iter().map(|e| (e.id.as_str(), e)).collect(),
            // Rows come oldest first: the last one per id wins.
            cert_auth: snapshot.cert_auth.iter().map(|c| (c.id.as_str(), c)).collect(),
            queue,
            results: snapshot
                .results
                .iter()
                .map(|r| ((r.id.as_str(), r.command_uuid.as_str()), r))
                .collect(),
            results_of,
            snapshot,
        }
    }

    fn device_channel(&self, device: &DeviceRow, enrollment: Option<&&EnrollmentRow>) -> Result<Channel, NanoError> {
        let certificate = self.certificate(device)?;
        let identity = imported_identity(&certificate);
        let row = |detail: String| NanoError::row("devices", &device.id, detail);
        let mut state = Enrollment::default();
        let mut decisions = Vec::new();
        let auth = self
            .translate_checkin(&device.authenticate, &identity)
            .map_err(|e| row(format!("authenticate: {e}")))?;
        let key = auth.enrollment_key.clone();
        let device_ref = match &auth.input {
            Input::Device { input, device, .. } if matches!(**input, DeviceInput::Authenticate(_)) => device.clone(),
            _ => return Err(row("authenticate does not hold an Authenticate message".into())),
        };
        self.apply(&mut state, auth.input, &mut decisions)
            .map_err(|e| row(format!("authenticate: {e}")))?;
        let mut commands = Counts::default();
        if let Some(enrollment) = enrollment {
            let Some(token_update) = &device.token_update else {
                return Err(row("an enabled enrollment with no token_update".into()));
            };
            let mut update = self
                .translate_checkin(token_update, &identity)
                .map_err(|e| row(format!("token_update: {e}")))?;
            check_key(&update, &key).map_err(|e| row(format!("token_update: {e}")))?;
            self.keep_unlock_token(&mut update.input, device)
                .map_err(|e| row(format!("unlock_token: {e}")))?;
            self.apply(&mut state, update.input, &mut decisions)
                .map_err(|e| row(format!("token_update: {e}")))?;
            if let Some(b64) = &device.bootstrap_token_b64 {
                let input = self
                    .bootstrap_token(b64, &device_ref, &identity)
                    .map_err(|e| row(format!("bootstrap_token_b64: {e}")))?;
                self.apply(&mut state, input, &mut decisions)
                    .map_err(|e| row(format!("bootstrap_token_b64: {e}")))?;
            }
            commands = self.commands(&enrollment.id, &key, &identity, &mut state, &mut decisions)?;
        }
        Ok(Channel {
            key,
            source_id: enrollment.map_or_else(|| device.id.clone(), |e| e.id.clone()),
            parent: None,
            certificate,
            topic: state.topic.clone(),
            decisions,
            commands,
        })
    }

    fn user_channel(
        &self,
        user: &super::rows::UserRow,
        enrollment: &EnrollmentRow,
        parent: &str,
        certificate: &CertificateInfo,
    ) -> Result<Channel, NanoError> {
        let row = |detail: String| NanoError::row("users", &user.id, detail);
        let identity = imported_identity(certificate);
        let Some(token_update) = &user.token_update else {
            return Err(row("an enabled user channel with no token_update".into()));
        };
        let mut update = self
            .translate_checkin(token_update, &identity)
            .map_err(|e| row(format!("token_update: {e}")))?;
        let key = update.enrollment_key.clone();
        if key.split_once(':').map(|(device, _)| device) != Some(parent) {
            return Err(row(format!(
                "token_update names the enrollment {key}, not a user channel of {parent}"
            )));
        }
        // A user channel is bound through its device channel's identity, as on the device path.
        if let Input::Device { parent: p, .. } = &mut update.input {
            *p = Some(BoundIdentity::from(certificate));
        }
        let mut state = Enrollment::default();
        let mut decisions = Vec::new();
        self.apply(&mut state, update.input, &mut decisions)
            .map_err(|e| row(format!("token_update: {e}")))?;
        let commands = self.commands(&enrollment.id, &key, &identity, &mut state, &mut decisions)?;
        Ok(Channel {
            key,
            source_id: enrollment.id.clone(),
            parent: Some(parent.to_owned()),
            certificate: certificate.clone(),
            topic: state.topic.clone(),
            decisions,
            commands,
        })
    }

    /// The enrollment's queue in NanoMDM's order, each command queued again, then answered as
    /// the device answered it, or cancelled if NanoMDM had cleared it unanswered.
    fn commands(
        &self,
        id: &str,
        key: &str,
        identity: &Identity,
        state: &mut Enrollment,
        decisions: &mut Vec<Decision>,
    ) -> Result<Counts, NanoError> {
        let mut counts = Counts::default();
        let queued = self.queue.get(id).map(Vec::as_slice).unwrap_or_default();
        let mut seen: HashSet<&str> = HashSet::with_capacity(queued.len());
        let in_queue: HashSet<&str> = queued.iter().map(|q| q.command_uuid.as_str()).collect();
        // Results whose queue row is gone (NanoMDM deletes the row, not always the result).
        let orphans = self
            .results_of
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|r| !in_queue.contains(r.command_uuid.as_str()));
        let items = queued
            .iter()
            .map(|q| (q.command_uuid.as_str(), q.active, "enrollment_queue"))
            .chain(orphans.map(|r| (r.command_uuid.as_str(), false, "command_results")));
        for (uuid, active, table) in items {
            let row_id = format!("{id}/{uuid}");
            let row = |detail: String| NanoError::row(table, &row_id, detail);
            if !seen.insert(uuid) {
                continue;
            }
            let command = self
                .snapshot
                .commands
                .get(uuid)
                .ok_or_else(|| row("no row in the commands table for this CommandUUID".into()))?;
            crate::service::commands::check_command_uuid(uuid).map_err(|e| row(e.to_string()))?;
            let sealed = crate::service::commands::sealed(&command.request_type);
            let payload = if sealed {
                self.key
                    .seal_raw(command.command.as_bytes())
                    .map_err(|e| row(e.to_string()))?
            } else {
                command.command.as_bytes().to_vec()
            };
            let enqueue = Input::Admin(AdminInput::Enqueue {
                command_uuid: uuid.to_owned(),
                request_type: command.request_type.clone(),
                payload,
                sealed,
                idempotency_key: None,
                reason: None,
                expires_at: None,
            });
            self.apply(state, enqueue, decisions)
                .map_err(|e| row(format!("queueing: {e}")))?;
            let result = self.results.get(&(id, uuid));
            if let Some(result) = result {
                let rrow = |detail: String| NanoError::row("command_results", &row_id, detail);
                let report = translate_report(
                    &Bytes::copy_from_slice(result.result.as_bytes()),
                    identity.clone(),
                    self.key,
                )
                .map_err(|e| rrow(format!("result: {e}")))?;
                check_key(&report, key).map_err(|e| rrow(format!("result: {e}")))?;
                self.apply(state, report.input, decisions)
                    .map_err(|e| rrow(format!("result: {e}")))?;
            }
            let still_pending = state.pending(uuid).is_some();
            if still_pending && !active {
                let cancel = Input::Admin(AdminInput::Cancel {
                    command_uuid: uuid.to_owned(),
                    note: Some(CLEARED.to_owned()),
                });
                self.apply(state, cancel, decisions)
                    .map_err(|e| row(format!("cancelling: {e}")))?;
                counts.cleared += 1;
            } else if still_pending {
                counts.pending += 1;
            } else {
                counts.answered += 1;
            }
        }
        Ok(counts)
    }

    fn translate_checkin(&self, plist: &str, identity: &Identity) -> Result<Translated, String> {
        translate_checkin(&Bytes::copy_from_slice(plist.as_bytes()), identity.clone(), self.key)
            .map_err(|e| e.to_string())
    }

    /// Decides `input` on `state` as the enrollment runner would, and keeps the events.
    fn apply(&self, state: &mut Enrollment, input: Input, decisions: &mut Vec<Decision>) -> Result<(), String> {
        let outcome = decide_with(state, input, self.now, Reenrollment::Guarded).map_err(|e| e.to_string())?;
        let mut events = Vec::with_capacity(outcome.events.len());
        for (event, raw) in outcome.events {
            state.evolve(&event, raw.as_deref());
            // An input made here from a column, not from a device's message, has no raw body.
            events.push((event, raw.filter(|r| !r.is_empty())));
        }
        if !events.is_empty() {
            decisions.push(events);
        }
        Ok(())
    }

    /// NanoMDM keeps the UnlockToken apart because a later TokenUpdate may not carry it: the
    /// stored one is escrowed (sealed) with the TokenUpdate that is replayed.
    fn keep_unlock_token(&self, input: &mut Input, device: &DeviceRow) -> Result<(), String> {
        let (Input::Device { input, .. }, Some(stored)) = (input, &device.unlock_token) else {
            return Ok(());
        };
        if let DeviceInput::TokenUpdate(update) = input.as_mut() {
            if update.unlock_token.is_none() && !stored.is_empty() {
                update.unlock_token = Some(self.key.seal(stored).map_err(|e| e.to_string())?);
            }
        }
        Ok(())
    }

    /// The escrowed BootstrapToken (NanoMDM keeps it in base64, not the message it came in).
    fn bootstrap_token(
        &self,
        b64: &str,
        device: &annal_schemas::events::DeviceRef,
        identity: &Identity,
    ) -> Result<Input, String> {
        let token = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        let sealed = self.key.seal(&token).map_err(|e| e.to_string())?;
        Ok(Input::Device {
            input: Box::new(DeviceInput::SetBootstrapToken(SetBootstrapToken {
                bootstrap_token: Some(sealed),
                awaiting_configuration: None,
            })),
            device: device.clone(),
            identity: identity.clone(),
            raw: Bytes::new(),
            parent: None,
        })
    }

    /// The identity the enrollment is bound to: the last certificate NanoMDM associated with
    /// it (`cert_auth_associations`), described from `identity_cert` when that is the same
    /// certificate. A device that renewed its identity after its Authenticate is known by hash
    /// only, which is all the binding needs.
    fn certificate(&self, device: &DeviceRow) -> Result<CertificateInfo, NanoError> {
        let row = |detail: String| NanoError::row("devices", &device.id, detail);
        let pem = device
            .identity_cert
            .as_deref()
            .map(|pem| certificate_from_pem(pem).map_err(|e| row(format!("identity_cert: {e}"))))
            .transpose()?;
        let associated = self
            .cert_auth
            .get(device.id.as_str())
            .map(|c| c.sha256.to_ascii_lowercase());
        if let Some(hash) = &associated {
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(NanoError::row(
                    "cert_auth_associations",
                    &device.id,
                    format!("sha256 {hash:?} is not 64 hex digits"),
                ));
            }
        }
        match (pem, associated) {
            (Some(info), None) => Ok(info),
            (Some(info), Some(hash)) if info.fingerprint_sha256 == hash => Ok(info),
            (_, Some(hash)) => Ok(CertificateInfo {
                fingerprint_sha256: hash,
                serial_hex: String::new(),
                subject: String::new(),
                issuer: String::new(),
                not_before: DateTime::UNIX_EPOCH,
                not_after: DateTime::UNIX_EPOCH,
            }),
            (None, None) => Err(row(
                "no identity certificate: identity_cert is NULL and cert_auth_associations has no row for it".into(),
            )),
        }
    }
}

fn imported_identity(certificate: &CertificateInfo) -> Identity {
    Identity {
        certificate: certificate.clone(),
        proof: PROOF,
        issued_by_annal: false,
        vouched: Default::default(),
        url_params: Default::default(),
    }
}

/// A stored message must name the enrollment it is stored under.
fn check_key(translated: &Translated, key: &str) -> Result<(), String> {
    if translated.enrollment_key == key {
        return Ok(());
    }
    Err(format!(
        "the message names the enrollment {}, not {key}",
        translated.enrollment_key
    ))
}

/// The first `CERTIFICATE` block of `pem`, described as the log describes certificates.
fn certificate_from_pem(pem: &str) -> Result<CertificateInfo, String> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .map(str::trim)
        .collect();
    if body.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("not base64: {e}"))?;
    crate::pki::certificate_info(&der).map_err(|e| e.to_string())
}
