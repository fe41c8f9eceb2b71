//! An enrolled device that has reported its DDM status: the `enrolled_device` events, then one
//! full `DeclarationStatusReported` (an activation, three configurations and a management
//! declaration, OS version, software-update state, passcode compliance), as a managed device
//! sends it. Statuses vary with `n` the way a fleet's do: three OS versions, four update states,
//! one device in ten not compliant: a few dozen distinct reports across the fleet.

use annal_schemas::events::declaration::DeclarationStatusReported;
use annal_schemas::RecordedEvent;
use chrono::TimeDelta;
use serde_json::{json, Value};

use super::enrolled::enrolled_device;
use super::{FakeDevice, LogBuilder};

/// The declarations every synthetic device reports, with the server tokens it processed.
pub const REPORTED: [(&str, &str); 5] = [
    ("activations", "act.baseline"),
    ("configurations", "cfg.passcode"),
    ("configurations", "cfg.softwareupdate"),
    ("configurations", "cfg.legacy-wifi"),
    ("management", "mgmt.organization"),
];

/// Device `n`'s status report.
pub fn status_report(n: u64) -> Value {
    let os = ["17.6.1", "18.1", "18.2"][(n % 3) as usize];
    let state = ["none", "downloading", "prepared", "installing"][(n % 4) as usize];
    let compliant = !n.is_multiple_of(10);
    let mut declarations = json!({"activations": [], "assets": [], "configurations": [], "management": []});
    for (category, identifier) in REPORTED {
        let valid = identifier != "cfg.passcode" || compliant;
        let mut entry = json!({
            "identifier": identifier,
            "server-token": format!("{:0>32}", identifier.len()),
            "active": valid,
            "valid": if valid { "valid" } else { "invalid" },
        });
        if !valid {
            entry["reasons"] = json!([{"code": "Error.ConfigurationCannotBeApplied", "description": "The passcode does not meet the requirements."}]);
        }
        if let Some(list) = declarations[category].as_array_mut() {
            list.push(entry);
        }
    }
    json!({
        "StatusItems": {
            "management": {"declarations": declarations},
            "device": {"operating-system": {"version": os, "build-version": "22B83"}},
            "softwareupdate": {"install-state": state, "pending-version": {"os-version": "18.2", "build-version": "22C152"}},
            "passcode": {"is-compliant": compliant, "is-present": true}
        },
        "Errors": [],
        "FullReport": true
    })
}

/// The events of enrolled device `n`, ending with its status report.
pub fn enrolled_device_with_status(n: u64) -> Vec<RecordedEvent> {
    let mut events = enrolled_device(n);
    let (Some(last), Some(first)) = (events.last(), events.first()) else {
        return events;
    };
    let d = FakeDevice::new(n);
    let report = status_report(n);
    let mut dict = plist::Dictionary::new();
    dict.insert("MessageType".into(), "DeclarativeManagement".into());
    dict.insert("UDID".into(), d.key().into());
    dict.insert("Endpoint".into(), "status".into());
    dict.insert("Data".into(), plist::Value::Data(report.to_string().into_bytes()));
    let mut raw = Vec::new();
    let _ = plist::Value::Dictionary(dict).to_writer_xml(&mut raw);
    let body = DeclarationStatusReported {
        device: d.device_ref(),
        identity: d.identity(),
        full_report: true,
        report,
    };
    let (version, position) = (last.stream_version + 1, last.global_position + 1);
    let (id, at) = (first.event_id, last.recorded_at + TimeDelta::seconds(1));
    let mut log = LogBuilder::new(at);
    log.record(&d.key(), &d.fingerprint, &body, Some(raw));
    for mut e in log.into_events() {
        e.stream_version = version;
        e.global_position = position;
        e.event_id = uuid::Uuid::from_u128(id.as_u128() | 0xffff);
        events.push(e);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Projections;

    #[test]
    fn the_report_folds_into_the_inventory() {
        let events = enrolled_device_with_status(10);
        let p = Projections::fold(&events);
        let key = FakeDevice::new(10).key();
        let device = p.devices().get(&key).expect("enrolled");
        let status = device.declaration_status.expect("reported");
        assert_eq!(status.declarations.len(), REPORTED.len());
        assert_eq!(
            status.items.passcode_is_compliant,
            Some(false),
            "device 10 of 10 is not compliant"
        );
        assert_eq!(status.find("cfg.passcode").map(|d| d.valid.as_str()), Some("invalid"));
        assert!(device.declaration_status_at.is_some());
    }
}
