//! Command status: the life of a command from queued to its end.

use annal_schemas::events::command::{CancelReason, CommandCancelled, CommandExpired, ErrorChainItem};

use super::support::{at, Log, ADMIN};
use crate::commands::CommandState;
use crate::synthetic::{queued, FakeDevice};
use crate::{AsOf, Projections};

#[test]
fn full_life_of_a_command_with_its_times() {
    let d = FakeDevice::new(1);
    let mut log = Log::new();
    log.enroll(&d); // t0+0..2
    let queued_pos = log.queue(&d, "C1", "InstallProfile"); // t0+3
    log.push(&d); // attempted t0+4, accepted t0+5
    log.idle(&d); // t0+6
    log.system(&d, d.delivered("C1", "InstallProfile", 1)); // t0+7
    let first_not_now = log.device(&d, d.not_now("C1", "InstallProfile"), None); // t0+8
    log.push(&d); // after delivery: not the command's push time (t0+9, t0+10)
    log.idle(&d); // t0+11
    log.system(&d, d.delivered("C1", "InstallProfile", 2)); // t0+12
    log.device(&d, d.not_now("C1", "InstallProfile"), None); // t0+13
    log.idle(&d); // t0+14
    log.system(&d, d.delivered("C1", "InstallProfile", 3)); // t0+15
    let result = log.ack(&d, "C1", "InstallProfile", plist::Dictionary::new()); // t0+16

    let p = log.fold();
    let c = p.commands().get(&d.udid, "C1").unwrap();
    assert_eq!(c.request_type, "InstallProfile");
    assert_eq!(c.class, "installation");
    assert_eq!(c.requester, ADMIN);
    assert_eq!(c.reason.as_deref(), Some("ticket for InstallProfile"));
    assert_eq!((c.queued_at, c.queued_position), (at(3), queued_pos));
    assert_eq!(c.pushed_at, Some(at(5)));
    assert_eq!(c.delivered_at, Some(at(7)));
    assert_eq!(c.deliveries, 3);
    assert_eq!((c.not_now_count, c.last_not_now_at), (2, Some(at(13))));
    assert_eq!(c.status, CommandState::Acknowledged);
    assert_eq!((c.completed_at, c.result_position), (Some(at(16)), Some(result)));
    assert!(p.commands().queue(&d.udid).is_empty());
    assert_eq!(p.devices().get(&d.udid).unwrap().pending_commands, 0);

    // As of the first NotNow the command was still queued, answered NotNow once.
    let then = Projections::fold_as_of(log.events(), AsOf::Position(first_not_now));
    let c = then.commands().get(&d.udid, "C1").unwrap();
    assert_eq!(
        (c.status, c.not_now_count, c.completed_at),
        (CommandState::NotNow, 1, None)
    );
    assert_eq!(then.commands().queue(&d.udid).len(), 1);
    assert_eq!(then.devices().get(&d.udid).unwrap().pending_commands, 1);
}

#[test]
fn an_error_keeps_the_error_chain() {
    let d = FakeDevice::new(2);
    let mut log = Log::new();
    log.enroll(&d);
    log.queue(&d, "C1", "RemoveProfile");
    log.idle(&d);
    log.system(&d, d.delivered("C1", "RemoveProfile", 1));
    let chain = vec![
        ErrorChainItem {
            error_code: 12_079,
            error_domain: "MCProfileErrorDomain".into(),
            localized_description: Some("The profile is not installed.".into()),
            us_english_description: None,
        },
        ErrorChainItem {
            error_code: 4,
            error_domain: "MDMErrorDomain".into(),
            localized_description: None,
            us_english_description: Some("Removal failed".into()),
        },
    ];
    let at_error = log.builder.now();
    log.device(&d, d.errored("C1", "RemoveProfile", chain.clone()), None);

    let p = log.fold();
    let c = p.commands().get(&d.udid, "C1").unwrap();
    assert_eq!(c.status, CommandState::Error);
    assert_eq!(c.error_chain, chain);
    assert_eq!(c.completed_at, Some(at_error));
    assert_eq!(p.devices().get(&d.udid).unwrap().pending_commands, 0);
}

#[test]
fn cancelled_by_an_admin_and_by_re_enrollment() {
    let d = FakeDevice::new(3);
    let mut log = Log::new();
    log.enroll(&d);
    log.queue(&d, "A", "EraseDevice");
    log.queue(&d, "B", "DeviceInformation");
    log.queue(&d, "C", "ProfileList");
    let cancel = |uuid: &str, reason| CommandCancelled {
        command_uuid: uuid.into(),
        reason,
        note: None,
    };
    log.builder
        .record(&d.key(), ADMIN, &cancel("A", CancelReason::Admin), None);
    assert_eq!(log.fold().devices().get(&d.udid).unwrap().pending_commands, 2);

    // The device re-enrolls: the domain cancels the previous generation's queue.
    let now = log.builder.now();
    log.device(&d, d.authenticate(2), None);
    log.device(&d, cancel("B", CancelReason::Reenrolled), None);
    log.device(&d, cancel("C", CancelReason::Reenrolled), None);
    log.system(&d, d.identity_bound(2, now));
    log.device(&d, d.token_update(), None);
    // A late answer to a cancelled command is in the log but changes nothing.
    log.ack(&d, "B", "DeviceInformation", plist::Dictionary::new());

    let p = log.fold();
    let status = |uuid| {
        let c = p.commands().get(&d.udid, uuid).unwrap();
        (c.status, c.cancel_reason)
    };
    assert_eq!(status("A"), (CommandState::Cancelled, Some(CancelReason::Admin)));
    assert_eq!(status("B"), (CommandState::Cancelled, Some(CancelReason::Reenrolled)));
    assert_eq!(status("C"), (CommandState::Cancelled, Some(CancelReason::Reenrolled)));
    assert_eq!(p.commands().get(&d.udid, "B").unwrap().result_position, None);
    let device = p.devices().get(&d.udid).unwrap();
    assert_eq!((device.generation, device.pending_commands), (2, 0));
    assert!(p.commands().queue(&d.udid).is_empty());
}

#[test]
fn expiry_ends_a_queued_command_at_its_expiry_time() {
    let d = FakeDevice::new(4);
    let mut log = Log::new();
    log.enroll(&d);
    let mut body = queued("C1", "CertificateList", 1);
    body.expires_at = Some(at(60));
    log.queue_body(&d, body);
    log.builder.advance(chrono::TimeDelta::minutes(5));
    log.idle(&d);
    log.device(
        &d,
        CommandExpired {
            command_uuid: "C1".into(),
            expired_at: at(330),
        },
        None,
    );

    let p = log.fold();
    let c = p.commands().get(&d.udid, "C1").unwrap();
    assert_eq!(
        (c.status, c.expires_at, c.completed_at),
        (CommandState::Expired, Some(at(60)), Some(at(330)))
    );
    assert_eq!(c.delivered_at, None);
    assert!(p.commands().queue(&d.udid).is_empty());
}

#[test]
fn the_queue_is_fifo_and_a_retried_answer_changes_nothing() {
    let d = FakeDevice::new(5);
    let mut log = Log::new();
    log.enroll(&d);
    for uuid in ["Q1", "Q2", "Q3"] {
        log.queue(&d, uuid, "ProfileList");
    }
    log.idle(&d);
    log.system(&d, d.delivered("Q2", "ProfileList", 1));
    let first = log.ack(&d, "Q2", "ProfileList", plist::Dictionary::new());
    log.ack(&d, "Q2", "ProfileList", plist::Dictionary::new());

    let p = log.fold();
    let queue: Vec<String> = p
        .commands()
        .queue(&d.udid)
        .into_iter()
        .map(|c| c.command_uuid)
        .collect();
    assert_eq!(queue, ["Q1", "Q3"]);
    assert_eq!(p.commands().get(&d.udid, "Q2").unwrap().result_position, Some(first));
    let history: Vec<String> = p
        .commands()
        .for_enrollment(&d.udid)
        .into_iter()
        .map(|c| c.command_uuid)
        .collect();
    assert_eq!(history, ["Q1", "Q2", "Q3"]);
}

#[test]
fn a_fan_out_is_counted_per_status() {
    let devices: Vec<FakeDevice> = (10..14).map(FakeDevice::new).collect();
    let mut log = Log::new();
    for d in &devices {
        log.enroll(d);
        log.queue(d, "FAN", "DeviceInformation");
    }
    log.idle(&devices[0]);
    log.system(&devices[0], devices[0].delivered("FAN", "DeviceInformation", 1));
    log.ack(&devices[0], "FAN", "DeviceInformation", plist::Dictionary::new());
    log.system(&devices[1], devices[1].delivered("FAN", "DeviceInformation", 1));
    log.device(&devices[1], devices[1].not_now("FAN", "DeviceInformation"), None);
    log.system(&devices[2], devices[2].delivered("FAN", "DeviceInformation", 1));

    let p = log.fold();
    let fan = p.commands().fan_out("FAN");
    let owners: Vec<&str> = fan.commands.iter().map(|c| c.enrollment.as_str()).collect();
    let mut expected: Vec<&str> = devices.iter().map(|d| d.udid.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(owners, expected);
    let counts: Vec<(CommandState, usize)> = fan.counts.into_iter().collect();
    assert_eq!(
        counts,
        [
            (CommandState::Queued, 1),
            (CommandState::Delivered, 1),
            (CommandState::NotNow, 1),
            (CommandState::Acknowledged, 1)
        ]
    );
    assert!(p.commands().by_command_uuid("NOPE").is_empty());
}

#[test]
fn a_command_uuid_queued_again_after_it_ended_starts_a_new_life() {
    let d = FakeDevice::new(6);
    let mut log = Log::new();
    log.enroll(&d);
    log.queue(&d, "R", "ProfileList");
    log.ack(&d, "R", "ProfileList", plist::Dictionary::new());
    let again = log.queue(&d, "R", "ProfileList");

    let p = log.fold();
    let all = p.commands().by_command_uuid("R");
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].status, all[0].queued_position), (CommandState::Queued, again));
    assert_eq!(p.commands().queue(&d.udid).len(), 1);
}

/// `pushed_at` is when APNs took a push for the device: attempts that failed (APNs down, the
/// certificate refused) woke nobody, so they leave it as it was.
#[test]
fn only_an_accepted_push_is_the_command_s_push() {
    use crate::synthetic::{push_attempted, push_failed};
    let d = FakeDevice::new(1);
    let mut log = Log::new();
    log.enroll(&d); // t0+0..2
    log.queue(&d, "C1", "DeviceLock"); // t0+3
    log.system(&d, push_attempted(90)); // t0+4
    log.system(&d, push_failed(90, 503, "ServiceUnavailable", false)); // t0+5
    let p = log.fold();
    assert_eq!(p.commands().get(&d.udid, "C1").unwrap().pushed_at, None);
    assert_eq!(p.audit().get(&d.udid, "C1").unwrap().pushed_at, None);
    log.push(&d); // attempted t0+6, accepted t0+7
    log.system(&d, push_attempted(91)); // t0+8, fails again
    log.system(&d, push_failed(91, 503, "ServiceUnavailable", false)); // t0+9
    let p = log.fold();
    assert_eq!(p.commands().get(&d.udid, "C1").unwrap().pushed_at, Some(at(7)));
    assert_eq!(p.audit().get(&d.udid, "C1").unwrap().pushed_at, Some(at(7)));
}
