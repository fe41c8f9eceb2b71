//! DDM requests and the sync command: what each endpoint answers and records, and when a sync
//! is queued.

use std::sync::Arc;

use annal_schemas::events::command::CancelReason;
use annal_schemas::Event;

use super::*;
use crate::domain::declarations::{DeclSet, SetItem};
use crate::domain::enrollment::DdmRequest;
use crate::mdm::declarations::Category;

fn set() -> Arc<DeclSet> {
    Arc::new(DeclSet {
        declarations_token: "set-token-1".into(),
        timestamp: t0(),
        items: vec![SetItem {
            category: Category::Configuration,
            identifier: "cfg.passcode".into(),
            server_token: "st-1".into(),
            served: Arc::from(r#"{"Identifier":"cfg.passcode"}"#),
            payload: Arc::new(serde_json::json!({})),
            assignments: vec![],
        }],
    })
}

fn ddm(endpoint: &str, request: DdmRequest) -> Input {
    device_input(
        DeviceInput::DeclarativeManagement {
            endpoint: endpoint.into(),
            request,
            set: Some(set()),
        },
        "A",
    )
}

fn sync(token: &str) -> Input {
    Input::Admin(AdminInput::SyncDeclarations {
        declarations_token: token.into(),
        payload: b"sealed".to_vec(),
    })
}

#[test]
fn each_endpoint_answers_from_the_set_and_records_what_it_served() {
    let state = given(enrolled());
    let out = decide(&state, ddm("tokens", DdmRequest::Tokens), t0()).unwrap();
    let Some(Reply::Ddm(DdmReply::Json(body))) = &out.reply else {
        panic!("tokens answer: {:?}", out.reply)
    };
    assert!(body.contains("set-token-1"));
    assert!(
        matches!(&out.events[0].0, Event::DeclarativeManagement(e) if e.declarations_token.as_deref() == Some("set-token-1") && e.http_status == 200)
    );
    let out = decide(&state, ddm("declaration-items", DdmRequest::DeclarationItems), t0()).unwrap();
    assert!(matches!(&out.reply, Some(Reply::Ddm(DdmReply::Json(b))) if b.contains("st-1")));
    let found = DdmRequest::Declaration {
        category: Category::Configuration,
        identifier: "cfg.passcode".into(),
    };
    let out = decide(&state, ddm("declaration/configuration/cfg.passcode", found), t0()).unwrap();
    assert!(matches!(&out.reply, Some(Reply::Ddm(DdmReply::Json(b))) if b.contains("cfg.passcode")));
    assert!(matches!(&out.events[0].0, Event::DeclarativeManagement(e) if e.server_token.as_deref() == Some("st-1")));
    // The same identifier in another category is not in the set: a recorded 404.
    let missing = DdmRequest::Declaration {
        category: Category::Asset,
        identifier: "cfg.passcode".into(),
    };
    let out = decide(&state, ddm("declaration/asset/cfg.passcode", missing), t0()).unwrap();
    assert_eq!(out.reply, Some(Reply::Ddm(DdmReply::NotFound)));
    assert!(matches!(&out.events[0].0, Event::DeclarativeManagement(e) if e.http_status == 404));
}

#[test]
fn a_status_report_is_recorded_whole() {
    let state = given(enrolled());
    let report = serde_json::json!({"StatusItems": {"passcode": {"is-compliant": true}}, "FullReport": true});
    let request = DdmRequest::Status {
        full_report: true,
        report: report.clone(),
    };
    let out = decide(&state, ddm("status", request), t0()).unwrap();
    assert_eq!(out.reply, Some(Reply::Ddm(DdmReply::StatusAccepted)));
    assert_eq!(types(&out), ["DeclarationStatusReported"]);
    assert!(matches!(&out.events[0].0, Event::DeclarationStatusReported(e) if e.report == report && e.full_report));
    assert!(out.events[0].1.is_some(), "the raw check-in is kept");
}

#[test]
fn a_sync_is_queued_once_per_token_and_replaces_an_undelivered_one() {
    let state = given(enrolled());
    // A device never given a set needs no sync for the empty one.
    let out = decide(&state, sync(&DeclSet::empty().declarations_token), t0()).unwrap();
    assert!(out.events.is_empty());
    let state = given([enrolled(), vec![sync("t1")]].concat());
    assert_eq!(state.ddm_token.as_deref(), Some("t1"));
    assert_eq!(state.queue[0].command_uuid, "DDM-t1");
    assert!(state.queue[0].sealed);
    let out = decide(&state, sync("t1"), t0()).unwrap();
    assert!(out.events.is_empty(), "the same token again appends nothing");
    let out = decide(&state, sync("t2"), t0()).unwrap();
    assert_eq!(types(&out), ["CommandCancelled", "CommandQueued"]);
    assert!(
        matches!(&out.events[0].0, Event::CommandCancelled(c) if c.reason == CancelReason::Superseded && c.command_uuid == "DDM-t1")
    );
    // Emptying a set a device was given is a sync too.
    let state = given([enrolled(), vec![sync("t1")]].concat());
    let out = decide(&state, sync(&DeclSet::empty().declarations_token), t0()).unwrap();
    assert_eq!(types(&out), ["CommandCancelled", "CommandQueued"]);
    // A new enrollment generation has been given nothing yet.
    let state = given([enrolled(), vec![sync("t1")], enrolled()].concat());
    assert_eq!(state.ddm_token, None);
    // A sync an admin cancelled (or one that expired) was not given: the next one gives it
    // again; one the device answered with an error stays given (no loop on a device that
    // cannot do DDM).
    let cancel = Input::Admin(AdminInput::Cancel {
        command_uuid: "DDM-t1".into(),
        note: None,
    });
    let state = given([enrolled(), vec![sync("t1"), cancel]].concat());
    assert_eq!(state.ddm_token, None);
    assert_eq!(types(&decide(&state, sync("t1"), t0()).unwrap()), ["CommandQueued"]);
    let errored = report(ReportStatus::Error, Some("DDM-t1"));
    let state = given([enrolled(), vec![sync("t1"), errored]].concat());
    assert_eq!(state.ddm_token.as_deref(), Some("t1"));
    // A sync still pending is not queued twice under the same CommandUUID (t1 → t2 → t1).
    let state = given([enrolled(), vec![sync("t1")]].concat());
    let mut state2 = state.clone();
    for (e, raw) in decide(&state, sync("t2"), t0()).unwrap().events {
        state2.evolve(&e, raw.as_deref());
    }
    assert!(state2.pending("DDM-t2").is_some());
    // A device that checked out is not synced.
    assert!(decide(&Enrollment::default(), sync("t1"), t0()).is_err());
}
