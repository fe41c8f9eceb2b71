//! The event stream for analytics: NDJSON bulk reads and Server-Sent Events (catch-up, live,
//! resumable with Last-Event-ID), over real sockets. Secrets never appear in clear.

mod common;

use std::time::Duration;

use common::admin::{get_text, ndjson_positions};
use common::server::{device, enroll, Server};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn enroll_new(server: &Server, index: usize) {
    enroll(&server.client(), &device(server, index)).await;
}

async fn head(server: &Server) -> u64 {
    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();
    store.head().await.unwrap().position
}

/// Opens an SSE stream over plain HTTP/1.1; returns a reader positioned after the headers.
async fn open_sse(server: &Server, query: &str, last_event_id: Option<u64>) -> BufReader<TcpStream> {
    open_sse_with(server, query, last_event_id, &server.api_key()).await
}

async fn open_sse_with(server: &Server, query: &str, last_event_id: Option<u64>, key: &str) -> BufReader<TcpStream> {
    let addr = server.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let resume = last_event_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /v1/events/stream{query} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nAccept: text/event-stream\r\nConnection: close\r\n{resume}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        if line == "\r\n" {
            return reader;
        }
    }
}

/// Reads SSE events until `n` have arrived: (id, event type, data).
async fn next_events(reader: &mut BufReader<TcpStream>, n: usize) -> Vec<(u64, String, Value)> {
    let mut out = Vec::new();
    let (mut id, mut kind, mut data) = (None, String::new(), String::new());
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        let read = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await;
        assert!(read.is_ok(), "no SSE event within 10 s (have {})", out.len());
        let l = line.trim_end_matches(['\r', '\n']);
        // Chunked transfer encoding interleaves chunk sizes; SSE fields are recognisable.
        if let Some(v) = l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")) {
            id = v.trim().parse().ok();
        } else if let Some(v) = l.strip_prefix("event: ").or_else(|| l.strip_prefix("event:")) {
            kind = v.trim().to_string();
        } else if let Some(v) = l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")) {
            data.push_str(v);
        } else if l.is_empty() && !data.is_empty() {
            out.push((
                id.take().unwrap(),
                std::mem::take(&mut kind),
                serde_json::from_str(&data).unwrap(),
            ));
            data.clear();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_bulk_reads_and_sse_catch_up_live_and_resume() {
    let server = Server::start(&["--behind-proxy"]).await;
    enroll_new(&server, 1).await;
    enroll_new(&server, 2).await;
    let n = head(&server).await;
    assert!(n >= 4);

    // NDJSON: every event, in order, once; filters and limits.
    let (status, body) = get_text(&server.client(), "/v1/events?from=1", &server.api_key()).await;
    assert_eq!(status, 200);
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ndjson_positions(&body), (1..=n).collect::<Vec<_>>());
    let (_, only) = get_text(&server.client(), "/v1/events?types=TokenUpdate", &server.api_key()).await;
    assert_eq!(only.lines().count(), 2);
    let (_, two) = get_text(&server.client(), "/v1/events?from=2&limit=2", &server.api_key()).await;
    assert_eq!(ndjson_positions(&two), [2, 3]);
    // `limit` counts returned events: one TokenUpdate from the start, though it is not event 1.
    let (_, one) = get_text(
        &server.client(),
        "/v1/events?types=TokenUpdate&limit=1",
        &server.api_key(),
    )
    .await;
    assert_eq!(one.lines().count(), 1);
    assert!(one.contains("\"TokenUpdate\""));
    assert!(!body.contains("-magic"), "PushMagic in clear in the event stream");
    let token_update = lines.iter().find(|e| e["event_type"] == "TokenUpdate").unwrap();
    assert_eq!(token_update["raw_sealed"], true);

    // SSE: catch-up from 1, then live.
    let mut sse = open_sse(&server, "?from=1", None).await;
    let caught_up = next_events(&mut sse, n as usize).await;
    assert_eq!(
        caught_up.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    assert_eq!(caught_up[0].1, caught_up[0].2["event_type"].as_str().unwrap());
    enroll_new(&server, 3).await;
    let live = next_events(&mut sse, 2).await;
    assert_eq!(live.iter().map(|e| e.0).collect::<Vec<_>>(), [n + 1, n + 2]);
    drop(sse);

    // Resume: Last-Event-ID is the last position seen; the stream goes on right after it.
    let mut resumed = open_sse(&server, "", Some(n + 1)).await;
    let next = next_events(&mut resumed, 1).await;
    assert_eq!(next[0].0, n + 2);

    // Revoking a key ends the streams opened with it.
    let key = common::admin::create_key(&server, "pipeline", "auditor");
    let mut revoked = open_sse_with(&server, "?from=1", None, &key).await;
    next_events(&mut revoked, 1).await;
    common::admin::revoke_key(&server, "pipeline");
    let mut rest = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        while revoked.read_line(&mut rest).await.unwrap() > 0 {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its revoked key");

    // Shutting down ends open streams instead of waiting for them.
    let mut server = server;
    let took = server.terminate();
    assert!(
        took < Duration::from_secs(5),
        "shutdown waited {took:?} for an open SSE stream"
    );
    let mut rest = String::new();
    let eof = tokio::time::timeout(Duration::from_secs(5), async {
        while resumed.read_line(&mut rest).await.unwrap() > 0 {}
    })
    .await;
    assert!(eof.is_ok(), "the SSE stream did not end at shutdown");
}
