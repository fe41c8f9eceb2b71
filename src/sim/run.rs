//! The simulation: enroll N devices, then rounds of (queue a command for every device, let
//! every device run its command-channel session), measuring every device request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::answers::answer;
use super::client::{Client, ClientError};
use super::device::{encode, VirtualDevice};
use crate::mdm::{self, parse_command};
use crate::pki::{Ca, KeyKind, PkiError};

const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
const COMMAND: &str = "application/x-apple-aspen-mdm";

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// `https://127.0.0.1:8443`
    pub server: String,
    pub devices: usize,
    /// Device sessions in flight at once.
    pub concurrency: usize,
    /// Commands queued per device, one per round.
    pub rounds: usize,
    /// Percent of commands answered NotNow once before being acknowledged.
    pub not_now_percent: u64,
    pub api_key: String,
    pub topic: String,
    /// Prove identity with a TLS client certificate (one connection per device) instead of
    /// signing every request (Mdm-Signature), as devices do unless their profile sets
    /// SignMessage.
    pub mtls: bool,
    /// Pace device requests to this many per second (None: as fast as the server answers),
    /// to measure latency at a given load rather than at saturation.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SimReport {
    pub devices: usize,
    /// Device requests during the command rounds (enrollment not counted).
    pub messages: u64,
    pub seconds: f64,
    pub messages_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub acknowledged: u64,
    pub not_now: u64,
    pub errors: u64,
    /// When each timed command round ran, so a harness can attribute the server's CPU time to
    /// the device loop alone (not to enrollment or the admin enqueues between rounds).
    #[serde(skip)]
    pub windows: Vec<(Instant, Instant)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("{0}")]
    Protocol(String),
}

/// Hands out send times `1/rate` apart: each request waits for its slot, so the offered load
/// is the rate whatever the server's latency (up to the concurrency bound).
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    async fn wait(&self) {
        let slot = match self.next.lock() {
            Ok(mut next) => {
                let slot = (*next).max(Instant::now());
                *next = slot + self.interval;
                slot
            }
            Err(_) => return,
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[derive(Default)]
struct Stats {
    pacer: Option<Pacer>,
    latencies_us: Mutex<Vec<u64>>,
    acknowledged: AtomicU64,
    not_now: AtomicU64,
    errors: AtomicU64,
}

/// Issues one identity per device from `ca` (kept apart from `run_devices` so a benchmark can
/// leave key generation out of what it measures).
pub fn issue_devices(count: usize, ca: &Ca) -> Result<Vec<Arc<VirtualDevice>>, SimError> {
    (0..count)
        .map(|i| {
            // Every tenth device has an RSA identity, the rest ECDSA, as a mixed fleet would.
            let kind = if i % 10 == 9 {
                KeyKind::Rsa2048
            } else {
                KeyKind::EcdsaP256
            };
            let identity = ca.issue_device_identity(&format!("sim-{i}"), kind, 30)?;
            Ok(Arc::new(VirtualDevice::new(i, identity)))
        })
        .collect()
}

pub async fn run(config: &SimConfig, ca: &Ca) -> Result<SimReport, SimError> {
    let devices = issue_devices(config.devices, ca)?;
    run_devices(config, ca, devices).await
}

/// Enrolls `devices`, then runs the command rounds.
pub async fn run_devices(config: &SimConfig, ca: &Ca, devices: Vec<Arc<VirtualDevice>>) -> Result<SimReport, SimError> {
    let client = Client::new(&config.server, ca.cert_der())?;
    let clients: Vec<Option<Client>> = devices
        .iter()
        .map(|d| {
            let c = &d.identity;
            config
                .mtls
                .then(|| Client::with_identity(&config.server, ca.cert_der(), &c.cert_der, &c.key_pkcs8_der))
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    let channel = |i: usize| Channel {
        client: clients[i].clone().unwrap_or_else(|| client.clone()),
        sign: !config.mtls,
    };
    // Enrollment: Authenticate then TokenUpdate for every device.
    let enrolled = stream::iter(devices.iter().cloned().enumerate())
        .map(|(i, d)| {
            let (channel, topic) = (channel(i), config.topic.clone());
            async move {
                for body in [d.authenticate(&topic), d.token_update(&topic)] {
                    let signature = if channel.sign { Some(d.sign(&body)?) } else { None };
                    let a = channel.put(CHECKIN, signature.as_deref(), body).await?;
                    if !a.status.is_success() {
                        return Err(SimError::Protocol(format!(
                            "check-in answered {}: {}",
                            a.status,
                            String::from_utf8_lossy(&a.body)
                        )));
                    }
                }
                Ok::<_, SimError>(())
            }
        })
        .buffer_unordered(config.concurrency)
        .collect::<Vec<_>>()
        .await;
    enrolled.into_iter().collect::<Result<Vec<_>, _>>()?;

    let pacer = config.rate.filter(|r| *r > 0.0).map(|r| Pacer {
        interval: Duration::from_secs_f64(1.0 / r),
        next: Mutex::new(Instant::now()),
    });
    let stats = Arc::new(Stats {
        pacer,
        ..Stats::default()
    });
    let kinds = [
        "DeviceInformation",
        "SecurityInfo",
        "ProfileList",
        "CertificateList",
        "InstalledApplicationList",
    ];
    let mut windows = Vec::new();
    for round in 0..config.rounds {
        enqueue_all(&client, config, &devices, kinds[round % kinds.len()]).await?;
        let start = Instant::now();
        stream::iter(devices.iter().cloned().enumerate())
            .map(|(i, d)| {
                let (channel, stats) = (channel(i), stats.clone());
                let not_now = (i as u64 * 37 + round as u64 * 11) % 100 < config.not_now_percent;
                async move { session(&channel, &d, not_now, &stats).await }
            })
            .buffer_unordered(config.concurrency)
            .for_each(|r| {
                if let Err(e) = r {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "device session failed");
                }
                futures::future::ready(())
            })
            .await;
        windows.push((start, Instant::now()));
    }
    Ok(report(config.devices, &stats, windows))
}

/// Queues one command for every device through the admin API, 200 devices per request.
async fn enqueue_all(
    client: &Client,
    config: &SimConfig,
    devices: &[Arc<VirtualDevice>],
    kind: &str,
) -> Result<(), SimError> {
    let command = match kind {
        "DeviceInformation" => mdm::command::device_information(&[
            "DeviceName",
            "OSVersion",
            "SerialNumber",
            "BatteryLevel",
            "IsSupervised",
        ]),
        "SecurityInfo" => mdm::command::security_info(),
        "ProfileList" => mdm::command::profile_list(),
        "CertificateList" => mdm::command::certificate_list(),
        _ => mdm::command::installed_application_list(),
    };
    let auth = format!("Bearer {}", config.api_key);
    for chunk in devices.chunks(200) {
        let ids: Vec<&str> = chunk.iter().map(|d| d.udid.as_str()).collect();
        let body = encode(command.clone());
        let a = client
            .put(
                &format!("/v1/enqueue/{}", ids.join(",")),
                "application/xml",
                &[("Authorization", &auth)],
                body,
            )
            .await?;
        if !a.status.is_success() {
            return Err(SimError::Protocol(format!(
                "enqueue answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            )));
        }
    }
    Ok(())
}

/// One command-channel session: Idle, then answer each command until the server has nothing
/// more. With `not_now`, the first command is answered NotNow and picked up again by a new
/// Idle, as a device does when it becomes able to run it.
async fn session(channel: &Channel, device: &VirtualDevice, mut not_now: bool, stats: &Stats) -> Result<(), SimError> {
    let (idle, idle_signature) = device.idle()?;
    let idle_signature = channel.sign.then_some(idle_signature);
    let mut next = send(channel, idle.clone(), idle_signature.clone(), stats).await?;
    while let Some(command) = next {
        let (uuid, request_type, dict) = parse_command(&command).map_err(|e| SimError::Protocol(e.to_string()))?;
        let uuid = uuid.ok_or_else(|| SimError::Protocol("a command without CommandUUID".into()))?;
        let body = if not_now {
            stats.not_now.fetch_add(1, Ordering::Relaxed);
            device.result(&uuid, "NotNow", Default::default())
        } else {
            match answer(device, &request_type, &dict) {
                Some(response) => {
                    stats.acknowledged.fetch_add(1, Ordering::Relaxed);
                    device.result(&uuid, "Acknowledged", response)
                }
                None => device.result(&uuid, "Error", Default::default()),
            }
        };
        let signature = if channel.sign { Some(device.sign(&body)?) } else { None };
        next = send(channel, body, signature, stats).await?;
        if not_now && next.is_none() {
            not_now = false;
            next = send(channel, idle.clone(), idle_signature.clone(), stats).await?;
        }
    }
    Ok(())
}

/// Sends a command-channel request; returns the next command, or None for the empty reply.
async fn send(
    channel: &Channel,
    body: Vec<u8>,
    signature: Option<String>,
    stats: &Stats,
) -> Result<Option<Vec<u8>>, SimError> {
    if let Some(pacer) = &stats.pacer {
        pacer.wait().await;
    }
    let a = channel.put(COMMAND, signature.as_deref(), body).await?;
    if let Ok(mut l) = stats.latencies_us.lock() {
        l.push(a.latency.as_micros() as u64);
    }
    if !a.status.is_success() {
        return Err(SimError::Protocol(format!(
            "command channel answered {}: {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        )));
    }
    Ok((!a.body.is_empty()).then(|| a.body.to_vec()))
}

/// How one device reaches the server: its own mTLS connection, or the shared client with
/// every request signed.
struct Channel {
    client: Client,
    sign: bool,
}

impl Channel {
    async fn put(
        &self,
        content_type: &str,
        signature: Option<&str>,
        body: Vec<u8>,
    ) -> Result<super::client::Answer, ClientError> {
        match signature {
            Some(s) => {
                self.client
                    .put("/mdm", content_type, &[("Mdm-Signature", s)], body)
                    .await
            }
            None => self.client.put("/mdm", content_type, &[], body).await,
        }
    }
}

fn report(devices: usize, stats: &Stats, windows: Vec<(Instant, Instant)>) -> SimReport {
    let busy: Duration = windows.iter().map(|(a, b)| *b - *a).sum();
    let mut l = stats.latencies_us.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |v| *v as f64 / 1000.0)
    };
    let seconds = busy.as_secs_f64();
    SimReport {
        devices,
        messages: l.len() as u64,
        seconds,
        messages_per_sec: if seconds > 0.0 { l.len() as f64 / seconds } else { 0.0 },
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: l.last().map_or(0.0, |v| *v as f64 / 1000.0),
        acknowledged: stats.acknowledged.load(Ordering::Relaxed),
        not_now: stats.not_now.load(Ordering::Relaxed),
        errors: stats.errors.load(Ordering::Relaxed),
        windows,
    }
}
