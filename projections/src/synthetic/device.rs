//! A fake device: the event bodies its messages become, and its raw plist answers.

use annal_schemas::events::checkin::{Authenticate, CheckOut, Idle, TokenUpdate};
use annal_schemas::events::command::{
    CommandAcknowledged, CommandDelivered, CommandErrored, CommandFormatError, CommandNotNow, CommandQueued,
    ErrorChainItem,
};
use annal_schemas::events::identity::{CertificateInfo, IdentityBound};
use annal_schemas::events::push::{PushAccepted, PushAttempted, PushFailed};
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::Sealed;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A made-up device (or, with a user, one of its user channels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDevice {
    pub udid: String,
    pub user_id: Option<String>,
    pub serial: String,
    /// Hex SHA-256 of its identity certificate.
    pub fingerprint: String,
    pub topic: String,
}

impl FakeDevice {
    /// Device number `n`: every identifier is derived from it.
    pub fn new(n: u64) -> Self {
        Self {
            udid: format!("00008030-{n:016X}"),
            user_id: None,
            serial: format!("SIM{n:09}"),
            fingerprint: format!("{:064x}", u128::from(n) * 0x9E37_79B9_7F4A_7C15),
            topic: "com.apple.mgmt.External.annal-test".to_owned(),
        }
    }

    /// The user channel of this device for `user_id`.
    pub fn user(&self, user_id: &str) -> Self {
        Self {
            user_id: Some(user_id.to_owned()),
            ..self.clone()
        }
    }

    /// The enrollment key: the UDID, or `<UDID>:<UserID>` for a user channel.
    pub fn key(&self) -> String {
        match &self.user_id {
            Some(user) => format!("{}:{user}", self.udid),
            None => self.udid.clone(),
        }
    }

    pub fn device_ref(&self) -> DeviceRef {
        DeviceRef {
            udid: Some(self.udid.clone()),
            user_id: self.user_id.clone(),
            ..DeviceRef::default()
        }
    }

    pub fn identity(&self) -> IdentityRef {
        IdentityRef {
            fingerprint_sha256: self.fingerprint.clone(),
            proof: "mtls".to_owned(),
            url_params: Default::default(),
        }
    }

    pub fn authenticate(&self, generation: u64) -> Authenticate {
        Authenticate {
            device: self.device_ref(),
            identity: self.identity(),
            topic: self.topic.clone(),
            generation,
            serial_number: Some(self.serial.clone()),
            imei: None,
            meid: None,
            os_version: Some("17.4".to_owned()),
            build_version: Some("21E219".to_owned()),
            product_name: Some("iPad13,18".to_owned()),
            device_name: None,
            model: Some("MK2K3LL/A".to_owned()),
            model_name: Some("iPad".to_owned()),
        }
    }

    pub fn identity_bound(&self, generation: u64, not_before: DateTime<Utc>) -> IdentityBound {
        IdentityBound {
            certificate: CertificateInfo {
                fingerprint_sha256: self.fingerprint.clone(),
                serial_hex: "01".to_owned(),
                subject: format!("CN={}", self.udid),
                issuer: "CN=Annal Test CA".to_owned(),
                not_before,
                not_after: not_before + chrono::TimeDelta::days(365),
            },
            generation,
            migration_claim: false,
        }
    }

    pub fn token_update(&self) -> TokenUpdate {
        TokenUpdate {
            device: self.device_ref(),
            identity: self.identity(),
            topic: self.topic.clone(),
            token_hex: format!("{:064x}", self.serial.len()),
            push_magic: sealed(),
            unlock_token: None,
            awaiting_configuration: None,
            user_short_name: None,
            user_long_name: None,
            token_update_tally: Some(1),
        }
    }

    pub fn check_out(&self) -> CheckOut {
        CheckOut {
            device: self.device_ref(),
            identity: self.identity(),
            topic: self.topic.clone(),
            with_device_channel: false,
        }
    }

    pub fn idle(&self) -> Idle {
        Idle {
            device: self.device_ref(),
            identity: self.identity(),
        }
    }

    pub fn delivered(&self, command_uuid: &str, request_type: &str, attempt: u32) -> CommandDelivered {
        CommandDelivered {
            command_uuid: command_uuid.to_owned(),
            request_type: request_type.to_owned(),
            attempt,
            identity: self.identity(),
        }
    }

    pub fn acknowledged(&self, command_uuid: &str, request_type: &str) -> CommandAcknowledged {
        CommandAcknowledged {
            command_uuid: command_uuid.to_owned(),
            request_type: request_type.to_owned(),
            device: self.device_ref(),
            identity: self.identity(),
        }
    }

    pub fn not_now(&self, command_uuid: &str, request_type: &str) -> CommandNotNow {
        CommandNotNow {
            command_uuid: command_uuid.to_owned(),
            request_type: request_type.to_owned(),
            device: self.device_ref(),
            identity: self.identity(),
        }
    }

    pub fn errored(&self, command_uuid: &str, request_type: &str, error_chain: Vec<ErrorChainItem>) -> CommandErrored {
        CommandErrored {
            command_uuid: command_uuid.to_owned(),
            request_type: request_type.to_owned(),
            device: self.device_ref(),
            identity: self.identity(),
            error_chain,
            reason: None,
            unparseable: None,
        }
    }

    pub fn format_error(&self, command_uuid: &str, request_type: &str) -> CommandFormatError {
        CommandFormatError {
            command_uuid: command_uuid.to_owned(),
            request_type: request_type.to_owned(),
            device: self.device_ref(),
            identity: self.identity(),
        }
    }

    /// The raw XML plist of a command-channel report: `Status` for `command_uuid` (`None`: an
    /// Idle poll), with `answer` merged in (e.g. `QueryResponses`).
    pub fn report_plist(&self, status: &str, command_uuid: Option<&str>, answer: plist::Dictionary) -> Vec<u8> {
        let mut dict = plist::Dictionary::new();
        dict.insert("Status".into(), status.into());
        dict.insert("UDID".into(), self.udid.clone().into());
        if let Some(uuid) = command_uuid {
            dict.insert("CommandUUID".into(), uuid.into());
        }
        if let Some(user) = &self.user_id {
            dict.insert("UserID".into(), user.clone().into());
        }
        dict.extend(answer);
        let mut out = Vec::new();
        // Writing a plist of strings and numbers to memory cannot fail.
        let _ = plist::Value::Dictionary(dict).to_writer_xml(&mut out);
        out
    }
}

/// A command as queued (its plist is the event's raw, not made here).
pub fn queued(command_uuid: &str, request_type: &str, generation: u64) -> CommandQueued {
    CommandQueued {
        command_uuid: command_uuid.to_owned(),
        request_type: request_type.to_owned(),
        generation,
        idempotency_key: None,
        reason: None,
        expires_at: None,
        raw_sealed: annal_schemas::carries_secret(request_type),
        identity_fingerprint_sha256: None,
    }
}

pub fn push_attempted(push_id: u128) -> PushAttempted {
    PushAttempted {
        push_id: Uuid::from_u128(push_id),
        topic: "com.apple.mgmt.External.annal-test".to_owned(),
        trigger: "enqueue".to_owned(),
        attempt: 1,
    }
}

pub fn push_accepted(push_id: u128) -> PushAccepted {
    PushAccepted {
        push_id: Uuid::from_u128(push_id),
        apns_id: None,
    }
}

pub fn push_failed(push_id: u128, status: u16, reason: &str, token_dead: bool) -> PushFailed {
    PushFailed {
        push_id: Uuid::from_u128(push_id),
        status,
        reason: reason.to_owned(),
        token_dead,
        retry_after_secs: None,
    }
}

/// A stand-in for a sealed secret (never opened by projections).
pub(super) fn sealed() -> Sealed {
    Sealed {
        alg: "A256GCM".to_owned(),
        key_id: "test".to_owned(),
        nonce: "AAAAAAAAAAAAAAAA".to_owned(),
        ciphertext: "AAAAAAAAAAAAAAAAAAAAAA==".to_owned(),
    }
}
