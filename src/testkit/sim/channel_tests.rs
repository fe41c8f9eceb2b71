//! The wire profile as a server sees it: a plain HTTP/1.1 listener that counts connections and
//! records each request's headers.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::pki::test_support::{ca, identity};
use crate::pki::KeyKind;

#[derive(Default)]
struct Seen {
    connections: usize,
    /// The header block of every request, lowercased.
    requests: Vec<String>,
    /// The Mdm-Signature of every request, decoded.
    signatures: Vec<Vec<u8>>,
}

/// Answers every request `200` with an empty body, closing when the request asks to.
async fn listen() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/mdm", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            log.lock().expect("lock").connections += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let raw = String::from_utf8_lossy(&buffer[..end]).into_owned();
                    let head = raw.to_lowercase();
                    let signature = raw
                        .lines()
                        .find_map(|l| {
                            l.split_once(':')
                                .filter(|(k, _)| k.eq_ignore_ascii_case("mdm-signature"))
                        })
                        .and_then(|(_, v)| base64::engine::general_purpose::STANDARD.decode(v.trim()).ok())
                        .unwrap_or_default();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buffer.len() < end + 4 + length {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buffer.drain(..end + 4 + length);
                    let close = head.contains("connection: close");
                    {
                        let mut log = log.lock().expect("lock");
                        log.requests.push(head);
                        log.signatures.push(signature);
                    }
                    let reply: &[u8] = if close {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    } else {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
                    };
                    if socket.write_all(reply).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

async fn send_six(wire: &WireProfile) -> Arc<Mutex<Seen>> {
    let (url, seen) = listen().await;
    let clients = Clients::new(ca().cert_der());
    let channel = Channel::open(&clients, &url, &url, "com.apple.mgmt.test".into(), None, wire).expect("channel");
    let device = VirtualDevice::new(0, identity(KeyKind::Rsa2048).clone());
    for i in 0..6 {
        let body = device.token_update("com.apple.mgmt.test");
        let signature = channel.signature(&device, &body).expect("sign");
        let answer = if i % 2 == 0 {
            channel.checkin(signature.as_deref(), body).await
        } else {
            channel.command(signature.as_deref(), body).await
        };
        assert_eq!(answer.expect("answered").status.as_u16(), 200);
    }
    seen
}

#[tokio::test]
async fn real_devices_reconnect_and_send_the_command_channel_bare() {
    let seen = send_six(&WireProfile {
        reconnect_every: 2,
        omit_content_type: true,
        ber_every: 3,
        rsa_identities: true,
        signature_only: true,
    })
    .await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.connections, 3, "a new connection after every second request");
    assert_eq!(seen.requests.len(), 6);
    for (i, head) in seen.requests.iter().enumerate() {
        assert!(head.contains("mdm-signature:"), "{head}");
        let typed = head.contains("content-type:");
        assert_eq!(typed, i % 2 == 0, "only check-in messages carry a Content-Type: {head}");
    }
    assert!(seen.requests[0].contains("application/x-apple-aspen-mdm-checkin"));
    // Every third signature is BER: the outer SEQUENCE's length is indefinite (0x80).
    let indefinite: Vec<bool> = seen
        .signatures
        .iter()
        .map(|s| s.get(..2) == Some(&[0x30, 0x80]))
        .collect();
    assert_eq!(indefinite, [false, false, true, false, false, true]);
}

#[tokio::test]
async fn the_default_profile_keeps_one_connection_and_types_every_request() {
    let seen = send_six(&WireProfile::default()).await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.connections, 1);
    assert!(seen
        .requests
        .iter()
        .all(|h| h.contains("content-type: application/x-apple-aspen-mdm")));
    assert!(!seen.requests.iter().any(|h| h.contains("connection: close")));
}
