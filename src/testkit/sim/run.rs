//! The simulation: enroll N devices, then rounds of (queue a command for every device, let
//! every device run its command-channel session), measuring every device request; afterwards
//! the devices may stay reachable (`Fleet::listen`), polling when woken or at an interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::answers::answer;
use super::channel::{Channel, Clients};
use super::client::{Answer, Client, ClientError};
use super::ddm::{self, DdmError};
use super::device::{encode, VirtualDevice};
use super::fleet::Fleet;
use super::profile::ProfileReadError;
use super::wire::WireProfile;
use crate::mdm::{self, parse_command};
use crate::pki::scep::{FailInfo, ScepError};
use crate::pki::{Ca, KeyKind, PkiError};

/// How the simulated devices get their identities and find the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Enrollment {
    /// Identities issued by Annal's CA in process; check-in at `<server>/mdm` with the
    /// configured topic. The cheap path, for benchmarks.
    #[default]
    Direct,
    /// As a device does: the enrollment profile from `GET /enroll` with this enrollment token
    /// (None: one is created with the admin key and revoked afterwards), its identity over
    /// SCEP, then check-in at the profile's URLs with its topic.
    Profile { token: Option<String> },
}

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
    pub enrollment: Enrollment,
    /// What the devices' requests look like (`WireProfile::real()`: as real Apple devices').
    /// A profile that signs every request overrides `mtls`.
    pub wire: WireProfile,
}

impl SimConfig {
    /// Whether devices present their identity over TLS rather than signing every request.
    pub fn uses_mtls(&self) -> bool {
        self.mtls && !self.wire.signs_every_request()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SimReport {
    pub devices: usize,
    /// Enrolling every device: Authenticate and TokenUpdate, and with `Enrollment::Profile`
    /// the profile and SCEP before them.
    pub enroll_seconds: f64,
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
    /// Requests sent with `Connection: close` (the device's next request opened a new
    /// connection).
    pub reconnects: u64,
    /// Requests whose Mdm-Signature was BER with indefinite lengths.
    pub ber_signatures: u64,
    /// DDM syncs run after a `DeclarativeManagement` command announced a set the device did
    /// not hold.
    pub ddm_syncs: u64,
    /// Declarations fetched (only those whose ServerToken changed).
    pub declarations_fetched: u64,
    /// DDM status reports posted.
    pub status_reports: u64,
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
    #[error(transparent)]
    Profile(#[from] ProfileReadError),
    #[error("SCEP: {0}")]
    Scep(#[from] ScepError),
    #[error("the SCEP server refused the request: {}", .0.map_or("no failInfo", FailInfo::name))]
    ScepRefused(Option<FailInfo>),
    #[error(transparent)]
    Ddm(#[from] DdmError),
    #[error("{0}")]
    Protocol(String),
}

/// Hands out send times `1/rate` apart: each request waits for its slot, so the offered load
/// is the rate whatever the server's latency (up to the concurrency bound).
pub(super) struct Pacer {
    pub(super) interval: Duration,
    pub(super) next: Mutex<Instant>,
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

/// What the devices did, shared by their sessions.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) pacer: Option<Pacer>,
    pub(super) latencies_us: Mutex<Vec<u64>>,
    pub(super) acknowledged: AtomicU64,
    pub(super) not_now: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) ddm_syncs: AtomicU64,
    pub(super) declarations_fetched: AtomicU64,
    pub(super) status_reports: AtomicU64,
}

impl Stats {
    /// Waits for this request's slot when the run is paced.
    pub(super) async fn pace(&self) {
        if let Some(pacer) = &self.pacer {
            pacer.wait().await;
        }
    }

    /// Counts a device request and its latency.
    pub(super) fn record(&self, answer: &Answer) {
        if let Ok(mut l) = self.latencies_us.lock() {
            l.push(answer.latency.as_micros() as u64);
        }
    }
}

/// Issues one identity per device from `ca` (kept apart from `run_devices` so a benchmark can
/// leave key generation out of what it measures).
pub fn issue_devices(count: usize, ca: &Ca) -> Result<Vec<Arc<VirtualDevice>>, SimError> {
    issue_devices_for(count, ca, &WireProfile::default())
}

/// As [`issue_devices`], with the key kind `wire` asks for.
pub fn issue_devices_for(count: usize, ca: &Ca, wire: &WireProfile) -> Result<Vec<Arc<VirtualDevice>>, SimError> {
    (0..count)
        .map(|i| {
            // Real devices get RSA-2048 from SCEP; otherwise every tenth device has an RSA
            // identity, the rest ECDSA, as a mixed fleet would.
            let kind = if wire.rsa_identities || i % 10 == 9 {
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
    let mut fleet = Fleet::enroll(config, ca).await?;
    fleet.command_rounds(config).await?;
    Ok(fleet.report())
}

/// Enrolls `devices` (identities already issued) directly, then runs the command rounds.
pub async fn run_devices(config: &SimConfig, ca: &Ca, devices: Vec<Arc<VirtualDevice>>) -> Result<SimReport, SimError> {
    let mut fleet = Fleet::enroll_devices(config, ca, devices).await?;
    fleet.command_rounds(config).await?;
    Ok(fleet.report())
}

/// A device and how it reaches the server, once enrolled.
pub type Enrolled = (Arc<VirtualDevice>, Channel);

pub(super) async fn enroll_direct(
    config: &SimConfig,
    clients: &Clients,
    devices: Vec<Arc<VirtualDevice>>,
) -> Result<Vec<Enrolled>, SimError> {
    let url = format!("{}/mdm", config.server.trim_end_matches('/'));
    let admin = clients.shared(&config.server)?;
    stream::iter(devices)
        .map(|d| {
            let mtls = config.uses_mtls().then_some(&d.identity);
            let channel = Channel::open(clients, &url, &url, config.topic.clone(), mtls, &config.wire);
            let admin = &admin;
            async move {
                let channel = channel?;
                if let Err(e) = check_in(&d, &channel).await {
                    // A device of an earlier run, enrolled under the identity that run issued:
                    // the server takes a new identity for it only once an admin has forgotten
                    // the old enrollment, as for a real device that was re-imaged.
                    if !is_reenrollment_refusal(&e) {
                        return Err(e);
                    }
                    forget(admin, config, &d.udid).await?;
                    check_in(&d, &channel).await?;
                }
                Ok((d, channel))
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

pub(super) fn is_reenrollment_refusal(e: &SimError) -> bool {
    matches!(e, SimError::Protocol(m) if m.contains("403") && m.contains("enrolled under another identity"))
}

/// `POST /v1/devices/{udid}/forget` with the simulator's admin key, the reason saying why.
pub(super) async fn forget(client: &Client, config: &SimConfig, udid: &str) -> Result<(), SimError> {
    let auth = format!("Bearer {}", config.api_key);
    let body = br#"{"reason": "annal sim: a simulated device enrolls again with a new identity"}"#.to_vec();
    let a = client
        .send(
            hyper::Method::POST,
            &format!("/v1/devices/{udid}/forget"),
            Some("application/json"),
            &[("Authorization", &auth)],
            body,
        )
        .await?;
    success("forget", a).map(|_| ())
}

/// Authenticate, then TokenUpdate: what a device sends once its MDM profile is installed.
pub(super) async fn check_in(device: &VirtualDevice, channel: &Channel) -> Result<(), SimError> {
    for body in [device.authenticate(&channel.topic), device.token_update(&channel.topic)] {
        let signature = channel.signature(device, &body)?;
        success("check-in", channel.checkin(signature.as_deref(), body).await?)?;
    }
    Ok(())
}

/// Queues one command for every device through the admin API, 200 devices per request.
pub(super) async fn enqueue_all(
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
        success("enqueue", a)?;
    }
    Ok(())
}

/// One command-channel session: Idle, then answer each command until the server has nothing
/// more. With `not_now`, the first command is answered NotNow and picked up again by a new
/// Idle, as a device does when it becomes able to run it. A `DeclarativeManagement` command is
/// acknowledged at once and its sync runs once the command channel is done, as a device
/// acknowledges first and syncs in the background.
pub(super) async fn session(
    channel: &Channel,
    device: &VirtualDevice,
    mut not_now: bool,
    stats: &Stats,
) -> Result<(), SimError> {
    let (idle, idle_signature) = channel.idle(device)?;
    let mut next = send(channel, idle, idle_signature, stats).await?;
    while let Some(command) = next {
        let (uuid, request_type, dict) = parse_command(&command).map_err(|e| SimError::Protocol(e.to_string()))?;
        let uuid = uuid.ok_or_else(|| SimError::Protocol("a command without CommandUUID".into()))?;
        let body = if not_now {
            stats.not_now.fetch_add(1, Ordering::Relaxed);
            device.result(&uuid, "NotNow", Default::default())
        } else if request_type == "DeclarativeManagement" {
            match ddm::announce(device, &dict).await {
                Ok(()) => {
                    stats.acknowledged.fetch_add(1, Ordering::Relaxed);
                    device.result(&uuid, "Acknowledged", Default::default())
                }
                Err(e) => {
                    tracing::warn!(udid = %device.udid, error = %e, "DeclarativeManagement answered Error");
                    device.result(&uuid, "Error", Default::default())
                }
            }
        } else {
            match answer(device, &request_type, &dict) {
                Some(response) => {
                    stats.acknowledged.fetch_add(1, Ordering::Relaxed);
                    device.result(&uuid, "Acknowledged", response)
                }
                None => device.result(&uuid, "Error", Default::default()),
            }
        };
        let signature = channel.signature(device, &body)?;
        next = send(channel, body, signature, stats).await?;
        if not_now && next.is_none() {
            not_now = false;
            let (idle, idle_signature) = channel.idle(device)?;
            next = send(channel, idle, idle_signature, stats).await?;
        }
    }
    ddm::sync_if_due(channel, device, stats).await
}

/// Sends a command-channel request; returns the next command, or None for the empty reply.
pub(super) async fn send(
    channel: &Channel,
    body: Vec<u8>,
    signature: Option<String>,
    stats: &Stats,
) -> Result<Option<Vec<u8>>, SimError> {
    stats.pace().await;
    let a = channel.command(signature.as_deref(), body).await?;
    stats.record(&a);
    let a = success("command channel", a)?;
    Ok((!a.body.is_empty()).then(|| a.body.to_vec()))
}

/// The answer if it is a 2xx; otherwise an error naming the request, the status and the body.
pub(super) fn success(what: &str, a: Answer) -> Result<Answer, SimError> {
    if a.status.is_success() {
        return Ok(a);
    }
    Err(SimError::Protocol(format!(
        "{what} answered {}: {}",
        a.status,
        String::from_utf8_lossy(&a.body).trim()
    )))
}

pub(super) fn report(
    devices: usize,
    enroll_time: Duration,
    stats: &Stats,
    windows: Vec<(Instant, Instant)>,
) -> SimReport {
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
        enroll_seconds: enroll_time.as_secs_f64(),
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
        reconnects: 0,
        ber_signatures: 0,
        ddm_syncs: stats.ddm_syncs.load(Ordering::Relaxed),
        declarations_fetched: stats.declarations_fetched.load(Ordering::Relaxed),
        status_reports: stats.status_reports.load(Ordering::Relaxed),
        windows,
    }
}
