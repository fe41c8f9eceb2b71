//! Enrolled simulated devices as a fleet: the command rounds run over them, and `listen` keeps
//! them reachable afterwards, polling when woken by a push (`Wakers`) or at an interval, as
//! real devices are.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use tokio::sync::{watch, Notify};

use super::channel::{Channel, Clients};
use super::device::VirtualDevice;
use super::run::*;
use crate::pki::Ca;

/// Enrolled devices, how each reaches the server, and what they did: the command rounds run
/// over them, and `listen` keeps them reachable afterwards, as real devices are.
pub struct Fleet {
    clients: Clients,
    devices: Vec<Arc<VirtualDevice>>,
    channels: Vec<Arc<Channel>>,
    stats: Arc<Stats>,
    /// One per device, in `devices` order; `wakers` finds them by push token.
    wake: Vec<Arc<Notify>>,
    wakers: Wakers,
    enroll_time: Duration,
    windows: Vec<(Instant, Instant)>,
    listening: Option<Listening>,
}

struct Listening {
    since: Instant,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Wakes listening devices by push token, as APNs does; cheap to clone, for a task that relays
/// the pushes a mock APNs receives.
#[derive(Clone, Default)]
pub struct Wakers(Arc<HashMap<String, Arc<Notify>>>);

impl Wakers {
    /// Wakes the device whose push token this is (hex, as in APNs' `/3/device/<token>`); false
    /// when no device has it. A device woken during a session runs another one after it.
    pub fn wake(&self, token_hex: &str) -> bool {
        match self.0.get(&token_hex.to_ascii_lowercase()) {
            Some(notify) => {
                notify.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Fleet {
    /// Enrolls `config.devices` devices as `config.enrollment` says.
    pub async fn enroll(config: &SimConfig, ca: &Ca) -> Result<Fleet, SimError> {
        let clients = Clients::new(ca.cert_der());
        let (enrolled, took) = match &config.enrollment {
            Enrollment::Direct => {
                // Key generation is not enrollment.
                let devices = issue_devices_for(config.devices, ca, &config.wire)?;
                let started = Instant::now();
                (enroll_direct(config, &clients, devices).await?, started.elapsed())
            }
            Enrollment::Profile { token } => {
                let started = Instant::now();
                let enrolled = super::enroll::enroll_via_profile(config, &clients, ca, token.as_deref()).await?;
                (enrolled, started.elapsed())
            }
        };
        Ok(Fleet::new(config, clients, enrolled, took))
    }

    /// Enrolls `devices` (identities already issued) directly.
    pub async fn enroll_devices(
        config: &SimConfig,
        ca: &Ca,
        devices: Vec<Arc<VirtualDevice>>,
    ) -> Result<Fleet, SimError> {
        let clients = Clients::new(ca.cert_der());
        let started = Instant::now();
        let enrolled = enroll_direct(config, &clients, devices).await?;
        Ok(Fleet::new(config, clients, enrolled, started.elapsed()))
    }

    fn new(config: &SimConfig, clients: Clients, enrolled: Vec<Enrolled>, enroll_time: Duration) -> Fleet {
        let (devices, channels): (Vec<_>, Vec<_>) = enrolled.into_iter().unzip();
        let pacer = config.rate.filter(|r| *r > 0.0).map(|r| Pacer {
            interval: Duration::from_secs_f64(1.0 / r),
            next: Mutex::new(Instant::now()),
        });
        let wake: Vec<Arc<Notify>> = devices.iter().map(|_| Arc::new(Notify::new())).collect();
        let wakers = devices
            .iter()
            .zip(&wake)
            .map(|(d, notify)| (hex::encode(d.push_token()), notify.clone()))
            .collect();
        Fleet {
            clients,
            devices,
            channels: channels.into_iter().map(Arc::new).collect(),
            stats: Arc::new(Stats {
                pacer,
                ..Stats::default()
            }),
            wake,
            wakers: Wakers(Arc::new(wakers)),
            enroll_time,
            windows: Vec::new(),
            listening: None,
        }
    }

    pub fn devices(&self) -> &[Arc<VirtualDevice>] {
        &self.devices
    }

    pub fn wakers(&self) -> Wakers {
        self.wakers.clone()
    }

    /// The command rounds: queue one command for every device, let every device run its
    /// command-channel session, measuring every device request.
    pub async fn command_rounds(&mut self, config: &SimConfig) -> Result<(), SimError> {
        let admin = self.clients.shared(&config.server)?;
        let kinds = [
            "DeviceInformation",
            "SecurityInfo",
            "ProfileList",
            "CertificateList",
            "InstalledApplicationList",
        ];
        for round in 0..config.rounds {
            enqueue_all(&admin, config, &self.devices, kinds[round % kinds.len()]).await?;
            let start = Instant::now();
            let stats = &self.stats;
            stream::iter(self.devices.iter().cloned().enumerate())
                .map(|(i, d)| {
                    let channel = self.channels[i].clone();
                    let not_now = (i as u64 * 37 + round as u64 * 11) % 100 < config.not_now_percent;
                    async move { session(&channel, &d, not_now, stats).await }
                })
                .buffer_unordered(config.concurrency.max(1))
                .for_each(|r| {
                    if let Err(e) = r {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "device session failed");
                    }
                    futures::future::ready(())
                })
                .await;
            self.windows.push((start, Instant::now()));
        }
        Ok(())
    }

    /// Keeps every device reachable until `stop`: each runs a command-channel session at once,
    /// then whenever woken (`wakers`) or `poll` has passed without a wake, as a device answers
    /// pushes and checks in now and then.
    pub fn listen(&mut self, poll: Duration) {
        if self.listening.is_some() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let tasks = self
            .devices
            .iter()
            .zip(&self.channels)
            .zip(&self.wake)
            .map(|((device, channel), waker)| {
                let (device, channel, waker) = (device.clone(), channel.clone(), waker.clone());
                let (stats, mut stopped) = (self.stats.clone(), stopped.clone());
                tokio::spawn(async move {
                    loop {
                        if let Err(e) = session(&channel, &device, false, &stats).await {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(udid = %device.udid, error = %e, "device session failed");
                        }
                        tokio::select! {
                            () = waker.notified() => {}
                            () = tokio::time::sleep(poll) => {}
                            _ = stopped.changed() => break,
                        }
                        if *stopped.borrow() {
                            break;
                        }
                    }
                })
            })
            .collect();
        self.listening = Some(Listening {
            since: Instant::now(),
            stop,
            tasks,
        });
    }

    /// Ends `listen`, once every session in progress has finished.
    pub async fn stop(&mut self) {
        if let Some(listening) = self.listening.take() {
            let _ = listening.stop.send(true);
            for task in listening.tasks {
                if let Err(e) = task.await {
                    tracing::warn!(error = %e, "a listening device's task failed");
                }
            }
            self.windows.push((listening.since, Instant::now()));
        }
    }

    /// What the devices did so far (a listening period so far counts as a round).
    pub fn report(&self) -> SimReport {
        let mut windows = self.windows.clone();
        if let Some(listening) = &self.listening {
            windows.push((listening.since, Instant::now()));
        }
        let mut report = report(self.devices.len(), self.enroll_time, &self.stats, windows);
        for channel in &self.channels {
            let (reconnects, ber) = channel.wire_totals();
            report.reconnects += reconnects;
            report.ber_signatures += ber;
        }
        report
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The devices' tasks end after their session in progress.
        if let Some(listening) = &self.listening {
            let _ = listening.stop.send(true);
        }
    }
}
