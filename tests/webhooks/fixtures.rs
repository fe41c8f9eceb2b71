//! A SQLite log in a temporary directory and realistic device events with their raw plists.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use annal::readmodel::{ReadModelDb, SqliteReadModels};
use annal::secrets::DataKey;
use annal::store::{EventStore, ExpectedVersion, SqliteStore};
use annal::stream::webhook::{self, checkpoint_name, route, Backoff, Timeouts, WebhookConfig};
use annal_schemas::events::checkin::{Authenticate, Idle, SetBootstrapToken, TokenUpdate};
use annal_schemas::events::command::{CommandAcknowledged, CommandDelivered, CommandQueued};
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{EventData, NewEvent};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value as Json;

pub const HMAC_KEY: &[u8] = b"receiver-shared-secret";
pub const PUSH_MAGIC: &str = "PUSHMAGIC-7c1d-secret";
pub const UNLOCK_TOKEN: &[u8] = b"unlock-token-bytes-secret";
pub const BOOTSTRAP_TOKEN: &[u8] = b"bootstrap-token-bytes-secret";

pub struct Log {
    pub store: Arc<dyn EventStore>,
    pub readmodels: Arc<dyn ReadModelDb>,
    pub key: Arc<DataKey>,
    _dir: tempfile::TempDir,
}

pub fn log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    Log {
        store: Arc::new(SqliteStore::open(dir.path().join("annal.db")).unwrap()),
        readmodels: Arc::new(SqliteReadModels::open(&dir.path().join("annal.readmodels.db")).unwrap()),
        key: Arc::new(DataKey::from_hex(&"5a".repeat(32)).unwrap()),
        _dir: dir,
    }
}

impl Log {
    pub async fn append(&self, udid: &str, events: Vec<NewEvent>) {
        self.store.append(udid, ExpectedVersion::Any, events).await.unwrap();
    }

    /// The event ids receivers must get, in log order.
    pub async fn expected_ids(&self) -> Vec<String> {
        let all = self.store.read_all(1, 100_000).await.unwrap();
        all.iter()
            .filter(|e| route(&e.event_type).is_some())
            .map(|e| e.event_id.to_string())
            .collect()
    }

    /// Event id → global position.
    pub async fn positions(&self) -> HashMap<String, u64> {
        let all = self.store.read_all(1, 100_000).await.unwrap();
        all.iter()
            .map(|e| (e.event_id.to_string(), e.global_position))
            .collect()
    }

    pub async fn checkpoint(&self, url: &str) -> Option<u64> {
        self.readmodels.load_checkpoint(&checkpoint_name(url)).await.unwrap()
    }

    pub fn start(&self, config: WebhookConfig) -> webhook::WebhookHandle {
        webhook::spawn(self.store.clone(), self.readmodels.clone(), self.key.clone(), config).unwrap()
    }
}

pub fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        hmac_key: Some(HMAC_KEY.to_vec()),
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_millis(300),
        },
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(40),
        },
        ..WebhookConfig::new(url)
    }
}

pub fn who() -> IdentityRef {
    IdentityRef {
        fingerprint_sha256: "cd".repeat(32),
        proof: "mtls".into(),
        url_params: Default::default(),
    }
}

pub fn device(udid: &str) -> DeviceRef {
    DeviceRef {
        udid: Some(udid.into()),
        ..DeviceRef::default()
    }
}

pub fn plist(udid: &str, keys: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n\
         <key>UDID</key>\n<string>{udid}</string>\n{keys}</dict>\n</plist>\n"
    )
    .into_bytes()
}

pub fn event<E: EventData>(body: &E, raw: Option<Vec<u8>>) -> NewEvent {
    let mut e = NewEvent::new("cd".repeat(32), body);
    e.raw = raw.map(Into::into);
    e
}

pub fn authenticate(udid: &str) -> NewEvent {
    let body = Authenticate {
        device: device(udid),
        identity: who(),
        topic: "com.apple.mgmt.External.test".into(),
        generation: 1,
        serial_number: Some("C02TEST0001".into()),
        imei: None,
        meid: None,
        os_version: Some("17.4".into()),
        build_version: Some("21E219".into()),
        product_name: Some("iPhone15,2".into()),
        device_name: Some("Test iPhone".into()),
        model: None,
        model_name: Some("iPhone".into()),
    };
    let raw = plist(
        udid,
        "<key>MessageType</key>\n<string>Authenticate</string>\n<key>SerialNumber</key>\n<string>C02TEST0001</string>\n\
         <key>Topic</key>\n<string>com.apple.mgmt.External.test</string>\n",
    );
    event(&body, Some(raw))
}

pub fn token_update(key: &DataKey, udid: &str) -> NewEvent {
    let body = TokenUpdate {
        device: device(udid),
        identity: who(),
        topic: "com.apple.mgmt.External.test".into(),
        token_hex: "0a0b0c0d".into(),
        push_magic: key.seal(PUSH_MAGIC.as_bytes()).unwrap(),
        unlock_token: Some(key.seal(UNLOCK_TOKEN).unwrap()),
        awaiting_configuration: Some(false),
        user_short_name: None,
        user_long_name: None,
        token_update_tally: Some(1),
    };
    let raw = plist(
        udid,
        &format!(
            "<key>MessageType</key>\n<string>TokenUpdate</string>\n<key>PushMagic</key>\n<string>{PUSH_MAGIC}</string>\n\
             <key>Token</key>\n<data>CgsMDQ==</data>\n<key>Topic</key>\n<string>com.apple.mgmt.External.test</string>\n\
             <key>UnlockToken</key>\n<data>{}</data>\n",
            B64.encode(UNLOCK_TOKEN)
        ),
    );
    event(&body, Some(key.seal_raw(&raw).unwrap()))
}

pub fn set_bootstrap_token(key: &DataKey, udid: &str) -> NewEvent {
    let body = SetBootstrapToken {
        device: device(udid),
        identity: who(),
        bootstrap_token: Some(key.seal(BOOTSTRAP_TOKEN).unwrap()),
        awaiting_configuration: None,
    };
    let raw = plist(
        udid,
        &format!(
            "<key>MessageType</key>\n<string>SetBootstrapToken</string>\n<key>BootstrapToken</key>\n<data>{}</data>\n",
            B64.encode(BOOTSTRAP_TOKEN)
        ),
    );
    event(&body, Some(key.seal_raw(&raw).unwrap()))
}

pub fn idle(udid: &str) -> NewEvent {
    let body = Idle {
        device: device(udid),
        identity: who(),
    };
    event(&body, Some(plist(udid, "<key>Status</key>\n<string>Idle</string>\n")))
}

pub fn queued_and_delivered(command_uuid: &str) -> Vec<NewEvent> {
    let queued = CommandQueued {
        command_uuid: command_uuid.into(),
        request_type: "DeviceInformation".into(),
        generation: 1,
        idempotency_key: None,
        reason: None,
        expires_at: None,
        raw_sealed: false,
        identity_fingerprint_sha256: None,
    };
    let delivered = CommandDelivered {
        command_uuid: command_uuid.into(),
        request_type: "DeviceInformation".into(),
        attempt: 1,
        identity: who(),
    };
    vec![event(&queued, None), event(&delivered, None)]
}

/// A command result; `extra` holds the answer's keys.
pub fn acknowledged(udid: &str, command_uuid: &str, extra: &str) -> NewEvent {
    let body = CommandAcknowledged {
        command_uuid: command_uuid.into(),
        request_type: "DeviceInformation".into(),
        device: device(udid),
        identity: who(),
    };
    let raw = plist(
        udid,
        &format!("<key>CommandUUID</key>\n<string>{command_uuid}</string>\n<key>Status</key>\n<string>Acknowledged</string>\n{extra}"),
    );
    event(&body, Some(raw))
}

pub fn device_information(udid: &str, command_uuid: &str) -> NewEvent {
    acknowledged(
        udid,
        command_uuid,
        "<key>QueryResponses</key>\n<dict>\n<key>DeviceName</key>\n<string>Test iPhone</string>\n\
         <key>OSVersion</key>\n<string>17.4</string>\n</dict>\n",
    )
}

/// One enrollment's worth of realistic traffic: check-ins, a queued command, Idle, the answer.
pub async fn enroll(log: &Log, udid: &str) {
    log.append(udid, vec![authenticate(udid), token_update(&log.key, udid)])
        .await;
    let command = format!("cmd-{udid}");
    log.append(udid, queued_and_delivered(&command)).await;
    log.append(udid, vec![idle(udid), device_information(udid, &command)])
        .await;
}

pub fn raw_payload(json: &Json) -> Vec<u8> {
    let inner = json
        .get("checkin_event")
        .or_else(|| json.get("acknowledge_event"))
        .unwrap();
    B64.decode(inner["raw_payload"].as_str().unwrap()).unwrap()
}

/// Idle polls and command answers for `devices` devices, `rounds` of each.
pub async fn traffic(log: &Log, devices: usize, rounds: usize) {
    for round in 0..rounds {
        for d in 0..devices {
            let udid = format!("UDID-{d}");
            let cmd = format!("cmd-{round}-{d}");
            log.append(&udid, vec![idle(&udid), device_information(&udid, &cmd)])
                .await;
        }
    }
}

/// Runs a sink started by `start` in a runtime of its own and tears that runtime down once
/// `far_enough` says so: no shutdown, no final checkpoint save, as in a crash. (A blocking
/// thread, so the test's runtime — a receiver, a NATS client — keeps running meanwhile.)
pub async fn crash_mid_stream<H: Send + 'static>(
    start: impl FnOnce() -> H + Send + 'static,
    mut far_enough: impl FnMut() -> bool + Send + 'static,
) {
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.block_on(async { start() });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !far_enough() {
            assert!(std::time::Instant::now() < deadline, "the sink did not get going");
            std::thread::sleep(Duration::from_millis(1));
        }
        rt.shutdown_background();
        drop(handle);
    })
    .await
    .unwrap();
}
