//! Bounded unauthenticated work, private key files and databases, the operator's allow list and
//! masked raws: each attack of issue 15 (items 5–7) carried out against the real `annal serve`
//! over real sockets (TLS unless the case is about the plain listener), and refused.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::admin::{create_key, get, get_text};
use common::server::{device, enroll, signed, Server, COMMAND};
use hyper::Method;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const MB: u64 = 1 << 20;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A raw connection to the server: TLS (trusting its CA) or plain TCP behind `--behind-proxy`.
async fn connect(server: &Server) -> Box<dyn Io> {
    let (scheme, rest) = server.base.split_once("://").unwrap();
    let tcp = TcpStream::connect(rest).await.unwrap();
    if scheme == "http" {
        return Box::new(tcp);
    }
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(server.ca().cert_der().to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    Box::new(connector.connect(name, tcp).await.unwrap())
}

fn kib_of(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} missing from /proc status"))
}

/// (VmRSS, VmHWM) of `pid`, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    (kib_of(&status, "VmRSS:") * 1024, kib_of(&status, "VmHWM:") * 1024)
}

fn put_head(path: &str, extra: &[(&str, &str)], length: Option<u64>) -> Vec<u8> {
    let mut head = format!("PUT {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {COMMAND}\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match length {
        Some(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// What one large upload achieved: the status line the server answered with (if any), how many
/// body bytes had been written when that answer arrived, and in all.
#[derive(Debug)]
struct Upload {
    status: Option<String>,
    sent_at_answer: u64,
    sent: u64,
}

/// Sends `head`, then up to `total` body bytes (chunked framing without a length), while
/// reading the answer; stops when the server answers and closes, or after `total`.
async fn upload(server: &Server, head: Vec<u8>, total: u64, chunked: bool) -> Upload {
    let stream = connect(server).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let sent = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(u64::MAX));
    let read = {
        let (sent, answered) = (sent.clone(), answered.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut text = Vec::new();
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if text.is_empty() {
                            answered.store(sent.load(Ordering::SeqCst), Ordering::SeqCst);
                        }
                        text.extend_from_slice(&buf[..n]);
                    }
                }
            }
            String::from_utf8_lossy(&text).lines().next().map(str::to_owned)
        })
    };
    let chunk = vec![b'x'; 64 * 1024];
    let framed: Vec<u8> = if chunked {
        [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat()
    } else {
        chunk.clone()
    };
    let write = async {
        writer.write_all(&head).await?;
        while sent.load(Ordering::SeqCst) < total {
            writer.write_all(&framed).await?;
            sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
        if chunked {
            writer.write_all(b"0\r\n\r\n").await?;
        }
        writer.flush().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(60), write).await;
    let status = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .ok()
        .and_then(|r| r.ok())
        .flatten();
    Upload {
        status,
        sent_at_answer: answered.load(Ordering::SeqCst),
        sent: sent.load(Ordering::SeqCst),
    }
}

fn assert_refused_early(u: &Upload, status: &str, what: &str) {
    let line = u.status.as_deref().unwrap_or_default();
    assert!(
        line.starts_with(&format!("HTTP/1.1 {status}")),
        "{what}: answered {line:?} ({u:?})"
    );
    assert!(
        u.sent_at_answer < 8 * MB,
        "{what}: the answer came only after {} bytes of body ({u:?})",
        u.sent_at_answer
    );
    assert!(u.sent < 100 * MB, "{what}: the server took the whole body ({u:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_unauthenticated_100_mb_uploads_are_refused_before_their_bodies() {
    let server = Server::start(&[]).await;
    let (rss_before, _) = memory(server.pid());
    let uploads = futures::future::join_all(
        (0..8).map(|_| upload(&server, put_head("/mdm", &[], Some(100 * MB)), 100 * MB, false)),
    )
    .await;
    for (i, u) in uploads.iter().enumerate() {
        assert_refused_early(u, "403", &format!("unauthenticated upload {i}"));
    }
    let (rss_after, peak) = memory(server.pid());
    eprintln!("resident before {rss_before}, after {rss_after}, peak {peak}; uploads {uploads:?}");
    // Before: each upload was buffered to --max-body-bytes (64 MiB) first, 300 MB in all.
    assert!(
        peak.saturating_sub(rss_before) < 100 * MB && rss_after.saturating_sub(rss_before) < 100 * MB,
        "resident memory grew from {rss_before} to {rss_after} (peak {peak})"
    );
    assert!(server.client().get("/readyz").await.unwrap().status.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_by_an_untrusted_certificate_is_refused_while_the_body_is_still_coming() {
    let server = Server::start(&[]).await;
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger_ca = annal::pki::Ca::load_or_init(stranger_dir.path()).unwrap();
    let stranger = annal::testkit::sim::VirtualDevice::new(
        1,
        stranger_ca
            .issue_device_identity("dev-1", annal::pki::KeyKind::EcdsaP256, 30)
            .unwrap(),
    );
    // A valid signature over a body the server never gets to read.
    let signature = stranger.sign(&stranger.idle().unwrap().0).unwrap();
    let u = upload(
        &server,
        put_head("/mdm", &[("Mdm-Signature", &signature)], Some(100 * MB)),
        100 * MB,
        false,
    )
    .await;
    assert_refused_early(&u, "403", "a stranger's signature");
    // The same for a trusted signer with a body over --max-body-bytes: 413 from the length.
    let d = device(&server, 1);
    let signature = d.sign(b"whatever").unwrap();
    let u = upload(
        &server,
        put_head("/mdm", &[("Mdm-Signature", &signature)], Some(100 * MB)),
        100 * MB,
        false,
    )
    .await;
    assert_refused_early(&u, "413", "a trusted signer's oversized body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unidentified_devices_get_one_mebibyte_even_when_accepted() {
    let server = Server::start(&["--insecure-accept-unsigned-devices"]).await;
    let declared = upload(&server, put_head("/mdm", &[], Some(100 * MB)), 100 * MB, false).await;
    assert_refused_early(&declared, "413", "a declared 100 MB body");
    // Chunked, no length to refuse: cut off once past 1 MiB.
    let chunked = upload(&server, put_head("/mdm", &[], None), 100 * MB, true).await;
    assert_refused_early(&chunked, "413", "a chunked 100 MB body");
    // A small unidentified request is still served (it is not a device, so 400/403, not 413).
    let small = upload(&server, put_head("/mdm", &[], Some(64 * 1024)), 64 * 1024, false).await;
    let line = small.status.unwrap_or_default();
    assert!(!line.contains("413") && !line.contains("408"), "{line}");
}

/// How long until the server closes `stream` (EOF or reset), reading whatever it answers.
async fn closed_after(mut stream: Box<dyn Io>, started: Instant, limit: Duration) -> (Duration, String) {
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    let result = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(result.is_ok(), "a slow connection was still open after {limit:?}");
    (
        started.elapsed(),
        String::from_utf8_lossy(&text)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_clients_are_closed_within_the_timeouts() {
    let server = Server::start(&[
        "--header-read-timeout-secs",
        "2",
        "--body-read-timeout-secs",
        "2",
        "--min-body-bytes-per-sec",
        "1000",
    ])
    .await;
    let d = device(&server, 1);
    let body = d.idle().unwrap().0;
    let signature = d.sign(&body).unwrap();
    let limit = Duration::from_secs(8);
    let started = Instant::now();
    let mut waits = Vec::new();
    // 15 that never start TLS, 15 that stop inside their headers.
    for _ in 0..15 {
        let (_, rest) = server.base.split_once("://").unwrap();
        let tcp: Box<dyn Io> = Box::new(TcpStream::connect(rest).await.unwrap());
        waits.push(("no handshake", tokio::spawn(closed_after(tcp, started, limit))));
        let mut half = connect(&server).await;
        half.write_all(b"PUT /mdm HTTP/1.1\r\nHost: localhost\r\nContent-Ty")
            .await
            .unwrap();
        waits.push(("half a header", tokio::spawn(closed_after(half, started, limit))));
    }
    // 15 trusted signers whose bodies never come, 10 SCEP requests (no identity needed) alike.
    for _ in 0..15 {
        let mut s = connect(&server).await;
        s.write_all(&put_head(
            "/mdm",
            &[("Mdm-Signature", &signature)],
            Some(body.len() as u64),
        ))
        .await
        .unwrap();
        waits.push(("no body", tokio::spawn(closed_after(s, started, limit))));
    }
    for _ in 0..10 {
        let mut s = connect(&server).await;
        s.write_all(
            b"POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-pki-message\r\nContent-Length: 5000\r\n\r\n",
        )
        .await
        .unwrap();
        waits.push(("no SCEP body", tokio::spawn(closed_after(s, started, limit))));
    }
    // 10 that trickle a byte every 300 ms: never a 2 s silence, but 3 bytes/s.
    for _ in 0..10 {
        let s = connect(&server).await;
        let (reader, mut writer) = tokio::io::split(s);
        let head = put_head("/mdm", &[("Mdm-Signature", &signature)], Some(body.len() as u64));
        tokio::spawn(async move {
            if writer.write_all(&head).await.is_err() {
                return;
            }
            for _ in 0..100 {
                if writer.write_all(b"<").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        let reader: Box<dyn Io> = Box::new(tokio::io::join(reader, tokio::io::sink()));
        waits.push(("trickle", tokio::spawn(closed_after(reader, started, limit))));
    }
    assert!(waits.len() >= 50);
    for (what, wait) in waits {
        let (after, answer) = wait.await.unwrap();
        eprintln!("{what}: closed after {after:?}, answered {answer:?}");
        assert!(after < limit, "{what}: open for {after:?}");
        if matches!(what, "no body" | "trickle" | "no SCEP body") {
            assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer:?}");
        }
    }
    // The server itself is fine, and a normal device request still goes through.
    assert_eq!(signed(&server.client(), &d, COMMAND, body).await.0, 403, "not enrolled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_new_connections_wait_for_a_free_slot() {
    let server = Server::start(&["--behind-proxy", "--max-connections", "20"]).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = connect(&server).await;
        // Keep-alive requests, so the server holds the connection open after answering.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    let mut extra = connect(&server).await;
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let waited = tokio::time::timeout(Duration::from_millis(1500), extra.read(&mut buf)).await;
    assert!(waited.is_err(), "a 21st connection was served at a cap of 20");
    held.truncate(15);
    let n = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
        .await
        .expect("a freed slot let the waiting connection in")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `annal serve` on `data_dir` that is expected to refuse to start: its stderr.
fn refused_start(data_dir: &Path, extra: &[&str]) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_annal"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", common::server::free_port()),
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("annal serve started with a key file others may read");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_others_may_read_stop_the_server_and_databases_are_private() {
    let dir = tempfile::tempdir().unwrap();
    // A data directory that does not exist yet: Annal creates it.
    let data = dir.path().join("var/annal");
    let store = format!("sqlite:{}", data.join("annal.db").display());
    let hmac = dir.path().join("hmac.key");
    common::write_private(&hmac, "a-webhook-hmac-key-of-some-length");
    let hmac_arg = hmac.to_str().unwrap().to_owned();
    {
        let server = Server::start_with(
            &data,
            &store,
            &[
                "--webhook-url",
                "http://127.0.0.1:9/x",
                "--webhook-hmac-key-file",
                &hmac_arg,
            ],
        )
        .await;
        // The log and the read models take a write, so their -wal and -shm files exist.
        let d = device(&server, 1);
        enroll(&server.client(), &d).await;
        for (path, want) in [
            (dir.path().join("var"), 0o700),
            (data.clone(), 0o700),
            (data.join("ca"), 0o700),
            (data.join("tls"), 0o700),
            (data.join("annal.db"), 0o600),
            (data.join("annal.db-wal"), 0o600),
            (data.join("annal.db-shm"), 0o600),
            (data.join("annal.readmodels.db"), 0o600),
            (data.join("annal.readmodels.db-wal"), 0o600),
            (data.join("secrets.key"), 0o600),
            (data.join("admin-api-key"), 0o600),
            (data.join("ca/ca.key"), 0o600),
            (data.join("tls/server.key"), 0o600),
        ] {
            assert_eq!(mode(&path), want, "{}", path.display());
        }
    }
    for (file, bad) in [
        (data.join("secrets.key"), 0o644),
        (data.join("ca/ca.key"), 0o666),
        (data.join("tls/server.key"), 0o640),
        (data.join("admin-api-key"), 0o604),
        (hmac.clone(), 0o644),
    ] {
        chmod(&file, bad);
        let stderr = refused_start(
            &data,
            &[
                "--store",
                &store,
                "--webhook-url",
                "http://127.0.0.1:9/x",
                "--webhook-hmac-key-file",
                &hmac_arg,
            ],
        );
        let shown = file.display().to_string();
        assert!(stderr.contains(&shown), "{stderr}");
        assert!(stderr.contains(&format!("{bad:04o}")), "{stderr}");
        assert!(stderr.contains(&format!("chmod 600 {shown}")), "{stderr}");
        // `config check` says the same before a restart is tried.
        let check = std::process::Command::new(env!("CARGO_BIN_EXE_annal"))
            .arg("--data-dir")
            .arg(&data)
            .args([
                "config",
                "check",
                "--store",
                &store,
                "--webhook-url",
                "http://127.0.0.1:9/x",
                "--webhook-hmac-key-file",
                &hmac_arg,
            ])
            .output()
            .unwrap();
        assert!(!check.status.success());
        assert!(String::from_utf8_lossy(&check.stderr).contains(&format!("chmod 600 {shown}")));
        chmod(&file, 0o600);
    }
    // Every file private again: it starts.
    let server = Server::start_with(&data, &store, &[]).await;
    assert!(server.client().get("/readyz").await.unwrap().status.is_success());
}

async fn enqueue_raw(server: &Server, key: &str, udid: &str, request_type: &str, uuid: &str) -> (u16, Value) {
    let mut command = annal::mdm::command::command(request_type);
    command.insert("RequestType".into(), plist::Value::String(request_type.into()));
    let body = annal::mdm::command_envelope(uuid, command).unwrap();
    let auth = format!("Bearer {key}");
    let answer = server
        .client()
        .send(
            Method::PUT,
            &format!("/v1/enqueue/{udid}"),
            Some("application/xml"),
            &[("Authorization", &auth)],
            body,
        )
        .await
        .unwrap();
    (
        answer.status.as_u16(),
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
    )
}

async fn head(server: &Server) -> u64 {
    annal::store::open(&server.store_url.parse().unwrap())
        .await
        .unwrap()
        .head()
        .await
        .unwrap()
        .position
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_queue_only_routine_commands_and_see_no_secrets_in_raws() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = server.api_key();
    let operator = create_key(&server, "olaf", "operator");
    let auditor = create_key(&server, "audrey", "auditor");
    let d = device(&server, 1);
    enroll(&client, &d).await;
    let before = head(&server).await;
    for rt in [
        "EraseDevice ",
        "erasedevice",
        "FutureCommand",
        "InstallProfile",
        "Settings",
    ] {
        let (status, body) = enqueue_raw(&server, &operator, &d.udid, rt, "OP-1").await;
        assert_eq!(status, 403, "operator {rt:?}: {body}");
    }
    // An admin's padded EraseDevice is a precise 400 naming the real one, not an unsealed wipe.
    let (status, body) = enqueue_raw(&server, &admin, &d.udid, "EraseDevice ", "AD-1").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains(r#"did you mean \"EraseDevice\""#), "{body}");
    // NanoMDM's clients read a refusal from `command_error`.
    assert!(
        body["command_error"]
            .as_str()
            .is_some_and(|e| e.contains("EraseDevice")),
        "{body}"
    );
    assert_eq!(head(&server).await, before, "a refused command appended an event");
    // An admin may queue a RequestType Annal does not know: it is stored sealed.
    let (status, body) = enqueue_raw(&server, &admin, &d.udid, "FutureCommand", "AD-2").await;
    assert_eq!(status, 200, "{body}");
    let (_, history) = get(&client, &format!("/v1/devices/{}/history", d.udid), &admin).await;
    let queued = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["command_uuid"] == "AD-2")
        .expect("the queued command");
    assert_eq!(queued["raw_sealed"], true, "{queued}");
    // The operator's routine query; the device answers it with a recovery key deep inside.
    let (status, body) = enqueue_raw(&server, &operator, &d.udid, "SecurityInfo", "OP-2").await;
    assert_eq!(status, 200, "{body}");
    let (idle, _) = d.idle().unwrap();
    let (code, _) = signed(&client, &d, COMMAND, idle).await;
    assert_eq!(code, 200);
    let mut info = plist::Dictionary::new();
    info.insert("FDE_Enabled".into(), plist::Value::Boolean(true));
    info.insert(
        "PersonalRecoveryKey".into(),
        plist::Value::String("ABCD-EFGH-IJKL-MNOP".into()),
    );
    let mut response = plist::Dictionary::new();
    response.insert("SecurityInfo".into(), plist::Value::Dictionary(info));
    for uuid in ["AD-2", "OP-2"] {
        let (code, _) = signed(&client, &d, COMMAND, d.result(uuid, "Acknowledged", response.clone())).await;
        assert_eq!(code, 200);
    }
    let path = format!("/v1/devices/{}/history?include_raw=true", d.udid);
    for key in [&auditor, &operator] {
        let (status, text) = get_text(&client, &path, key).await;
        assert_eq!(status, 200);
        assert!(
            !text.contains("ABCD-EFGH-IJKL-MNOP"),
            "a reader saw the recovery key: {text}"
        );
        assert!(
            text.contains("PersonalRecoveryKey") && text.contains("&lt;redacted&gt;"),
            "{text}"
        );
        let (_, events) = get_text(&client, "/v1/events?include_raw=true", key).await;
        assert!(!events.contains("ABCD-EFGH-IJKL-MNOP"), "the event read leaked it");
    }
    let (_, text) = get_text(&client, &path, &admin).await;
    assert!(text.contains("ABCD-EFGH-IJKL-MNOP"), "the admin sees the raw as sent");

    // The audit trail's answers (security-relevant commands) are masked the same way.
    let (status, body) = enqueue_raw(&server, &admin, &d.udid, "InstallProfile", "AD-3").await;
    assert_eq!(status, 200, "{body}");
    let (idle, _) = d.idle().unwrap();
    let (code, delivered) = signed(&client, &d, COMMAND, idle).await;
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&delivered).contains("AD-3"));
    let mut profile = plist::Dictionary::new();
    profile.insert(
        "PersonalRecoveryKey".into(),
        plist::Value::String("WXYZ-9876-STUV".into()),
    );
    let mut response = plist::Dictionary::new();
    response.insert("ProfileInfo".into(), plist::Value::Dictionary(profile));
    let (code, _) = signed(&client, &d, COMMAND, d.result("AD-3", "Acknowledged", response)).await;
    assert_eq!(code, 200);
    let audit = "/v1/audit?request_type=InstallProfile";
    let (status, text) = get_text(&client, audit, &auditor).await;
    assert_eq!(status, 200);
    assert!(text.contains("AD-3") && text.contains("PersonalRecoveryKey"), "{text}");
    assert!(
        !text.contains("WXYZ-9876-STUV"),
        "the audit trail showed an auditor the key: {text}"
    );
    let (_, csv) = get_text(&client, &format!("{audit}&format=csv"), &operator).await;
    assert!(csv.contains("AD-3") && !csv.contains("WXYZ-9876-STUV"), "{csv}");
    let (_, text) = get_text(&client, audit, &admin).await;
    assert!(
        text.contains("WXYZ-9876-STUV"),
        "the admin sees the answer as sent: {text}"
    );
}
