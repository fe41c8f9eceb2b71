//! Reloads the server's TLS certificate and key without a restart: on SIGHUP, and when either
//! file changes (checked periodically). A pair that does not load, does not match or is not
//! valid now is refused and the server keeps the one it has. Connections already open keep
//! the certificate they were made with; new ones get the new one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::observe::Observer;
use crate::pki::Ca;
use axum_server::tls_rustls::RustlsConfig;
use tokio::sync::watch;

pub struct TlsReloader {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub trust: super::client_trust::ClientTrust,
    pub config: RustlsConfig,
    pub observer: Arc<Observer>,
    /// Set when Annal's CA issued the files: it renews them before they expire. `None` for
    /// the admin's own certificate, which is only warned about.
    pub renewal: Option<Renewal>,
}

/// What renewing an Annal-issued certificate needs.
pub struct Renewal {
    pub ca: Arc<Ca>,
}

/// How often the certificate's expiry is checked: often enough that a 30-day margin is never
/// missed, rare enough to cost nothing.
const EXPIRY_CHECK: Duration = Duration::from_secs(6 * 3600);

type Stamp = (Option<SystemTime>, Option<SystemTime>);

impl TlsReloader {
    fn stamp(&self) -> Stamp {
        let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (modified(&self.cert), modified(&self.key))
    }

    /// Loads the files and swaps them in; returns whether it did.
    pub fn reload(&self, why: &str) -> bool {
        match super::tls::server_config(&self.cert, &self.key, &self.trust) {
            Ok((config, info)) => {
                self.config.reload_from_config(config);
                self.observer.set_tls_not_after(info.not_after);
                metrics::counter!("annal_tls_reloads_total", "outcome" => "ok").increment(1);
                tracing::info!(why, cert = %self.cert.display(), subject = %info.subject, not_after = %info.not_after, "reloaded the server's TLS certificate");
                true
            }
            Err(e) => {
                metrics::counter!("annal_tls_reloads_total", "outcome" => "refused").increment(1);
                tracing::error!(why, cert = %self.cert.display(), error = %crate::server::chain(&e), "the new TLS certificate and key were refused; keeping the current ones");
                false
            }
        }
    }

    /// Renews an Annal-issued certificate that is due (then serves it), or warns about the
    /// admin's own certificate close to expiry.
    fn check_expiry(&self) -> bool {
        match &self.renewal {
            Some(r) => match super::tls::renew_if_due(&r.ca, &self.cert, &self.key) {
                Ok(renewed) => renewed && self.reload("renewed before expiry"),
                Err(e) => {
                    metrics::counter!("annal_tls_certificate_renewals_total", "outcome" => "failed").increment(1);
                    tracing::error!(cert = %self.cert.display(), error = %crate::server::chain(&e), "renewing the server's TLS certificate failed");
                    false
                }
            },
            None => {
                if let Some(not_after) = self.observer.tls_not_after() {
                    let left = not_after - chrono::Utc::now();
                    if left < chrono::Duration::days(super::tls_issued::RENEW_BEFORE_DAYS) {
                        tracing::warn!(cert = %self.cert.display(), %not_after, "the server's TLS certificate (your own, not Annal's) expires soon: replace the files; they are reloaded when they change");
                    }
                }
                false
            }
        }
    }

    /// Runs until `stopping` turns true. `interval`: how often the files are checked for a
    /// change (`None`: only on SIGHUP).
    pub fn spawn(self, interval: Option<Duration>, mut stopping: watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut hangup = hangup();
            let mut seen = self.stamp();
            let mut tick = tokio::time::interval(interval.unwrap_or(Duration::from_secs(3600)));
            tick.tick().await;
            let mut expiry = tokio::time::interval(EXPIRY_CHECK);
            loop {
                tokio::select! {
                    _ = stopping.wait_for(|s| *s) => return,
                    signal = next_hangup(&mut hangup) => {
                        if !signal { hangup = None; continue; }
                        seen = self.stamp();
                        self.reload("SIGHUP");
                    }
                    _ = tick.tick(), if interval.is_some() => {
                        let now = self.stamp();
                        // A pair that was refused (half written, not valid yet because of a
                        // clock step) is tried again at every tick until it loads.
                        if now != seen && self.reload("the certificate files changed") {
                            seen = now;
                        }
                    }
                    _ = expiry.tick() => {
                        if self.check_expiry() {
                            seen = self.stamp();
                        }
                    }
                }
            }
        });
    }
}

/// Behind a proxy there is no certificate to reload; SIGHUP (whose default action ends the
/// process) is logged and otherwise ignored, so a routine `systemctl reload` stops nothing.
pub fn ignore_hangup(mut stopping: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut hangup = hangup();
        loop {
            tokio::select! {
                _ = stopping.wait_for(|s| *s) => return,
                signal = next_hangup(&mut hangup) => {
                    if !signal { return; }
                    tracing::info!("SIGHUP: serving plain HTTP behind a proxy, no TLS certificate to reload");
                }
            }
        }
    });
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

fn hangup() -> Hangup {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
    #[cfg(not(unix))]
    None
}

/// True when a SIGHUP arrived; false when no more can (never resolves without a handler).
async fn next_hangup(hangup: &mut Hangup) -> bool {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        return signal.recv().await.is_some();
    }
    let _ = hangup;
    std::future::pending().await
}
