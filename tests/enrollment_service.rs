//! Two `Enrollments` services on one log, as two nodes would be: a decision made on a stale
//! cache never lands; the service catches up and decides again.

mod common;

use annal::domain::enrollment::{
    AdminInput, Authenticate, DeviceInput, Identity, Input, Refusal, Reply, ReportStatus, TokenUpdate,
};
use annal::service::enrollments::{Enrollments, ServiceError};
use annal_schemas::events::identity::CertificateInfo;
use annal_schemas::events::DeviceRef;
use annal_schemas::Sealed;
use chrono::Utc;

fn identity() -> Identity {
    Identity {
        certificate: CertificateInfo {
            fingerprint_sha256: "fp".into(),
            serial_hex: "01".into(),
            subject: "CN=d".into(),
            issuer: "CN=ca".into(),
            not_before: Utc::now(),
            not_after: Utc::now(),
        },
        proof: "mdm-signature",
        issued_by_annal: true,
        vouched: Default::default(),
        url_params: Default::default(),
    }
}

fn device(input: DeviceInput) -> Input {
    let device = DeviceRef {
        udid: Some("U1".into()),
        ..Default::default()
    };
    Input::Device {
        input: Box::new(input),
        device,
        identity: identity(),
        raw: bytes::Bytes::from_static(b"<plist/>"),
        parent: None,
    }
}

fn authenticate() -> Authenticate {
    Authenticate {
        topic: "t".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_stale_node_catches_up_instead_of_deciding_on_old_state() {
    let backend = common::sqlite();
    let (node1, node2) = (
        Enrollments::new(backend.store.clone()),
        Enrollments::new(backend.store.clone()),
    );
    let auth = authenticate();
    node1
        .handle("U1", device(DeviceInput::Authenticate(auth)), "fp", Utc::now())
        .await
        .unwrap();
    let magic = Sealed {
        alg: "A256GCM".into(),
        key_id: "k".into(),
        nonce: "n".into(),
        ciphertext: "c".into(),
    };
    let token = TokenUpdate {
        topic: "t".into(),
        token_hex: "00".into(),
        push_magic: magic,
        unlock_token: None,
        awaiting_configuration: None,
        user_short_name: None,
        user_long_name: None,
    };
    node1
        .handle("U1", device(DeviceInput::TokenUpdate(token)), "fp", Utc::now())
        .await
        .unwrap();
    // Node 2 queues a command; node 1's cache does not know about it.
    let enqueue = Input::Admin(AdminInput::Enqueue {
        command_uuid: "c1".into(),
        request_type: "DeviceInformation".into(),
        payload: b"<plist>c1</plist>".to_vec(),
        sealed: false,
        idempotency_key: None,
        reason: None,
        expires_at: None,
    });
    node2.handle("U1", enqueue, "admin", Utc::now()).await.unwrap();
    let idle = DeviceInput::Report {
        status: ReportStatus::Idle,
        command_uuid: None,
        error_chain: Vec::new(),
        unparseable: None,
    };
    let outcome = node1.handle("U1", device(idle), "fp", Utc::now()).await.unwrap();
    assert!(matches!(outcome.reply, Some(Reply::Command { ref command_uuid, .. }) if command_uuid == "c1"));
    let stream = backend.store.read_stream("enrollment-U1", 1, 100).await.unwrap();
    let types: Vec<&str> = stream.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "Authenticate",
            "IdentityBound",
            "TokenUpdate",
            "CommandQueued",
            "Idle",
            "CommandDelivered"
        ]
    );
    assert!(stream.iter().all(|e| e.correlation_id.is_some()));
}

/// A node that cached "unknown enrollment" must not keep refusing a device that has since
/// enrolled through another node.
#[tokio::test]
async fn a_refusal_is_rechecked_against_the_log() {
    let backend = common::sqlite();
    let (node1, node2) = (
        Enrollments::new(backend.store.clone()),
        Enrollments::new(backend.store.clone()),
    );
    let idle = || {
        device(DeviceInput::Report {
            status: ReportStatus::Idle,
            command_uuid: None,
            error_chain: Vec::new(),
            unparseable: None,
        })
    };
    // Node 1 sees the device before it enrolled, and refuses it.
    assert!(node1.handle("U1", idle(), "fp", Utc::now()).await.is_err());
    // The device enrolls through node 2.
    let auth = authenticate();
    node2
        .handle("U1", device(DeviceInput::Authenticate(auth)), "fp", Utc::now())
        .await
        .unwrap();
    // Node 1 now serves it.
    let outcome = node1.handle("U1", idle(), "fp", Utc::now()).await.unwrap();
    assert_eq!(outcome.reply, Some(Reply::Empty));
}

/// An identity revoked through one node is refused by the other at once, on the device channel
/// and on the user channel that speaks with the same certificate (403, never a 401).
#[tokio::test]
async fn a_revocation_on_one_node_is_refused_by_the_other_on_every_channel() {
    let backend = common::sqlite();
    let (node1, node2) = (
        Enrollments::new(backend.store.clone()),
        Enrollments::new(backend.store.clone()),
    );
    node1
        .handle(
            "U1",
            device(DeviceInput::Authenticate(authenticate())),
            "fp",
            Utc::now(),
        )
        .await
        .unwrap();
    let token = || TokenUpdate {
        topic: "t".into(),
        token_hex: "00".into(),
        push_magic: Sealed {
            alg: "A256GCM".into(),
            key_id: "k".into(),
            nonce: "n".into(),
            ciphertext: "c".into(),
        },
        unlock_token: None,
        awaiting_configuration: None,
        user_short_name: None,
        user_long_name: None,
    };
    node1
        .handle("U1", device(DeviceInput::TokenUpdate(token())), "fp", Utc::now())
        .await
        .unwrap();
    let mut user_token = device(DeviceInput::TokenUpdate(token()));
    if let Input::Device { device, .. } = &mut user_token {
        device.user_id = Some("alice".into());
    }
    node1.handle("U1:alice", user_token, "fp", Utc::now()).await.unwrap();
    let idle = || {
        device(DeviceInput::Report {
            status: ReportStatus::Idle,
            command_uuid: None,
            error_chain: Vec::new(),
            unparseable: None,
        })
    };
    node1.handle("U1", idle(), "fp", Utc::now()).await.unwrap();
    node1.handle("U1:alice", idle(), "fp", Utc::now()).await.unwrap();

    let revoked = annal::service::identities::revoke(&node2, "fp", Some("stolen".into()), "api-key:admin")
        .await
        .unwrap();
    assert_eq!(revoked.enrollment.as_deref(), Some("U1"));
    for key in ["U1", "U1:alice"] {
        let refused = node1.handle(key, idle(), "fp", Utc::now()).await.unwrap_err();
        assert!(
            matches!(refused, ServiceError::Refused(Refusal::IdentityRevoked)),
            "{key}: {refused}"
        );
    }
    // Nor a user channel it had not opened yet: the revocation is checked whatever the user
    // channel's phase.
    let mut bob = device(DeviceInput::TokenUpdate(token()));
    if let Input::Device { device, .. } = &mut bob {
        device.user_id = Some("bob".into());
    }
    let refused = node1.handle("U1:bob", bob, "fp", Utc::now()).await.unwrap_err();
    assert!(
        matches!(refused, ServiceError::Refused(Refusal::IdentityRevoked)),
        "U1:bob: {refused}"
    );
    // The certificate cannot start a new enrollment either.
    let mut other = device(DeviceInput::Authenticate(authenticate()));
    if let Input::Device { device, .. } = &mut other {
        device.udid = Some("U2".into());
    }
    let refused = node1.handle("U2", other, "fp", Utc::now()).await.unwrap_err();
    assert!(
        matches!(refused, ServiceError::Refused(Refusal::IdentityRevoked)),
        "{refused}"
    );
}
