//! Realistic answers to the commands the simulator understands, shaped like a real iPad's.

use annal_projections::synthetic::{device_information_answer, IpadFacts};
use plist::{Dictionary, Value};

use super::device::{VirtualDevice, BUILD_VERSION, OS_VERSION};

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn dict(pairs: Vec<(&str, Value)>) -> Value {
    Value::Dictionary(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The response keys for `request_type`, or `None` for a command the simulator does not know
/// (it then answers Error, as a device does for an unsupported command).
pub fn answer(device: &VirtualDevice, request_type: &str, command: &Dictionary) -> Option<Dictionary> {
    let mut out = Dictionary::new();
    match request_type {
        "DeviceInformation" => {
            let mut responses = Dictionary::new();
            let queries = command
                .get("Queries")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let name = format!("Sim iPad {}", device.serial);
            let facts = IpadFacts {
                device_name: &name,
                serial: &device.serial,
                udid: &device.udid,
                os_version: OS_VERSION,
                build_version: BUILD_VERSION,
            };
            for q in queries.iter().filter_map(Value::as_string) {
                if let Some(value) = device_information_answer(q, &facts) {
                    responses.insert(q.to_string(), value);
                }
            }
            out.insert("QueryResponses".into(), Value::Dictionary(responses));
        }
        "SecurityInfo" => {
            let info = dict(vec![
                ("HardwareEncryptionCaps", Value::Integer(3.into())),
                ("PasscodePresent", Value::Boolean(true)),
                ("PasscodeCompliant", Value::Boolean(true)),
                ("PasscodeCompliantWithProfiles", Value::Boolean(true)),
                ("PasscodeLockGracePeriodEnforced", Value::Integer(0.into())),
                ("FDE_Enabled", Value::Boolean(true)),
            ]);
            out.insert("SecurityInfo".into(), info);
        }
        "ProfileList" => {
            let profile = dict(vec![
                ("PayloadIdentifier", s("com.example.annal.enrollment")),
                ("PayloadDisplayName", s("Annal MDM")),
                ("PayloadUUID", s("6B3F0F0E-8E3C-4A4B-9C53-6E5F3D9A1C11")),
                ("PayloadVersion", Value::Integer(1.into())),
                ("IsManaged", Value::Boolean(true)),
                ("PayloadRemovalDisallowed", Value::Boolean(false)),
            ]);
            out.insert("ProfileList".into(), Value::Array(vec![profile]));
        }
        "InstalledApplicationList" => {
            let apps = (0..120)
                .map(|i| {
                    dict(vec![
                        ("Identifier", s(&format!("com.example.app{i:03}"))),
                        ("Name", s(&format!("Example App {i}"))),
                        ("ShortVersion", s("4.2.1")),
                        ("Version", s("421")),
                        ("BundleSize", Value::Integer((25_000_000 + i * 1000).into())),
                        ("DynamicSize", Value::Integer(1_048_576.into())),
                        ("IsValidated", Value::Boolean(true)),
                    ])
                })
                .collect();
            out.insert("InstalledApplicationList".into(), Value::Array(apps));
        }
        "CertificateList" => {
            let certs = (0..3)
                .map(|i| {
                    dict(vec![
                        ("CommonName", s(&format!("Example Root CA {i}"))),
                        ("IsIdentity", Value::Boolean(i == 0)),
                        ("Data", Value::Data(vec![0x30; 900])),
                    ])
                })
                .collect();
            out.insert("CertificateList".into(), Value::Array(certs));
        }
        // A device acknowledges a lock (and locks its screen) with nothing more to say.
        "DeviceLock" => {}
        _ => return None,
    }
    Some(out)
}
