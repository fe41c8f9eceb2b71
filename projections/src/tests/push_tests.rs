//! Push health: outcomes, dead tokens and devices that do not answer.

use chrono::TimeDelta;

use super::support::{at, Log};
use crate::synthetic::{push_accepted, push_attempted, push_failed, FakeDevice};

#[test]
fn a_dead_token_is_marked_and_a_token_update_clears_it() {
    let d = FakeDevice::new(1);
    let mut log = Log::new();
    log.enroll(&d); // t0+0..2
    log.queue(&d, "C1", "ProfileList"); // t0+3
    log.system(&d, push_attempted(1)); // t0+4
    log.system(&d, push_failed(1, 410, "Unregistered", true)); // t0+5
    log.system(&d, push_attempted(2)); // t0+6
    log.system(&d, push_failed(2, 429, "TooManyRequests", false)); // t0+7

    let p = log.fold();
    let push = p.push().get(&d.udid).unwrap();
    assert_eq!((push.pushes, push.failures, push.consecutive_failures), (2, 2, 2));
    assert_eq!(push.last_push_outcome.as_deref(), Some("failed 429 TooManyRequests"));
    assert_eq!(push.last_push_at, Some(at(6)));
    assert!(push.token_dead, "a later non-fatal failure does not revive the token");
    assert!(p.devices().get(&d.udid).unwrap().token_dead);
    assert_eq!((push.unanswered, push.unanswered_since), (true, Some(at(4))));
    assert_eq!(push.pending_commands, 1);
    let dead = p.push().token_dead(None, 10);
    assert_eq!(dead.items.len(), 1);

    log.device(&d, d.token_update(), None); // t0+8
    log.system(&d, push_attempted(3)); // t0+9
    log.system(&d, push_accepted(3)); // t0+10
    let p = log.fold();
    let push = p.push().get(&d.udid).unwrap();
    assert!(!push.token_dead);
    assert!(!p.devices().get(&d.udid).unwrap().token_dead);
    assert_eq!((push.pushes, push.failures, push.consecutive_failures), (3, 2, 0));
    assert_eq!(push.last_push_outcome.as_deref(), Some("accepted"));
    assert_eq!(push.last_seen_at, Some(at(8)));
    assert_eq!((push.unanswered, push.unanswered_since), (true, Some(at(9))));
    assert!(p.push().token_dead(None, 10).items.is_empty());
}

#[test]
fn devices_pushed_and_silent_for_longer_than_a_limit() {
    let quiet = FakeDevice::new(2);
    let chatty = FakeDevice::new(3);
    let never_pushed = FakeDevice::new(4);
    let mut log = Log::new();
    for d in [&quiet, &chatty, &never_pushed] {
        log.enroll(d); // t0+0..8
    }
    log.push(&quiet); // t0+9, 10
    log.push(&chatty); // t0+11, 12
    log.idle(&chatty); // t0+13: answered
    log.push(&quiet); // t0+14, 15: silence counts from the first unanswered push

    let p = log.fold();
    let silent = |now, minutes| -> Vec<String> {
        let page = p.push().silent(now, TimeDelta::minutes(minutes), None, 10);
        page.items.into_iter().map(|r| r.enrollment).collect()
    };
    assert_eq!(silent(at(9 + 5 * 60 + 1), 5), [quiet.udid.as_str()]);
    assert!(silent(at(9 + 5 * 60), 5).is_empty());
    let chatty_push = p.push().get(&chatty.udid).unwrap();
    assert_eq!(
        (chatty_push.unanswered, chatty_push.last_seen_at),
        (false, Some(at(13)))
    );
    assert_eq!(p.push().get(&never_pushed.udid).unwrap().pushes, 0);
}

#[test]
fn a_version_1_push_failure_reads_as_version_2() {
    let d = FakeDevice::new(5);
    let mut log = Log::new();
    log.enroll(&d);
    let v1 = serde_json::json!({"push_id": uuid::Uuid::nil(), "error": "400 BadDeviceToken"});
    let stream = format!("enrollment-{}", d.udid);
    log.builder.record_raw(
        &stream,
        "system",
        "PushFailed",
        1,
        serde_json::to_vec(&v1).unwrap(),
        None,
    );

    let p = log.fold();
    let push = p.push().get(&d.udid).unwrap();
    assert!(push.token_dead);
    assert_eq!(push.last_push_outcome.as_deref(), Some("failed 400 BadDeviceToken"));
}
