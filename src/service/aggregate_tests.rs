//! The runner against a real store, with the API key ring as the aggregate: two repositories
//! on one log stand for two nodes.

use std::sync::Arc;

use annal_schemas::events::apikey::Role;

use super::*;
use crate::domain::api_keys::{KeyRefusal, KeyRing, STREAM};
use crate::service::api_keys::KeyCommand;
use crate::store::SqliteStore;

fn create(name: &str, key_id: &str) -> KeyCommand {
    KeyCommand::Create {
        name: name.into(),
        role: Role::Operator,
        key_id: key_id.into(),
        secret: "s".into(),
    }
}

fn revoke(key_id: &str) -> KeyCommand {
    KeyCommand::Revoke {
        key_id: key_id.into(),
        reason: None,
    }
}

fn cached(confirm_unappended: bool) -> Options {
    Options {
        cache: Some((4, 16)),
        confirm_unappended,
        ..Options::default()
    }
}

#[tokio::test]
async fn a_stale_cache_loses_the_append_catches_up_and_decides_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("log.db")).expect("store"));
    let (node1, node2) = (
        Repository::<KeyRing>::new(store.clone(), cached(true)),
        Repository::<KeyRing>::new(store.clone(), cached(true)),
    );
    node1
        .run(STREAM, &create("a", "1111111111111111"), "t", &NoHooks)
        .await
        .expect("first");
    node2.load(STREAM).await.expect("node 2 caches version 1");
    node1
        .run(STREAM, &create("b", "2222222222222222"), "t", &NoHooks)
        .await
        .expect("second");
    // Node 2's cache is at version 1: its append at 1 conflicts, it catches up to 2 and the
    // name is then taken.
    let refused = node2.run(STREAM, &create("b", "3333333333333333"), "t", &NoHooks).await;
    assert!(
        matches!(refused, Err(RunError::Refused(KeyRefusal::NameTaken(ref n))) if n == "b"),
        "{refused:?}"
    );
    let (decided, ()) = node2
        .run(STREAM, &create("c", "4444444444444444"), "t", &NoHooks)
        .await
        .expect("appended at 3");
    assert_eq!(decided.events().len(), 1);
    assert_eq!(node2.cached(STREAM).map(|l| l.version), Some(3));
}

#[tokio::test]
async fn a_refusal_on_a_cached_state_is_confirmed_against_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("log.db")).expect("store"));
    let node1 = Repository::<KeyRing>::new(store.clone(), cached(true));
    let node2 = Repository::<KeyRing>::new(store.clone(), cached(true));
    node1
        .run(STREAM, &create("a", "1111111111111111"), "t", &NoHooks)
        .await
        .expect("a");
    node2.load(STREAM).await.expect("cached at 1");
    node1
        .run(STREAM, &create("b", "2222222222222222"), "t", &NoHooks)
        .await
        .expect("b");
    // Node 2's cache does not know key 2: deciding on it alone would refuse (unknown key).
    node2
        .run(STREAM, &revoke("2222222222222222"), "t", &NoHooks)
        .await
        .expect("caught up, revoked");
    assert_eq!(node2.cached(STREAM).map(|l| l.version), Some(3));
}

#[tokio::test]
async fn an_unconfirming_runner_decides_on_a_fresh_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("log.db")).expect("store"));
    let node1 = Repository::<KeyRing>::new(store.clone(), cached(false));
    let node2 = Repository::<KeyRing>::new(store.clone(), cached(false));
    node2.load(STREAM).await.expect("empty");
    node1
        .run(STREAM, &create("a", "1111111111111111"), "t", &NoHooks)
        .await
        .expect("a");
    node2
        .run(STREAM, &revoke("1111111111111111"), "t", &NoHooks)
        .await
        .expect("read first");
    let again = node1.run(STREAM, &revoke("1111111111111111"), "t", &NoHooks).await;
    assert!(
        matches!(again, Err(RunError::Refused(KeyRefusal::AlreadyRevoked(_)))),
        "{again:?}"
    );
}

#[tokio::test]
async fn no_attempt_left_is_contention() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("log.db")).expect("store"));
    let options = Options {
        max_attempts: 0,
        ..Options::default()
    };
    let repo = Repository::<KeyRing>::new(store, options);
    let result = repo.run(STREAM, &create("a", "1111111111111111"), "t", &NoHooks).await;
    assert!(
        matches!(result, Err(RunError::Contention(ref s)) if s == STREAM),
        "{result:?}"
    );
}

/// A one-time SCEP challenge through the runner: two nodes load it unused, both try to consume
/// it; the second's append conflicts, it catches up and is refused. One certificate per
/// challenge, however the requests race.
#[tokio::test]
async fn a_one_time_challenge_is_consumed_once_across_nodes() {
    use crate::domain::scep_challenges::{stream, Challenge, ChallengeRefusal, Consume};
    use annal_schemas::events::scep::ScepChallengeIssued;
    use annal_schemas::NewEvent;

    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("log.db")).expect("store"));
    let sha = "ab".repeat(32);
    let issued = ScepChallengeIssued {
        challenge_sha256: sha.clone(),
        expires_at: None,
        enrollment_token_id: None,
        udid: None,
        serial_number: None,
        admin_bound: false,
    };
    store
        .append(
            &stream(&sha),
            ExpectedVersion::NoStream,
            vec![NewEvent::new("admin", &issued)],
        )
        .await
        .expect("issued");
    let (node1, node2) = (
        Repository::<Challenge>::new(store.clone(), Options::default()),
        Repository::<Challenge>::new(store.clone(), Options::default()),
    );
    let (loaded1, loaded2) = (
        node1.load(&stream(&sha)).await.expect("node 1"),
        node2.load(&stream(&sha)).await.expect("node 2"),
    );
    let consume = |transaction_id: &str| Consume {
        challenge_sha256: sha.clone(),
        transaction_id: transaction_id.into(),
        subject: "CN=device".into(),
        token_revoked: false,
        now: chrono::Utc::now(),
    };
    node1
        .run_from(&stream(&sha), loaded1, &consume("t1"), "scep", &NoHooks)
        .await
        .expect("the first use");
    let second = node2
        .run_from(&stream(&sha), loaded2, &consume("t2"), "scep", &NoHooks)
        .await;
    assert!(
        matches!(second, Err(RunError::Refused(ChallengeRefusal::AlreadyUsed))),
        "{second:?}"
    );
    let events = store.read_stream(&stream(&sha), 1, 10).await.expect("read");
    assert_eq!(events.len(), 2, "issued, consumed once");
}
