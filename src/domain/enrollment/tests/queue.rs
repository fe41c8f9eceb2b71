//! The command queue: FIFO, re-delivery, NotNow, completion, expiry, cancellation.

use annal_schemas::Event;
use chrono::Duration;

use super::*;

#[test]
fn commands_are_delivered_in_fifo_order_one_at_a_time() {
    let state = given([enrolled(), vec![enqueue("c1", None, None), enqueue("c2", None, None)]].concat());
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!(types(&out), vec!["Idle", "CommandDelivered"]);
    assert_eq!(delivered(&out).as_deref(), Some("c1"));
    let state = given(
        [
            enrolled(),
            vec![
                enqueue("c1", None, None),
                enqueue("c2", None, None),
                report(ReportStatus::Idle, None),
            ],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::Acknowledged, Some("c1")), t0()).unwrap();
    assert_eq!(types(&out), vec!["CommandAcknowledged", "CommandDelivered"]);
    assert!(matches!(&out.events[0].0, Event::CommandAcknowledged(a) if a.request_type == "DeviceInformation"));
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
    let state = given(
        [
            enrolled(),
            vec![
                enqueue("c1", None, None),
                report(ReportStatus::Idle, None),
                report(ReportStatus::Acknowledged, Some("c1")),
            ],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!((types(&out), out.reply), (vec!["Idle"], Some(Reply::Empty)));
}

#[test]
fn an_unanswered_delivered_command_is_sent_again_on_the_next_idle() {
    let state = given(
        [
            enrolled(),
            vec![enqueue("c1", None, None), report(ReportStatus::Idle, None)],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!(delivered(&out).as_deref(), Some("c1"));
    assert!(matches!(&out.events[1].0, Event::CommandDelivered(d) if d.attempt == 2));
}

#[test]
fn not_now_skips_the_command_for_the_session_and_keeps_it_queued() {
    let base = [
        enrolled(),
        vec![
            enqueue("c1", None, None),
            enqueue("c2", None, None),
            report(ReportStatus::Idle, None),
        ],
    ]
    .concat();
    let out = decide(&given(base.clone()), report(ReportStatus::NotNow, Some("c1")), t0()).unwrap();
    assert_eq!(types(&out), vec!["CommandNotNow", "CommandDelivered"]);
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
    let after_c2 = [
        base.clone(),
        vec![
            report(ReportStatus::NotNow, Some("c1")),
            report(ReportStatus::NotNow, Some("c2")),
        ],
    ]
    .concat();
    let state = given(after_c2.clone());
    assert_eq!(state.queue.len(), 2, "NotNow keeps both queued");
    // Nothing left for this session…
    let out = decide(&given(base), report(ReportStatus::NotNow, Some("c1")), t0()).unwrap();
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
    // …and the next session (Idle) starts again with the oldest.
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!(delivered(&out).as_deref(), Some("c1"));
}

#[test]
fn not_now_on_the_last_command_ends_the_session() {
    let state = given(
        [
            enrolled(),
            vec![enqueue("c1", None, None), report(ReportStatus::Idle, None)],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::NotNow, Some("c1")), t0()).unwrap();
    assert_eq!((types(&out), out.reply), (vec!["CommandNotNow"], Some(Reply::Empty)));
}

#[test]
fn error_and_format_error_complete_the_command() {
    for status in [ReportStatus::Error, ReportStatus::CommandFormatError] {
        let state = given(
            [
                enrolled(),
                vec![enqueue("c1", None, None), report(ReportStatus::Idle, None)],
            ]
            .concat(),
        );
        let out = decide(&state, report(status, Some("c1")), t0()).unwrap();
        assert_eq!(out.reply, Some(Reply::Empty));
        let mut state = state;
        for (e, raw) in &out.events {
            state.evolve(e, raw.as_deref());
        }
        assert!(state.queue.is_empty(), "{status:?} completes");
    }
}

#[test]
fn expired_commands_are_recorded_and_never_delivered() {
    let state = given(
        [
            enrolled(),
            vec![enqueue("old", None, Some(t0())), enqueue("c2", None, None)],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::Idle, None), t0() + Duration::seconds(1)).unwrap();
    assert_eq!(types(&out), vec!["Idle", "CommandExpired", "CommandDelivered"]);
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
}

#[test]
fn enqueue_is_idempotent_on_its_key_and_cancel_needs_a_pending_command() {
    let state = given([enrolled(), vec![enqueue("c1", Some("k"), None)]].concat());
    let out = decide(&state, enqueue("c9", Some("k"), None), t0()).unwrap();
    assert!(out.events.is_empty());
    assert_eq!(
        out.reply,
        Some(Reply::Queued {
            command_uuid: "c1".into(),
            duplicate: true
        })
    );
    // Without a key, the same CommandUUID is not queued twice either.
    let out = decide(&state, enqueue("c1", None, None), t0()).unwrap();
    assert!(out.events.is_empty());
    assert_eq!(
        out.reply,
        Some(Reply::Queued {
            command_uuid: "c1".into(),
            duplicate: true
        })
    );
    let cancel = |uuid: &str| {
        Input::Admin(AdminInput::Cancel {
            command_uuid: uuid.into(),
            note: None,
        })
    };
    assert_eq!(
        types(&decide(&state, cancel("c1"), t0()).unwrap()),
        vec!["CommandCancelled"]
    );
    assert_eq!(
        decide(&state, cancel("nope"), t0()).unwrap_err(),
        Refusal::UnknownCommand("nope".into())
    );
}

#[test]
fn a_result_for_an_unknown_command_is_still_recorded() {
    let state = given(enrolled());
    let out = decide(&state, report(ReportStatus::Acknowledged, Some("ghost")), t0()).unwrap();
    assert_eq!(types(&out), vec!["CommandAcknowledged"]);
    assert!(matches!(&out.events[0].0, Event::CommandAcknowledged(a) if a.request_type.is_empty()));
}

fn unreadable(status: ReportStatus, uuid: &str) -> Input {
    device_input(
        DeviceInput::Report {
            status,
            command_uuid: Some(uuid.into()),
            error_chain: Vec::new(),
            unparseable: Some(annal_schemas::events::command::UnparseableReport {
                status: "Acknowledged".into(),
                detail: "malformed plist at QueryResponses.ProductName: not base64".into(),
                raw_length: 70_000,
                raw_truncated: true,
            }),
        },
        "A",
    )
}

/// An answer that cannot be read ends its command as an error and hands out the next command:
/// refusing it would make the device send it again forever.
#[test]
fn an_unreadable_answer_completes_the_command_as_an_error() {
    let base = vec![
        enqueue("c1", None, None),
        enqueue("c2", None, None),
        report(ReportStatus::Idle, None),
    ];
    let state = given([enrolled(), base.clone()].concat());
    let out = decide(&state, unreadable(ReportStatus::Acknowledged, "c1"), t0()).unwrap();
    assert_eq!(types(&out), vec!["CommandErrored", "CommandDelivered"]);
    match &out.events[0].0 {
        Event::CommandErrored(e) => {
            assert_eq!(
                (e.command_uuid.as_str(), e.request_type.as_str()),
                ("c1", "DeviceInformation")
            );
            assert_eq!(
                e.reason,
                Some(annal_schemas::events::command::ErrorReason::UnparseableReport)
            );
            let details = e.unparseable.as_ref().expect("details");
            assert!(details.raw_truncated && details.raw_length == 70_000);
            assert!(e.error_chain.is_empty());
        }
        other => panic!("expected CommandErrored, got {other:?}"),
    }
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
    // c1 left the queue: the next Idle hands out c2 again, never c1.
    let state = given(
        [
            enrolled(),
            base.clone(),
            vec![unreadable(ReportStatus::Acknowledged, "c1")],
        ]
        .concat(),
    );
    assert!(state.pending("c1").is_none());
    // The same unreadable answer again is recorded (the log keeps what the device said) and
    // answered like any retried result: no refusal, no re-delivery of c1.
    let out = decide(&state, unreadable(ReportStatus::Acknowledged, "c1"), t0()).unwrap();
    assert_eq!(types(&out), vec!["CommandErrored", "CommandDelivered"]);
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
    // Whatever the Status, an unreadable answer is an error, NotNow included.
    let state = given([enrolled(), base].concat());
    let out = decide(&state, unreadable(ReportStatus::NotNow, "c1"), t0()).unwrap();
    assert_eq!(types(&out)[0], "CommandErrored");
    assert!(!out.events.iter().any(|(e, _)| matches!(e, Event::CommandNotNow(_))));
}
