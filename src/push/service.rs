//! Pushing one enrollment: find its token, open its PushMagic, send, record the attempt and
//! APNs' answer as events, act on the verdict (retry later, mark the token dead, or stop pushing
//! altogether when APNs refuses the certificate).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use annal_schemas::events::push::{PushAccepted, PushAttempted, PushFailed};
use chrono::Utc;
use uuid::Uuid;

use super::apns::{ApnsClient, ApnsConfig, ApnsError};
use super::certificate::Expiry;
use super::installed::{self, Installed, InstalledError};
use super::suspension::{Suspender, Suspension};
use crate::domain::enrollment::{AdminInput, Input, PushAnswer};
use crate::domain::push::{backoff, classify, target, NoPush, Verdict};
use crate::secrets::DataKey;
use crate::service::enrollments::{Enrollments, ServiceError};
use crate::store::EventStore;

/// Why a push was not sent.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("push is not configured: no push certificate is installed (annal push-cert install)")]
    NoCertificate,
    #[error("the installed push certificate cannot be used on this node: {0}")]
    Unusable(String),
    #[error("pushes are suspended until {until_secs} s from now: {reason}")]
    Suspended { reason: String, until_secs: u64 },
    #[error(transparent)]
    NoPush(#[from] NoPush),
    #[error("the enrollment's topic {enrolled} is not the push certificate's topic {installed}")]
    TopicMismatch { enrolled: String, installed: String },
    #[error("the PushMagic cannot be opened: {0}")]
    Secret(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Tunables, with the defaults `annal serve` uses.
#[derive(Debug, Clone)]
pub struct PushSettings {
    pub apns: ApnsConfig,
    /// Tries per push (429, 5xx and connection errors are retried).
    pub max_attempts: u32,
    pub backoff_max: Duration,
    /// How long pushing stops after APNs refused the certificate (doubling while it repeats).
    pub suspend_for: Duration,
    /// Re-push enrollments with pending commands that have been silent this long (None: never).
    pub repush_interval: Option<Duration>,
    /// APNs giving no answer this long raises the alarm (log error, `annal_push_apns_alarm`).
    pub unreachable_alarm_after: Duration,
    /// Apple's Activation Lock bypass endpoint (a mock in tests); trusted as APNs is.
    pub escrow_key_unlock_url: String,
}

impl PushSettings {
    pub fn new(apns: ApnsConfig) -> Self {
        Self {
            apns,
            max_attempts: 5,
            backoff_max: Duration::from_secs(60),
            suspend_for: Duration::from_secs(300),
            repush_interval: Some(Duration::from_secs(3600)),
            unreachable_alarm_after: Duration::from_secs(300),
            escrow_key_unlock_url: super::escrow::ESCROW_KEY_UNLOCK_URL.to_owned(),
        }
    }
}

/// What one push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    pub push_id: Uuid,
    pub attempt: u32,
    /// `accepted`, `token_dead`, `retry`, `certificate_rejected` or `failed`.
    pub outcome: &'static str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apns_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A retry is scheduled in this many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_secs: Option<u64>,
}

/// The push certificate and the worker's state, for the API and the CLI.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushStatus {
    pub installed: bool,
    /// This node can push with it (false: its key cannot be opened here, or no TLS client).
    pub usable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unusable_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<chrono::DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<chrono::DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// Within 30 days of expiry (or expired): renew it now, with the same topic.
    pub expiring_soon: bool,
    pub expired: bool,
    /// APNs refused the certificate: pushes stop until then (or until a new one is installed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended: Option<SuspendedStatus>,
    pub apns_url: String,
    /// Enrollments waiting for a coalesced push.
    pub waiting: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SuspendedStatus {
    pub reason: String,
    pub resumes_in_secs: u64,
}

pub(super) struct Current {
    pub installed: Installed,
    pub client: Arc<ApnsClient>,
}

pub struct PushService {
    pub(super) store: Arc<dyn EventStore>,
    pub(super) enrollments: Arc<Enrollments>,
    pub(super) data_key: Arc<DataKey>,
    pub(super) settings: PushSettings,
    pub(super) current: RwLock<Option<Arc<Current>>>,
    /// The installed certificate's topic, read without its key: devices are held to it even
    /// when this node cannot use the certificate (wrong data key, no trust roots).
    topic: RwLock<Option<String>>,
    /// Why the installed certificate cannot be used here, if it cannot.
    unusable: RwLock<Option<String>>,
    pub(super) suspension: Suspender,
    pub(super) reachability: super::reachability::Reachability,
    pub(super) queue: super::dispatch::Coalescer,
    pub(super) retries: tokio::sync::mpsc::UnboundedSender<super::dispatch::Retry>,
    pub(super) retry_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<super::dispatch::Retry>>>,
}

impl PushService {
    fn not_usable(&self) -> PushError {
        match self.unusable.read().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(reason) => PushError::Unusable(reason),
            None => PushError::NoCertificate,
        }
    }

    pub fn new(
        store: Arc<dyn EventStore>,
        enrollments: Arc<Enrollments>,
        data_key: Arc<DataKey>,
        settings: PushSettings,
    ) -> Arc<Self> {
        let (retries, retry_rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(Self {
            retries,
            retry_rx: Mutex::new(Some(retry_rx)),
            settings: settings.clone(),
            store,
            enrollments,
            data_key,
            current: RwLock::new(None),
            topic: RwLock::new(None),
            unusable: RwLock::new(None),
            suspension: Suspender::new(settings.suspend_for),
            reachability: super::reachability::Reachability::new(settings.unreachable_alarm_after),
            queue: Default::default(),
        })
    }

    /// Loads the latest installed certificate from the log when it changed. Returns whether
    /// one is installed.
    pub async fn refresh_certificate(&self) -> Result<bool, InstalledError> {
        let known = self.current().map(|c| c.installed.version);
        let head = self
            .store
            .read_stream(installed::STREAM, known.unwrap_or(0) + 1, 1)
            .await?;
        if head.is_empty() {
            return Ok(known.is_some());
        }
        let topic = installed::latest_topic(self.store.as_ref()).await?;
        let installed_now = topic.is_some();
        *self.topic.write().unwrap_or_else(|p| p.into_inner()) = topic;
        let loaded = match self.load().await {
            Ok(loaded) => loaded,
            Err(e) => {
                *self.unusable.write().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                super::metrics::alarm(true);
                return Err(e);
            }
        };
        let Some((installed, client)) = loaded else {
            return Ok(installed_now);
        };
        tracing::info!(
            topic = %installed.event.topic,
            not_after = %installed.event.not_after,
            apns = %self.settings.apns.base_url,
            "push certificate loaded"
        );
        super::metrics::certificate(&installed.certificate, Utc::now());
        *self.unusable.write().unwrap_or_else(|p| p.into_inner()) = None;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(Current {
            installed,
            client: Arc::new(client),
        }));
        // A new certificate deserves a new chance.
        self.suspension.clear();
        super::metrics::alarm(false);
        self.queue.wake();
        Ok(true)
    }

    async fn load(&self) -> Result<Option<(Installed, ApnsClient)>, InstalledError> {
        let Some(installed) = installed::latest(self.store.as_ref(), &self.data_key).await? else {
            return Ok(None);
        };
        let client = ApnsClient::new(&installed.certificate, &self.settings.apns)
            .map_err(|e| InstalledError::Unreadable(installed.version, e.to_string()))?;
        Ok(Some((installed, client)))
    }

    pub(super) fn current(&self) -> Option<Arc<Current>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn status(&self) -> PushStatus {
        let now = Utc::now();
        let topic = self.topic();
        let current = self.current();
        let cert = current.as_ref().map(|c| &c.installed.certificate);
        let expiry = cert.map(|c| c.expiry(now));
        PushStatus {
            installed: topic.is_some(),
            topic,
            fingerprint_sha256: cert.map(|c| c.info.fingerprint_sha256.clone()),
            subject: cert.map(|c| c.info.subject.clone()),
            issuer: cert.map(|c| c.info.issuer.clone()),
            not_before: cert.map(|c| c.info.not_before),
            not_after: cert.map(|c| c.info.not_after),
            days_left: cert.map(|c| (c.info.not_after - now).num_days()),
            expiring_soon: matches!(expiry, Some(Expiry::ExpiringSoon { .. } | Expiry::Expired)),
            expired: matches!(expiry, Some(Expiry::Expired)),
            usable: current.is_some(),
            unusable_reason: self.unusable.read().unwrap_or_else(|p| p.into_inner()).clone(),
            suspended: self.suspended().map(|s| SuspendedStatus {
                reason: s.reason,
                resumes_in_secs: s.until.saturating_duration_since(Instant::now()).as_secs(),
            }),
            apns_url: self.settings.apns.base_url.clone(),
            waiting: self.queue.waiting(),
        }
    }

    /// Asks Apple to remove an Activation Lock (`query` and `form` already encoded) with the
    /// push certificate loaded last (`refresh_certificate`) as the TLS client identity. `Ok(Err(…))`: Apple was not
    /// reached.
    pub async fn escrow_key_unlock(
        &self,
        query: &str,
        form: String,
    ) -> Result<Result<super::escrow::EscrowAnswer, ApnsError>, PushError> {
        let current = self.current().ok_or_else(|| self.not_usable())?;
        let url = &self.settings.escrow_key_unlock_url;
        Ok(super::escrow::unlock(&current.installed.certificate, &self.settings.apns, url, query, form).await)
    }

    /// The topic every Authenticate must carry, once a push certificate is installed.
    pub fn topic(&self) -> Option<String> {
        self.topic.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn suspended(&self) -> Option<Suspension> {
        self.suspension.current(Instant::now())
    }

    fn suspend(&self, reason: String) {
        if let Some(length) = self.suspension.refused(reason.clone(), Instant::now()) {
            tracing::error!(
                reason = %reason,
                suspended_secs = length.as_secs(),
                "APNs refused the push certificate: pushes are suspended (renew or reinstall the push certificate)"
            );
            super::metrics::alarm(true);
        }
    }

    /// Pushes `key` once now (attempt 1), scheduling retries in the background.
    pub async fn push_now(self: &Arc<Self>, key: &str, trigger: &'static str) -> Result<PushReport, PushError> {
        self.push_attempt(key, trigger, Uuid::now_v7(), 1).await
    }

    pub(super) async fn push_attempt(
        self: &Arc<Self>,
        key: &str,
        trigger: &'static str,
        push_id: Uuid,
        attempt: u32,
    ) -> Result<PushReport, PushError> {
        let current = self.current().ok_or_else(|| self.not_usable())?;
        if let Some(s) = self.suspended() {
            return Err(suspended(s));
        }
        let (state, _) = self.enrollments.state(key).await?;
        let target = target(&state).inspect_err(|_| super::metrics::skipped("not_pushable"))?;
        let topic = &current.installed.event.topic;
        if let Some(enrolled) = target.topic.as_ref().filter(|t| *t != topic) {
            super::metrics::skipped("topic_mismatch");
            return Err(PushError::TopicMismatch {
                enrolled: enrolled.clone(),
                installed: topic.clone(),
            });
        }
        let magic = self
            .data_key
            .open(&target.push_magic)
            .map_err(|e| PushError::Secret(e.to_string()))?;
        let magic = String::from_utf8(magic).map_err(|_| PushError::Secret("not UTF-8".into()))?;
        // Asked again once this push has its turn on the connection: a refusal that arrived
        // while it waited stops it here, so a queue of thousands does not reach APNs.
        let turn = current
            .client
            .turn()
            .await
            .map_err(|e| PushError::Unusable(e.to_string()))?;
        self.suspension.admit(Instant::now()).map_err(suspended)?;
        let started = Instant::now();
        let sent = current.client.send(turn, &target.token_hex, &magic).await;
        super::metrics::latency(started.elapsed());
        let (status, apns_id, reason, retry_after) = match sent {
            Ok(a) => (a.status, a.apns_id, a.reason, a.retry_after_secs),
            Err(e) => (0, None, Some(e.to_string()), None),
        };
        let verdict = classify(status, reason.as_deref());
        super::metrics::outcome(verdict);
        self.observe(key, status, verdict, reason.as_deref(), attempt);
        let answer = if verdict == Verdict::Accepted {
            PushAnswer::Accepted(PushAccepted {
                push_id,
                apns_id: apns_id.clone(),
            })
        } else {
            PushAnswer::Failed(PushFailed {
                push_id,
                status,
                reason: reason.clone().unwrap_or_else(|| format!("HTTP {status}")),
                token_dead: verdict == Verdict::TokenDead,
                retry_after_secs: retry_after,
            })
        };
        // The verdict is acted on before it is recorded: a store error must not lose the retry
        // or let pushes go on against a refused certificate.
        let mut retry_in = None;
        match verdict {
            Verdict::Retry if attempt < self.settings.max_attempts => {
                let wait = backoff(attempt, retry_after, self.settings.backoff_max);
                retry_in = Some(wait.as_secs());
                let retry = super::dispatch::Retry {
                    key: key.to_owned(),
                    trigger,
                    push_id,
                    attempt: attempt + 1,
                    wait,
                };
                let _ = self.retries.send(retry);
                self.suspension.undecided();
            }
            Verdict::CertificateRejected => {
                self.suspend(format!("HTTP {status} {}", reason.clone().unwrap_or_default()));
            }
            Verdict::Accepted => {
                if self.suspension.accepted() {
                    super::metrics::alarm(false);
                }
            }
            _ => self.suspension.undecided(),
        }
        let attempted = PushAttempted {
            push_id,
            topic: topic.clone(),
            trigger: trigger.to_owned(),
            attempt,
        };
        let record = Input::Admin(AdminInput::RecordPush {
            attempted,
            answer,
            token_hex: target.token_hex.clone(),
        });
        self.enrollments.handle(key, record, "system", Utc::now()).await?;
        Ok(PushReport {
            push_id,
            attempt,
            outcome: verdict.label(),
            status,
            apns_id,
            reason,
            retry_in_secs: retry_in,
        })
    }
}

impl PushService {
    /// Says what went wrong where an operator looks: a log line and a counter per failure
    /// class, and the start, alarm and end of an outage when APNs stops answering. Neither the
    /// token nor the PushMagic is logged.
    fn observe(&self, key: &str, status: u16, verdict: Verdict, reason: Option<&str>, attempt: u32) {
        use super::reachability::Change;
        let now = Instant::now();
        let class = crate::domain::push::failure_class(status, verdict);
        let change = if class == Some("unreachable") {
            self.reachability.unanswered(now)
        } else {
            self.reachability.answered(now)
        };
        match change {
            Some(Change::Lost) => {
                tracing::warn!(reason = reason.unwrap_or_default(), "APNs does not answer: pushes are retried")
            }
            Some(Change::Alarm(gone)) => tracing::error!(
                unreachable_secs = gone.as_secs(),
                reason = reason.unwrap_or_default(),
                "APNs has not answered for minutes: devices are not being woken (check the network path to APNs, DNS and any proxy)"
            ),
            Some(Change::Back(gone)) => {
                tracing::info!(unreachable_secs = gone.as_secs(), "APNs answers again")
            }
            None => {}
        }
        let Some(class) = class else {
            return;
        };
        super::metrics::failure(class);
        match class {
            // Each unanswered push is not news once the outage was said.
            "unreachable" => tracing::debug!(enrollment = key, attempt, "push got no answer"),
            "token_dead" => {
                tracing::info!(
                    enrollment = key,
                    status,
                    reason = reason.unwrap_or_default(),
                    "push token dead"
                )
            }
            _ => tracing::warn!(
                enrollment = key,
                class,
                status,
                attempt,
                reason = reason.unwrap_or_default(),
                "push failed"
            ),
        }
    }

    /// How long APNs has not answered, if it has not; and whether that is long enough to alarm.
    pub fn apns_unreachable(&self) -> (Option<Duration>, bool) {
        let now = Instant::now();
        (self.reachability.unreachable_for(now), self.reachability.alarming(now))
    }
}

fn suspended(s: Suspension) -> PushError {
    super::metrics::skipped("suspended");
    PushError::Suspended {
        reason: s.reason,
        until_secs: s.until.saturating_duration_since(Instant::now()).as_secs(),
    }
}
