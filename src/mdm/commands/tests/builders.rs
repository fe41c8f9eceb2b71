//! Every typed builder's output validates against Apple's schema and carries exactly its keys.

use plist::{Dictionary, Value};

use super::super::builders::*;
use super::super::platform::Platform;
use super::super::schema::{apple, Allowed};
use super::super::validate;
use super::err;
use crate::mdm::{command, Secret};

fn secret<T>(value: T) -> Secret<T> {
    Secret::new(value)
}

fn full_erase() -> EraseDevice {
    EraseDevice {
        pin: Some(secret("123456".into())),
        preserve_data_plan: Some(true),
        disallow_proximity_setup: Some(false),
        obliteration_behavior: Some(ObliterationBehavior::DoNotObliterate),
        return_to_service: Some(ReturnToService {
            enabled: true,
            wifi_profile_data: Some(secret(vec![1, 2])),
            mdm_profile_data: Some(vec![3]),
        }),
    }
}

/// One instance of every builder, with every option it has set.
fn all_builders() -> Vec<Box<dyn Command>> {
    vec![
        Box::new(DeviceLock {
            pin: Some(secret("123456".into())),
            message: Some("Lost".into()),
            phone_number: Some("408-555-5555".into()),
        }),
        Box::new(DeviceLock::default()),
        Box::new(full_erase()),
        Box::new(EraseDevice::default()),
        Box::new(ClearPasscode::new(secret(vec![0xde, 0xad]))),
        Box::new(SecurityInfo),
        Box::new(InstalledApplicationList {
            identifiers: vec!["com.example.app".into()],
            managed_apps_only: Some(true),
            items: vec!["Name".into(), "Version".into()],
        }),
        Box::new(InstalledApplicationList::default()),
        Box::new(DeviceInformation {
            queries: vec!["UDID".into(), "OSVersion".into()],
            device_attestation_nonce: Some(vec![9; 16]),
        }),
        Box::new(DeviceInformation::new(Vec::<String>::new())),
        Box::new(CertificateList {
            managed_only: Some(true),
        }),
        Box::new(ProfileList {
            managed_only: Some(false),
        }),
        Box::new(ProvisioningProfileList {
            managed_only: Some(true),
        }),
        Box::new(RestrictionsList {
            profile_restrictions: Some(true),
        }),
        Box::new(InstallProfile::new(b"<plist/>".to_vec())),
        Box::new(RemoveProfile {
            identifier: "com.acme.myprofile".into(),
        }),
        Box::new(InstallProvisioningProfile {
            provisioning_profile: vec![0x30, 0x82],
        }),
        Box::new(RemoveProvisioningProfile {
            uuid: "A1B2C3D4-0000-0000-0000-000000000000".into(),
        }),
        Box::new(DeclarativeManagement {
            declarations_token: "0123456789abcdef0123456789abcdef".into(),
            timestamp: "2026-12-01T10:00:00Z".into(),
        }),
    ]
}

#[test]
fn every_builder_validates() {
    let builders = all_builders();
    for builder in &builders {
        let command = builder.to_command();
        assert_eq!(
            validate(&command, None),
            Ok(builder.request_type().to_owned()),
            "{command:?}"
        );
        assert_eq!(
            command.get("RequestType"),
            Some(&Value::String(builder.request_type().into()))
        );
    }
    let mut types: Vec<&str> = builders.iter().map(|b| b.request_type()).collect();
    types.dedup();
    assert_eq!(
        types.len(),
        15,
        "every command in the seed papers has a builder, and DDM's sync"
    );
}

fn keys(command: &Dictionary) -> Vec<&str> {
    command.keys().map(String::as_str).collect()
}

#[test]
fn builders_set_apple_keys() {
    let lock = DeviceLock {
        pin: Some(secret("123456".into())),
        message: Some("Lost".into()),
        phone_number: None,
    }
    .to_command();
    assert_eq!(keys(&lock), ["RequestType", "PIN", "Message"]);
    assert_eq!(lock.get("PIN"), Some(&Value::String("123456".into())));

    let erase = full_erase().to_command();
    assert_eq!(
        keys(&erase),
        [
            "RequestType",
            "PIN",
            "PreserveDataPlan",
            "DisallowProximitySetup",
            "ObliterationBehavior",
            "ReturnToService"
        ]
    );
    let rts = erase.get("ReturnToService").and_then(Value::as_dictionary).unwrap();
    assert_eq!(rts.get("WiFiProfileData"), Some(&Value::Data(vec![1, 2])));
    assert_eq!(rts.get("MDMProfileData"), Some(&Value::Data(vec![3])));

    let clear = ClearPasscode::new(secret(vec![0xde, 0xad])).to_command();
    assert_eq!(clear.get("UnlockToken"), Some(&Value::Data(vec![0xde, 0xad])));
    assert_eq!(keys(&InstalledApplicationList::default().to_command()), ["RequestType"]);
    assert_eq!(
        keys(&DeviceInformation::new(["UDID"]).to_command()),
        ["RequestType", "Queries"]
    );
    assert_eq!(RestrictionsList::default().request_type(), "Restrictions");
}

#[test]
fn builders_follow_platform_rules() {
    // The macOS-only erase options are refused on iOS; the iOS-only ones on macOS.
    assert_eq!(
        validate(&full_erase().to_command(), Some(Platform::Ios)),
        Err(err("PIN", "not supported on iOS"))
    );
    let ios_erase = EraseDevice {
        pin: None,
        obliteration_behavior: None,
        ..full_erase()
    };
    assert_eq!(
        validate(&ios_erase.to_command(), Some(Platform::Ios)),
        Ok("EraseDevice".into())
    );
    let mac_erase = EraseDevice {
        pin: Some(secret("123456".into())),
        obliteration_behavior: Some(ObliterationBehavior::Always),
        ..EraseDevice::default()
    };
    assert_eq!(
        validate(&mac_erase.to_command(), Some(Platform::MacOs)),
        Ok("EraseDevice".into())
    );
    assert_eq!(
        validate(&ClearPasscode::new(secret(vec![1])).to_command(), Some(Platform::MacOs)),
        Err(err("RequestType", "not supported on macOS"))
    );
}

#[test]
fn obliteration_behaviors_are_the_schema_rangelist() {
    let spec = apple().unwrap().command("EraseDevice").unwrap();
    let key = spec.keys.iter().find(|k| k.name == "ObliterationBehavior").unwrap();
    let ours: Vec<Allowed> = ObliterationBehavior::ALL
        .iter()
        .map(|b| Allowed::Str(b.as_str().into()))
        .collect();
    assert_eq!(ours, key.allowed);
}

#[test]
fn debug_redacts_secrets() {
    let shown = format!(
        "{:?} {:?} {:?}",
        full_erase(),
        ClearPasscode::new(secret(b"TOKEN".to_vec())),
        InstallProfile::new(b"PASSWORD".to_vec())
    );
    assert!(!shown.contains("123456"), "{shown}");
    assert!(!shown.contains("84, 79, 75"), "{shown}"); // b"TOK"
    assert!(!shown.contains("80, 65, 83"), "{shown}"); // b"PAS"
    assert!(shown.contains("Secret(<redacted>)"));
}

#[test]
fn legacy_builders_are_the_typed_ones() {
    assert_eq!(command::security_info(), SecurityInfo.to_command());
    assert_eq!(command::profile_list(), ProfileList::default().to_command());
    assert_eq!(command::certificate_list(), CertificateList::default().to_command());
    assert_eq!(
        command::installed_application_list(),
        InstalledApplicationList::default().to_command()
    );
    assert_eq!(
        command::device_information(&["UDID", "OSVersion"]),
        DeviceInformation::new(["UDID", "OSVersion"]).to_command()
    );
    for legacy in [command::security_info(), command::device_information(&["UDID"])] {
        assert!(validate(&legacy, None).is_ok());
    }
}
