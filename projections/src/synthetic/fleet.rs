//! A generated fleet log: devices enrolling, polling, and working through a mix of commands
//! with every outcome the protocol has, interleaved across streams as a busy server records
//! them. Deterministic for a seed.

use annal_schemas::events::apikey::{ApiKeyCreated, Role};
use annal_schemas::events::command::{CancelReason, CommandCancelled, CommandExpired, ErrorChainItem};
use annal_schemas::RecordedEvent;
use chrono::{TimeDelta, TimeZone, Utc};

use super::device::{push_accepted, push_attempted, push_failed, queued};
use super::{FakeDevice, LogBuilder};

/// The shape of a generated log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetSpec {
    pub devices: u64,
    /// Each round, every device does one thing (an Idle poll, a command, a push failure, …).
    pub rounds: u64,
    pub seed: u64,
}

const ADMIN: &str = "api-key:ops";

struct Fleet {
    log: LogBuilder,
    rng: u64,
    pushes: u128,
}

/// The generated log, in log order.
pub fn fleet(spec: &FleetSpec) -> Vec<RecordedEvent> {
    let start = Utc.with_ymd_and_hms(2025, 1, 6, 9, 0, 0).single().unwrap_or_default();
    let mut f = Fleet {
        log: LogBuilder::new(start).with_tick(TimeDelta::milliseconds(5)),
        rng: spec.seed,
        pushes: 0,
    };
    let key = ApiKeyCreated {
        key_id: "k1".into(),
        name: "ops".into(),
        role: Role::Admin,
        secret_sha256: "0".repeat(64),
    };
    f.log.record_on("api-keys", "system", &key, None);
    let mut devices: Vec<(FakeDevice, u64)> = Vec::new();
    for n in 0..spec.devices {
        let device = FakeDevice::new(n);
        f.enroll(&device, 1);
        // Every tenth device has a macOS user channel too.
        if n % 10 == 9 {
            let user = device.user(&format!("user-{n}"));
            let at = f.log.now();
            f.log
                .record(&user.key(), &user.fingerprint, &user.identity_bound(0, at), None);
            f.log.record(&user.key(), &user.fingerprint, &user.token_update(), None);
            devices.push((user, 0));
        }
        devices.push((device, 1));
    }
    for round in 0..spec.rounds {
        for (device, generation) in &mut devices {
            f.round(device, generation, round);
        }
    }
    f.log.into_events()
}

impl Fleet {
    fn next(&mut self, below: u64) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below
    }

    fn enroll(&mut self, d: &FakeDevice, generation: u64) {
        let key = d.key();
        let at = self.log.now();
        self.log.record(&key, &d.fingerprint, &d.authenticate(generation), None);
        self.log
            .record(&key, &d.fingerprint, &d.identity_bound(generation, at), None);
        self.log.record(&key, &d.fingerprint, &d.token_update(), None);
    }

    fn push(&mut self, d: &FakeDevice) {
        self.pushes += 1;
        let key = d.key();
        self.log.record(&key, "system", &push_attempted(self.pushes), None);
        self.log.record(&key, "system", &push_accepted(self.pushes), None);
    }

    fn idle(&mut self, d: &FakeDevice) {
        let raw = d.report_plist("Idle", None, plist::Dictionary::new());
        self.log.record(&d.key(), &d.fingerprint, &d.idle(), Some(raw));
    }

    /// Queues a command, pushes, and the device fetches it: what every command scenario starts with.
    fn send(&mut self, d: &FakeDevice, generation: u64, uuid: &str, request_type: &str) {
        let key = d.key();
        let mut body = queued(uuid, request_type, generation);
        body.reason = Some(format!("round {uuid}"));
        self.log.record(&key, ADMIN, &body, Some(b"<plist/>".to_vec()));
        self.push(d);
        self.idle(d);
        self.log
            .record(&key, "system", &d.delivered(uuid, request_type, 1), None);
    }

    fn acknowledge(&mut self, d: &FakeDevice, uuid: &str, request_type: &str, answer: plist::Dictionary) {
        let raw = d.report_plist("Acknowledged", Some(uuid), answer);
        self.log
            .record(&d.key(), &d.fingerprint, &d.acknowledged(uuid, request_type), Some(raw));
    }

    fn round(&mut self, d: &FakeDevice, generation: &mut u64, round: u64) {
        let key = d.key();
        let dice = self.next(100);
        // One CommandUUID per round and request type: a fan-out to every device that rolls it.
        let uuid = |rt: &str| format!("R{round:05}-{rt}");
        match dice {
            0..40 => self.idle(d),
            40..55 => {
                self.send(d, *generation, &uuid("ProfileList"), "ProfileList");
                self.acknowledge(d, &uuid("ProfileList"), "ProfileList", plist::Dictionary::new());
            }
            55..63 => {
                self.send(d, *generation, &uuid("DeviceInformation"), "DeviceInformation");
                let mut answers = plist::Dictionary::new();
                answers.insert("DeviceName".into(), format!("iPad {} r{round}", d.serial).into());
                answers.insert("OSVersion".into(), format!("17.{}", self.next(6)).into());
                if self.next(2) == 0 {
                    answers.insert("BatteryLevel".into(), plist::Value::Real(0.5));
                    answers.insert("WiFiMAC".into(), "f0:18:98:12:34:56".into());
                }
                let mut body = plist::Dictionary::new();
                body.insert("QueryResponses".into(), plist::Value::Dictionary(answers));
                self.acknowledge(d, &uuid("DeviceInformation"), "DeviceInformation", body);
            }
            63..67 => {
                self.send(d, *generation, &uuid("SecurityInfo"), "SecurityInfo");
                let mut info = plist::Dictionary::new();
                info.insert("PasscodePresent".into(), plist::Value::Boolean(self.next(2) == 0));
                let mut body = plist::Dictionary::new();
                body.insert("SecurityInfo".into(), plist::Value::Dictionary(info));
                self.acknowledge(d, &uuid("SecurityInfo"), "SecurityInfo", body);
            }
            67..75 => {
                let (u, rt) = (uuid("InstallProfile"), "InstallProfile");
                self.send(d, *generation, &u, rt);
                let raw = d.report_plist("NotNow", Some(&u), plist::Dictionary::new());
                self.log.record(&key, &d.fingerprint, &d.not_now(&u, rt), Some(raw));
                self.idle(d);
                self.log.record(&key, "system", &d.delivered(&u, rt, 2), None);
                self.acknowledge(d, &u, rt, plist::Dictionary::new());
            }
            75..80 => {
                self.send(d, *generation, &uuid("DeviceLock"), "DeviceLock");
                self.acknowledge(d, &uuid("DeviceLock"), "DeviceLock", plist::Dictionary::new());
            }
            80..85 => {
                let (u, rt) = (uuid("RemoveProfile"), "RemoveProfile");
                self.send(d, *generation, &u, rt);
                let chain = vec![ErrorChainItem {
                    error_code: 12_079,
                    error_domain: "MCProfileErrorDomain".into(),
                    localized_description: Some("The profile is not installed.".into()),
                    us_english_description: None,
                }];
                let raw = d.report_plist("Error", Some(&u), plist::Dictionary::new());
                self.log
                    .record(&key, &d.fingerprint, &d.errored(&u, rt, chain), Some(raw));
            }
            85..88 => {
                let u = uuid("EraseDevice");
                self.log
                    .record(&key, ADMIN, &queued(&u, "EraseDevice", *generation), None);
                self.pushes += 1;
                self.log.record(&key, "system", &push_attempted(self.pushes), None);
                self.log.record(
                    &key,
                    "system",
                    &push_failed(self.pushes, 429, "TooManyRequests", false),
                    None,
                );
                let cancel = CommandCancelled {
                    command_uuid: u,
                    reason: CancelReason::Admin,
                    note: Some("queued to the wrong device".into()),
                };
                self.log.record(&key, ADMIN, &cancel, None);
            }
            88..91 => {
                let u = uuid("CertificateList");
                let mut body = queued(&u, "CertificateList", *generation);
                body.expires_at = Some(self.log.now() + TimeDelta::seconds(1));
                self.log.record(&key, ADMIN, &body, None);
                self.log.advance(TimeDelta::seconds(2));
                self.idle(d);
                let expired = CommandExpired {
                    command_uuid: u,
                    expired_at: self.log.now(),
                };
                self.log.record(&key, &d.fingerprint, &expired, None);
            }
            91..94 => {
                self.pushes += 1;
                self.log.record(&key, "system", &push_attempted(self.pushes), None);
                self.log.record(
                    &key,
                    "system",
                    &push_failed(self.pushes, 410, "Unregistered", true),
                    None,
                );
                self.log.record(&key, &d.fingerprint, &d.token_update(), None);
            }
            94..96 => {
                let (u, rt) = (uuid("Settings"), "Settings");
                self.send(d, *generation, &u, rt);
                let raw = d.report_plist("CommandFormatError", Some(&u), plist::Dictionary::new());
                self.log
                    .record(&key, &d.fingerprint, &d.format_error(&u, rt), Some(raw));
            }
            _ if d.user_id.is_some() => self.idle(d),
            96..98 => {
                let u = uuid("InstalledApplicationList");
                self.log
                    .record(&key, ADMIN, &queued(&u, "InstalledApplicationList", *generation), None);
                *generation += 1;
                self.reenroll(d, *generation, u, CancelReason::Reenrolled, false);
            }
            _ => {
                let u = uuid("RestartDevice");
                self.log
                    .record(&key, ADMIN, &queued(&u, "RestartDevice", *generation), None);
                *generation += 1;
                self.reenroll(d, *generation, u, CancelReason::CheckedOut, true);
            }
        }
    }

    /// A new generation, after a CheckOut when `check_out`; the pending command is cancelled as
    /// the domain does.
    fn reenroll(&mut self, d: &FakeDevice, generation: u64, pending: String, reason: CancelReason, check_out: bool) {
        let key = d.key();
        let cancel = CommandCancelled {
            command_uuid: pending,
            reason,
            note: None,
        };
        if check_out {
            self.log.record(&key, &d.fingerprint, &d.check_out(), None);
            self.log.record(&key, &d.fingerprint, &cancel, None);
            self.enroll(d, generation);
            return;
        }
        let at = self.log.now();
        self.log.record(&key, &d.fingerprint, &d.authenticate(generation), None);
        self.log.record(&key, &d.fingerprint, &cancel, None);
        self.log
            .record(&key, &d.fingerprint, &d.identity_bound(generation, at), None);
        self.log.record(&key, &d.fingerprint, &d.token_update(), None);
    }
}
