//! A request refused before its body is read (no API key, a wrong one, a device whose headers
//! prove nothing, a path that does not exist) is answered cleanly over HTTP/2: curl sees the
//! status, not a stream error (exit 92), even with a body of a few hundred KiB still in flight.

mod common;

use std::process::Command;

use common::server::Server;

/// curl's exit code and the status it saw, for a PUT of `body_len` bytes over HTTP/2.
fn put_over_http2(server: &Server, path: &str, headers: &[&str], body: &std::path::Path) -> (i32, String) {
    let ca = server.data_dir.join("ca").join("ca.pem");
    let mut curl = Command::new("curl");
    curl.args([
        "-sS",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        "-X",
        "PUT",
    ])
    .arg("--cacert")
    .arg(&ca)
    .arg("--data-binary")
    .arg(format!("@{}", body.display()));
    for header in headers {
        curl.args(["-H", header]);
    }
    // The served certificate names localhost; curl must check it, so connect by that name.
    let url = format!("{}{}", server.base.replace("127.0.0.1", "localhost"), path);
    let out = curl
        .arg(url)
        .output()
        .expect("curl runs (ops/install-test-deps.sh installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn refusals_with_a_body_in_flight_end_cleanly_over_http2() {
    let server = Server::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    // Larger than the HTTP/2 windows curl and hyper open with, so the client is still sending
    // when the refusal is ready.
    std::fs::write(&body, vec![b'A'; 400 * 1024]).unwrap();
    let wrong = "Authorization: Bearer not-a-key";
    let cases: [(&str, &[&str], &str); 4] = [
        ("/v1/enqueue/some-device", &[], "401"),
        ("/v1/enqueue/some-device", &[wrong], "401"),
        ("/mdm", &[], "403"),
        ("/no/such/path", &[], "404"),
    ];
    for (path, headers, status) in cases {
        for attempt in 0..5 {
            let (exit, seen) = put_over_http2(&server, path, headers, &body);
            assert_eq!(exit, 0, "curl failed on PUT {path} (attempt {attempt}): {seen}");
            assert_eq!(seen, format!("{status} 2"), "PUT {path} (attempt {attempt})");
        }
    }
}
