//! Device inventory: enrollment state, identifiers and the latest query results.

use plist::Value;
use serde_json::json;

use super::support::{at, dict, query_responses, Log};
use crate::devices::{Channel, DeviceState};
use crate::synthetic::FakeDevice;
use crate::{AsOf, Projections};

#[test]
fn inventory_from_authenticate_token_update_and_two_merged_answers() {
    let d = FakeDevice::new(1);
    let mut log = Log::new();
    let authenticated = log.device(&d, d.authenticate(1), None); // t0+0
    log.system(&d, d.identity_bound(1, at(0)));
    log.device(&d, d.token_update(), None); // t0+2
    log.queue(&d, "DI1", "DeviceInformation");
    let first = query_responses(&[
        ("DeviceName", Value::from("Kiosk 1")),
        ("OSVersion", Value::from("17.5")),
        ("BatteryLevel", Value::Real(0.5)),
        ("WiFiMAC", Value::from("f0:18:98:12:34:56")),
    ]);
    log.ack(&d, "DI1", "DeviceInformation", first);
    log.queue(&d, "DI2", "DeviceInformation");
    let second = query_responses(&[
        ("DeviceName", Value::from("Kiosk 2")),
        ("BatteryLevel", Value::Real(0.25)),
    ]);
    let last = log.ack(&d, "DI2", "DeviceInformation", second); // t0+6
                                                                // Only DeviceInformation answers are read as query results.
    log.queue(&d, "PL", "ProfileList");
    log.ack(
        &d,
        "PL",
        "ProfileList",
        query_responses(&[("DeviceName", Value::from("not a query"))]),
    );
    // A delivery is the server's doing, not a message from the device.
    log.system(&d, d.delivered("X", "ProfileList", 1));

    let then = Projections::fold_as_of(log.events(), AsOf::Position(authenticated));
    let device = then.devices().get(&d.udid).unwrap();
    assert_eq!((device.state, device.enrolled_at), (DeviceState::Authenticated, None));

    let p = log.fold();
    let device = p.devices().get(&d.udid).unwrap();
    assert_eq!(device.enrollment, d.udid);
    assert_eq!(
        (device.udid.as_deref(), device.channel),
        (Some(d.udid.as_str()), Channel::Device)
    );
    assert_eq!((device.state, device.generation), (DeviceState::Enrolled, 1));
    assert_eq!(device.enrolled_at, Some(at(2)));
    assert_eq!(device.identity_fingerprint.as_deref(), Some(d.fingerprint.as_str()));
    assert_eq!(device.topic.as_deref(), Some(d.topic.as_str()));
    assert_eq!(device.serial_number.as_deref(), Some(d.serial.as_str()));
    assert_eq!(device.device_name.as_deref(), Some("Kiosk 2"));
    assert_eq!(device.os_version.as_deref(), Some("17.5"));
    assert_eq!(device.build_version.as_deref(), Some("21E219"));
    assert_eq!(
        serde_json::Value::Object(device.query_responses.clone()),
        json!({"DeviceName": "Kiosk 2", "OSVersion": "17.5", "BatteryLevel": 0.25, "WiFiMAC": "f0:18:98:12:34:56"})
    );
    assert_eq!(device.query_responses_at, Some(at(6)));
    assert_eq!(device.last_seen_at, Some(at(8)));
    assert!(device.last_seen_position > Some(last));
}

#[test]
fn security_info_and_binary_answers_are_read_and_sealed_ones_skipped() {
    let d = FakeDevice::new(2);
    let mut log = Log::new();
    log.enroll(&d);
    let info = dict(&[(
        "SecurityInfo",
        Value::Dictionary(dict(&[("PasscodePresent", Value::Boolean(true))])),
    )]);
    log.ack(&d, "S1", "SecurityInfo", info);
    // A binary plist answer.
    let mut binary = Vec::new();
    Value::Dictionary(query_responses(&[("Model", Value::from("MK2K3LL/A2"))]))
        .to_writer_binary(&mut binary)
        .unwrap();
    log.device(&d, d.acknowledged("B1", "DeviceInformation"), Some(binary));
    // An answer stored sealed (it held a secret) is never opened.
    let sealed = br#"{"alg":"A256GCM","key_id":"k","nonce":"AA==","ciphertext":"AA=="}"#.to_vec();
    log.device(&d, d.acknowledged("S2", "DeviceInformation"), Some(sealed));

    let p = log.fold();
    let device = p.devices().get(&d.udid).unwrap();
    assert_eq!(
        device.security_info.clone().map(serde_json::Value::Object),
        Some(json!({"PasscodePresent": true}))
    );
    assert_eq!(device.model.as_deref(), Some("MK2K3LL/A2"));
    assert_eq!(device.query_responses.len(), 1);
}

#[test]
fn check_out_keeps_the_inventory_and_marks_the_state() {
    let d = FakeDevice::new(3);
    let mut log = Log::new();
    log.enroll(&d);
    log.idle(&d);
    let out = log.device(&d, d.check_out(), None);

    let p = log.fold();
    let device = p.devices().get(&d.udid).unwrap();
    assert_eq!(device.state, DeviceState::CheckedOut);
    assert_eq!(device.last_seen_position, Some(out));
    assert_eq!(device.enrolled_at, Some(at(2)));
    assert_eq!(device.serial_number.as_deref(), Some(d.serial.as_str()));
}

#[test]
fn a_user_channel_is_its_own_enrollment() {
    let d = FakeDevice::new(4);
    let user = d.user("501");
    let mut log = Log::new();
    log.enroll(&d);
    log.system(&user, user.identity_bound(0, at(3)));
    log.device(&user, user.token_update(), None);

    let p = log.fold();
    let channel = p.devices().get(&user.key()).unwrap();
    assert_eq!(channel.enrollment, format!("{}:501", d.udid));
    assert_eq!(
        (channel.channel, channel.user_id.as_deref()),
        (Channel::User, Some("501"))
    );
    assert_eq!(channel.state, DeviceState::Enrolled);
    assert_eq!(p.devices().get(&d.udid).unwrap().channel, Channel::Device);
    assert_eq!(p.devices().len(), 2);
}

#[test]
fn unknown_other_stream_and_undecodable_events_change_nothing_but_the_position() {
    let d = FakeDevice::new(5);
    let mut log = Log::new();
    log.enroll(&d);
    let before = log.fold().snapshot();
    let stream = format!("enrollment-{}", d.udid);
    log.builder
        .record_raw(&stream, "x", "FutureThing", 1, b"{}".to_vec(), None);
    log.builder
        .record_raw(&stream, "x", "TokenUpdate", 1, b"{not json".to_vec(), None);
    log.builder
        .record_raw(&stream, "x", "CommandAcknowledged", 9, b"{}".to_vec(), None);
    log.builder
        .record_raw(&stream, "x", "CommandDelivered", 1, b"[]".to_vec(), None);
    let last = log
        .builder
        .record_raw("api-keys", "system", "ApiKeyRevoked", 1, b"{}".to_vec(), None);
    let last = last.global_position;

    let p = log.fold();
    assert_eq!(p.snapshot(), before);
    assert_eq!(p.position(), last);
}
