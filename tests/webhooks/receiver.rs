//! A webhook receiver on 127.0.0.1 that follows a script of failures before it accepts: a
//! hand-written HTTP/1.1 server, so it can also drop a connection or never answer.

// Shared by two test crates, each using a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    Accept,
    Status(u16),
    /// Reads the request, then closes the connection without answering.
    Drop,
    /// Reads the request and never answers (the worker's request timeout fires).
    Stall,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub body: Vec<u8>,
    pub signature: Option<String>,
}

impl Received {
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn event_id(&self) -> String {
        self.json()["event_id"].as_str().unwrap().to_string()
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    accepted: Arc<Mutex<Vec<Received>>>,
    requests: Arc<Mutex<usize>>,
}

impl Receiver {
    /// A receiver that behaves as `script` says for its first requests, then accepts.
    pub async fn start(script: Vec<Behaviour>, delay: Duration) -> Self {
        Self::listen(script, delay, None).await
    }

    /// The same over https with `tls` (the worker must trust its certificate).
    pub async fn start_tls(script: Vec<Behaviour>, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::listen(script, Duration::ZERO, Some(TlsAcceptor::from(tls))).await
    }

    async fn listen(script: Vec<Behaviour>, delay: Duration, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/webhook", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            accepted: Arc::default(),
            requests: Arc::default(),
        };
        let shared = receiver.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (shared, script, tls) = (shared.clone(), script.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => shared.serve(socket, &script, delay).await,
                        Some(tls) => {
                            if let Ok(socket) = tls.accept(socket).await {
                                shared.serve(socket, &script, delay).await
                            }
                        }
                    }
                });
            }
        });
        receiver
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut socket: S, script: &[Behaviour], delay: Duration) {
        let Some((headers, body)) = read_request(&mut socket).await else {
            return;
        };
        let behaviour = {
            let mut n = self.requests.lock().unwrap();
            *n += 1;
            script.get(*n - 1).copied().unwrap_or(Behaviour::Accept)
        };
        tokio::time::sleep(delay).await;
        let status = match behaviour {
            Behaviour::Drop => return,
            Behaviour::Stall => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                return;
            }
            Behaviour::Status(status) => status,
            Behaviour::Accept => {
                let signature = headers.get("x-hmac-signature").cloned();
                self.accepted.lock().unwrap().push(Received { body, signature });
                200
            }
        };
        let extra = if status == 429 { "retry-after: 0\r\n" } else { "" };
        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n{extra}\r\nok");
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = socket.shutdown().await;
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.accepted.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    pub async fn wait_for_accepted(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n {
                return accepted;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} webhooks arrived",
                accepted.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn read_request<S: AsyncRead + Unpin>(socket: &mut S) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let headers: HashMap<String, String> = String::from_utf8_lossy(&buf[..header_end])
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    while buf.len() < header_end + length {
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((headers, buf[header_end..header_end + length].to_vec()))
}
