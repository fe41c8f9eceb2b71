//! An enrolled fleet for scale runs: each device enrolls (Authenticate with its hardware and OS,
//! its identity, a TokenUpdate with token, PushMagic and UnlockToken), then answers a
//! DeviceInformation and a SecurityInfo query pushed to it, and is left with an empty queue.
//! That is what a managed device looks like once its inventory is in: the state whose memory
//! per device the scale benchmark measures. Device `n`'s events depend on `n` alone, so a log
//! of a million devices can be made and appended in chunks without holding it whole.

use annal_schemas::RecordedEvent;
use chrono::{TimeDelta, TimeZone, Utc};
use plist::{Dictionary, Value};

use super::answers::{device_information_answer, IpadFacts};
use super::device::{push_accepted, push_attempted, queued, sealed};
use super::{FakeDevice, LogBuilder};

/// The keys a DeviceInformation query asks for (the simulator's set, as a real iPad answers).
pub const DEVICE_INFORMATION_QUERIES: [&str; 13] = [
    "DeviceName",
    "OSVersion",
    "BuildVersion",
    "ModelName",
    "Model",
    "ProductName",
    "SerialNumber",
    "UDID",
    "DeviceCapacity",
    "AvailableDeviceCapacity",
    "BatteryLevel",
    "IsSupervised",
    "WiFiMAC",
];

/// The events of enrolled device `n`, on its own stream, in order. Event ids and push ids are
/// derived from `n`, so every device's are distinct.
pub fn enrolled_device(n: u64) -> Vec<RecordedEvent> {
    let start = Utc.with_ymd_and_hms(2025, 3, 3, 8, 0, 0).single().unwrap_or_default();
    let mut log = LogBuilder::new(start + TimeDelta::milliseconds(n as i64)).with_tick(TimeDelta::milliseconds(40));
    let d = FakeDevice::new(n);
    let key = d.key();
    let mut auth = d.authenticate(1);
    auth.device_name = Some(device_name(&d));
    log.record(&key, &d.fingerprint, &auth, None);
    let at = log.now();
    log.record(&key, &d.fingerprint, &d.identity_bound(1, at), None);
    let mut token = d.token_update();
    // A device channel's first TokenUpdate carries its UnlockToken (sealed in the log).
    token.unlock_token = Some(sealed());
    log.record(&key, &d.fingerprint, &token, None);
    let pushes = u128::from(n) << 8;
    let information = answer(&d, "DeviceInformation", "QueryResponses", device_information(&d));
    command(&mut log, &d, pushes + 1, information);
    let security = answer(&d, "SecurityInfo", "SecurityInfo", security_info());
    command(&mut log, &d, pushes + 2, security);
    let mut events = log.into_events();
    for (i, e) in events.iter_mut().enumerate() {
        // The builder numbers events from 1 in each log; a store keeps event ids unique.
        e.event_id = uuid::Uuid::from_u128((1 << 127) | (u128::from(n) << 16) | i as u128);
    }
    events
}

/// Every event of devices `0..devices`, device after device (small fleets, for tests).
pub fn enrolled_fleet(devices: u64) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    for n in 0..devices {
        for mut e in enrolled_device(n) {
            e.global_position = all.len() as u64 + 1;
            all.push(e);
        }
    }
    all
}

/// What `command` answers with: the answer dictionary under `field`, for `request_type`.
struct Answer {
    request_type: &'static str,
    raw: Vec<u8>,
}

fn answer(d: &FakeDevice, request_type: &'static str, field: &str, body: Dictionary) -> Answer {
    let uuid = command_uuid(d, request_type);
    let mut answer = Dictionary::new();
    answer.insert(field.into(), Value::Dictionary(body));
    Answer {
        request_type,
        raw: d.report_plist("Acknowledged", Some(&uuid), answer),
    }
}

fn command_uuid(d: &FakeDevice, request_type: &str) -> String {
    format!("{request_type}-{}", d.serial)
}

/// Queued with its plist, pushed, fetched on an Idle, delivered and acknowledged.
fn command(log: &mut LogBuilder, d: &FakeDevice, push: u128, answer: Answer) {
    let key = d.key();
    let uuid = command_uuid(d, answer.request_type);
    let plist = command_plist(&uuid, answer.request_type);
    log.record(&key, "api-key:ops", &queued(&uuid, answer.request_type, 1), Some(plist));
    log.record(&key, "system", &push_attempted(push), None);
    log.record(&key, "system", &push_accepted(push), None);
    let idle = d.report_plist("Idle", None, Dictionary::new());
    log.record(&key, &d.fingerprint, &d.idle(), Some(idle));
    log.record(&key, "system", &d.delivered(&uuid, answer.request_type, 1), None);
    let ack = d.acknowledged(&uuid, answer.request_type);
    log.record(&key, &d.fingerprint, &ack, Some(answer.raw));
}

fn command_plist(uuid: &str, request_type: &str) -> Vec<u8> {
    let mut command = Dictionary::new();
    command.insert("RequestType".into(), request_type.into());
    if request_type == "DeviceInformation" {
        let queries = DEVICE_INFORMATION_QUERIES.iter().map(|q| Value::from(*q)).collect();
        command.insert("Queries".into(), Value::Array(queries));
    }
    let mut dict = Dictionary::new();
    dict.insert("CommandUUID".into(), uuid.into());
    dict.insert("Command".into(), Value::Dictionary(command));
    let mut out = Vec::new();
    // Writing a plist of strings to memory cannot fail.
    let _ = Value::Dictionary(dict).to_writer_xml(&mut out);
    out
}

fn device_name(d: &FakeDevice) -> String {
    format!("iPad {}", d.serial)
}

fn device_information(d: &FakeDevice) -> Dictionary {
    let name = device_name(d);
    let facts = IpadFacts {
        device_name: &name,
        serial: &d.serial,
        udid: &d.udid,
        os_version: "17.4",
        build_version: "21E219",
    };
    DEVICE_INFORMATION_QUERIES
        .iter()
        .filter_map(|q| Some(((*q).to_owned(), device_information_answer(q, &facts)?)))
        .collect()
}

fn security_info() -> Dictionary {
    [
        ("HardwareEncryptionCaps", Value::Integer(3.into())),
        ("PasscodePresent", Value::Boolean(true)),
        ("PasscodeCompliant", Value::Boolean(true)),
        ("PasscodeCompliantWithProfiles", Value::Boolean(true)),
        ("PasscodeLockGracePeriodEnforced", Value::Integer(0.into())),
        ("FDE_Enabled", Value::Boolean(true)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
