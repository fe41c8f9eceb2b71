//! The commands use case in process, without HTTP: the answer policy, per-target outcomes,
//! refusals of a whole request, and cancelling.

use std::collections::BTreeMap;
use std::sync::Arc;

use annal_schemas::events::apikey::Role;
use annal_schemas::events::checkin::Authenticate;
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{NewEvent, RecordedEvent};
use async_trait::async_trait;
use tokio::sync::watch;

use super::*;
use crate::push::{ApnsConfig, PushSettings};
use crate::service::admin::{AdminError, Caller};
use crate::store::{AppendResult, Capabilities, EventStore, ExpectedVersion, Head, SqliteStore, StoreError};

fn admin() -> Caller {
    Caller {
        actor: "api-key:test".into(),
        role: Role::Admin,
    }
}

fn operator() -> Caller {
    Caller {
        actor: "api-key:ops".into(),
        role: Role::Operator,
    }
}

/// Everything the use case needs, on `store`; no push certificate is installed.
struct Fixture {
    store: Arc<dyn EventStore>,
    enrollments: Enrollments,
    data_key: DataKey,
    push: Arc<PushService>,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    fn on(store: Arc<dyn EventStore>, dir: Option<tempfile::TempDir>) -> Self {
        let data_key = DataKey::from_hex(&"11".repeat(32)).expect("a 32-byte key");
        let push = PushService::new(
            store.clone(),
            Arc::new(Enrollments::new(store.clone())),
            Arc::new(DataKey::from_hex(&"11".repeat(32)).expect("a 32-byte key")),
            PushSettings::new(ApnsConfig::new("https://127.0.0.1:9")),
        );
        Self {
            enrollments: Enrollments::new(store.clone()),
            store,
            data_key,
            push,
            _dir: dir,
        }
    }

    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(dir.path().join("annal.db")).expect("a SQLite store");
        Self::on(Arc::new(store), Some(dir))
    }

    fn commands(&self) -> Commands<'_> {
        Commands::new(&self.enrollments, &self.data_key, &self.push)
    }

    /// An enrollment that has authenticated (so it takes commands).
    async fn authenticated(&self, id: &str) {
        let body = Authenticate {
            device: DeviceRef {
                udid: Some(id.into()),
                ..DeviceRef::default()
            },
            identity: IdentityRef {
                fingerprint_sha256: format!("{id:0>64}"),
                proof: "mdm-signature".into(),
                url_params: Default::default(),
            },
            topic: "com.apple.mgmt.test".into(),
            generation: 1,
            serial_number: None,
            imei: None,
            meid: None,
            os_version: None,
            build_version: None,
            product_name: None,
            device_name: None,
            model: None,
            model_name: None,
        };
        self.store
            .append(
                &format!("enrollment-{id}"),
                ExpectedVersion::NoStream,
                vec![NewEvent::new("device", &body)],
            )
            .await
            .expect("appended");
    }
}

fn raw(request_type: &str, uuid: &str) -> CommandSource {
    let plist = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><plist version=\"1.0\"><dict>\
         <key>CommandUUID</key><string>{uuid}</string>\
         <key>Command</key><dict><key>RequestType</key><string>{request_type}</string></dict>\
         </dict></plist>"
    );
    CommandSource::Raw(plist.into_bytes().into())
}

fn request(targets: &[&str], command: CommandSource) -> EnqueueRequest {
    EnqueueRequest {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        selection: None,
        command,
        idempotency_key: None,
        // Destructive commands need one (`domain::rails`); the rails test takes it away.
        reason: Some("INC-1: test".into()),
        confirm_count: None,
        expires_at: None,
        no_push: false,
    }
}

fn queued(uuid: &str) -> TargetOutcome {
    TargetOutcome::Queued {
        command_uuid: uuid.into(),
        duplicate: false,
    }
}

#[test]
fn the_answer_is_unavailable_only_when_the_store_refused_every_enrollment() {
    let refused = || TargetOutcome::Refused(AdminError::NotFound("no such enrollment".into()));
    let unavailable = || TargetOutcome::Refused(AdminError::Unavailable("down".into()));
    let overall = |o: Vec<TargetOutcome>| Overall::of(o.iter());
    assert_eq!(overall(vec![queued("C"), queued("C")]), Overall::AllQueued);
    assert_eq!(overall(vec![unavailable()]), Overall::Unavailable);
    assert_eq!(overall(vec![unavailable(), unavailable()]), Overall::Unavailable);
    assert_eq!(overall(vec![queued("C"), unavailable()]), Overall::Partial);
    assert_eq!(overall(vec![refused(), unavailable()]), Overall::Partial);
    assert_eq!(overall(vec![refused()]), Overall::Partial);
}

#[test]
fn an_idempotent_retry_names_the_command_first_queued() {
    let outcomes = |o: Vec<(&str, TargetOutcome)>| -> BTreeMap<String, TargetOutcome> {
        o.into_iter().map(|(id, o)| (id.to_string(), o)).collect()
    };
    let retry = EnqueueResult::new("NEW".into(), "DeviceLock".into(), outcomes(vec![("a", queued("OLD"))]));
    assert_eq!(retry.command_uuid, "OLD");
    let mixed = EnqueueResult::new(
        "NEW".into(),
        "DeviceLock".into(),
        outcomes(vec![("a", queued("OLD")), ("b", queued("NEW"))]),
    );
    assert_eq!(mixed.command_uuid, "NEW");
    let partial = EnqueueResult::new(
        "NEW".into(),
        "DeviceLock".into(),
        outcomes(vec![
            ("a", queued("OLD")),
            ("b", TargetOutcome::Refused(AdminError::Conflict("x".into()))),
        ]),
    );
    assert_eq!(partial.command_uuid, "NEW");
    assert_eq!(partial.queued().collect::<Vec<_>>(), ["a"]);
}

#[tokio::test]
async fn every_enrollment_took_it() {
    let f = Fixture::sqlite();
    f.authenticated("E1").await;
    f.authenticated("E2").await;
    let result = f
        .commands()
        .enqueue(&admin(), request(&["E1,E2"], raw("EraseDevice", "ERASE-1")))
        .await
        .expect("queued");
    assert_eq!(result.overall, Overall::AllQueued);
    assert_eq!(result.command_uuid, "ERASE-1");
    assert_eq!(result.request_type, "EraseDevice");
    assert_eq!(result.queued().collect::<Vec<_>>(), ["E1", "E2"]);
    // No push certificate: said, not skipped.
    assert_eq!(result.push, PushRequest::NotConfigured);
    // Asked again, it is a duplicate, still all queued.
    let again = f
        .commands()
        .enqueue(&admin(), request(&["E1"], raw("EraseDevice", "ERASE-1")))
        .await
        .expect("answered");
    assert_eq!(again.overall, Overall::AllQueued);
    assert!(matches!(
        again.outcomes["E1"],
        TargetOutcome::Queued { duplicate: true, .. }
    ));
}

#[tokio::test]
async fn a_destructive_command_without_its_reason_or_confirmed_count_queues_nothing() {
    let f = Fixture::sqlite();
    let ids: Vec<String> = (0..11).map(|i| format!("R{i}")).collect();
    for id in &ids {
        f.authenticated(id).await;
    }
    let targets: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut unexplained = request(&targets[..1], raw("EraseDevice", "WIPE-1"));
    unexplained.reason = Some("   ".into());
    let refused = f.commands().enqueue(&admin(), unexplained).await;
    assert!(
        matches!(&refused, Err(AdminError::Invalid { path: Some(p), .. }) if p == "reason"),
        "{refused:?}"
    );
    let uncounted = f
        .commands()
        .enqueue(&admin(), request(&targets, raw("DeviceLock", "LOCK-1")))
        .await;
    assert!(
        matches!(&uncounted, Err(AdminError::Invalid { path: Some(p), message }) if p == "confirm_count" && message.contains("11")),
        "{uncounted:?}"
    );
    let mut miscounted = request(&targets, raw("DeviceLock", "LOCK-1"));
    miscounted.confirm_count = Some(10);
    assert!(f.commands().enqueue(&admin(), miscounted).await.is_err());
    // Nothing reached any device's stream: each still holds only its Authenticate.
    for id in &ids {
        let stream = f
            .store
            .read_stream(&format!("enrollment-{id}"), 1, 10)
            .await
            .expect("read");
        assert_eq!(
            stream.len(),
            1,
            "{id}: {:?}",
            stream.iter().map(|e| &e.event_type).collect::<Vec<_>>()
        );
    }
    let mut counted = request(&targets, raw("DeviceLock", "LOCK-1"));
    counted.confirm_count = Some(11);
    let result = f.commands().enqueue(&admin(), counted).await.expect("queued");
    assert_eq!(result.overall, Overall::AllQueued);
    // A routine command needs neither.
    let mut routine = request(&targets, raw("DeviceInformation", "DI-9"));
    routine.reason = None;
    assert_eq!(
        f.commands().enqueue(&admin(), routine).await.expect("queued").overall,
        Overall::AllQueued
    );
}

#[tokio::test]
async fn a_secret_bearing_command_is_stored_sealed() {
    let f = Fixture::sqlite();
    f.authenticated("E1").await;
    assert!(sealed("EraseDevice") || sealed("ClearPasscode"));
    let request_type = if sealed("EraseDevice") {
        "EraseDevice"
    } else {
        "ClearPasscode"
    };
    let mut req = request(&["E1"], raw(request_type, "S-1"));
    req.no_push = true;
    let result = f.commands().enqueue(&admin(), req).await.expect("queued");
    assert_eq!(result.push, PushRequest::NotRequested);
    let events: Vec<RecordedEvent> = f.store.read_stream("enrollment-E1", 1, 10).await.expect("read");
    let queued = events.last().expect("the CommandQueued event");
    let raw = queued.raw.as_deref().expect("the command is kept");
    assert!(annal_schemas::is_sealed_raw(raw), "stored sealed");
    assert!(!sealed("DeviceInformation"));
}

#[tokio::test]
async fn some_enrollments_did_not_take_it() {
    let f = Fixture::sqlite();
    f.authenticated("E1").await;
    let result = f
        .commands()
        .enqueue(&admin(), request(&["E1", "GHOST"], raw("DeviceInformation", "DI-1")))
        .await
        .expect("answered");
    assert_eq!(result.overall, Overall::Partial);
    assert!(result.outcomes["E1"].is_queued());
    assert!(
        matches!(&result.outcomes["GHOST"], TargetOutcome::Refused(AdminError::NotFound(m)) if m == "no such enrollment")
    );
}

#[tokio::test]
async fn a_store_that_is_down_makes_the_whole_answer_unavailable() {
    let f = Fixture::on(Arc::new(Down::default()), None);
    let result = f
        .commands()
        .enqueue(&admin(), request(&["E1", "E2"], raw("DeviceInformation", "DI-1")))
        .await
        .expect("answered per enrollment");
    assert_eq!(result.overall, Overall::Unavailable);
    assert!(result
        .outcomes
        .values()
        .all(|o| matches!(o, TargetOutcome::Refused(e) if e.is_unavailable())));
}

#[tokio::test]
async fn a_request_refused_whole_queues_nothing() {
    let f = Fixture::sqlite();
    f.authenticated("E1").await;
    let commands = f.commands();
    let forbidden = commands
        .enqueue(&operator(), request(&["E1"], raw("EraseDevice", "E-1")))
        .await;
    assert!(matches!(forbidden, Err(AdminError::Forbidden(_))), "{forbidden:?}");
    let misspelled = commands
        .enqueue(&admin(), request(&["E1"], raw("EraseDevice ", "E-1")))
        .await;
    assert!(
        matches!(&misspelled, Err(AdminError::Invalid { path: Some(p), .. }) if p == "RequestType"),
        "{misspelled:?}"
    );
    let bad_uuid = commands
        .enqueue(&admin(), request(&["E1"], raw("DeviceInformation", "no spaces")))
        .await;
    assert!(
        matches!(&bad_uuid, Err(AdminError::Invalid { path: Some(p), .. }) if p == "command_uuid"),
        "{bad_uuid:?}"
    );
    let none = commands
        .enqueue(&admin(), request(&[" , "], raw("DeviceInformation", "D")))
        .await;
    assert!(matches!(none, Err(AdminError::Invalid { .. })), "{none:?}");
    // Nothing but the Authenticate is in the log.
    assert_eq!(
        f.store.read_stream("enrollment-E1", 1, 10).await.expect("read").len(),
        1
    );
}

#[tokio::test]
async fn cancelling_a_command_that_is_not_pending_is_not_found() {
    let f = Fixture::sqlite();
    f.authenticated("E1").await;
    let commands = f.commands();
    let cancel = |uuid: &str| CancelRequest {
        target: "E1".into(),
        command_uuid: uuid.into(),
        reason: Some(" INC-7: queued to the wrong device ".into()),
    };
    let unknown = commands.cancel(&admin(), cancel("NEVER")).await;
    assert!(
        matches!(&unknown, Err(AdminError::NotFound(m)) if m == "no pending command NEVER for this enrollment"),
        "{unknown:?}"
    );
    commands
        .enqueue(&admin(), request(&["E1"], raw("DeviceInformation", "DI-1")))
        .await
        .expect("queued");
    let cancelled = commands.cancel(&operator(), cancel("DI-1")).await.expect("cancelled");
    assert_eq!(
        cancelled,
        Cancelled {
            enrollment: "E1".into(),
            command_uuid: "DI-1".into()
        }
    );
    // Who cancelled it is the event's actor; why, in the admin's words, its note.
    let events = f.store.read_stream("enrollment-E1", 1, 10).await.expect("read");
    let recorded = events
        .iter()
        .find(|e| e.event_type == "CommandCancelled")
        .expect("the cancellation is in the log");
    assert_eq!(recorded.actor, "api-key:ops");
    match recorded.decode() {
        Ok(annal_schemas::Event::CommandCancelled(c)) => {
            assert_eq!(c.note.as_deref(), Some("INC-7: queued to the wrong device"));
            assert_eq!(c.reason, annal_schemas::events::command::CancelReason::Admin);
        }
        other => panic!("{other:?}"),
    }
    // No longer pending: as for a command the device already answered.
    let again = commands.cancel(&admin(), cancel("DI-1")).await;
    assert!(matches!(again, Err(AdminError::NotFound(_))), "{again:?}");
    let nobody = commands
        .cancel(
            &admin(),
            CancelRequest {
                target: "GHOST".into(),
                command_uuid: "DI-1".into(),
                reason: None,
            },
        )
        .await;
    assert!(matches!(&nobody, Err(AdminError::NotFound(m)) if m == "no such enrollment"));
    let auditor = Caller {
        actor: "api-key:audit".into(),
        role: Role::Auditor,
    };
    assert!(matches!(
        commands.cancel(&auditor, cancel("DI-1")).await,
        Err(AdminError::Forbidden(_))
    ));
}

/// A store that cannot be reached.
struct Down {
    head: watch::Sender<u64>,
}

impl Default for Down {
    fn default() -> Self {
        Self {
            head: watch::channel(0).0,
        }
    }
}

fn down() -> StoreError {
    StoreError::Unavailable("connection refused".into())
}

#[async_trait]
impl EventStore for Down {
    async fn append(&self, _: &str, _: ExpectedVersion, _: Vec<NewEvent>) -> Result<AppendResult, StoreError> {
        Err(down())
    }

    async fn read_stream(&self, _: &str, _: u64, _: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        Err(down())
    }

    async fn read_all(&self, _: u64, _: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        Err(down())
    }

    async fn head(&self) -> Result<Head, StoreError> {
        Err(down())
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            dense_positions: true,
            global_hash_chain: true,
            log_wide_event_ids: true,
        }
    }

    async fn import(&self, _: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        Err(down())
    }
}
