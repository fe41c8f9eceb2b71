//! The installed push certificate lives in the log (stream `push-certificates`, its key sealed
//! with the data key): every node reads the latest one, and an install is an event that says
//! who installed what, replacing which topic.

use std::collections::{BTreeSet, HashMap};

use annal_schemas::events::push::PushCertificateInstalled;
use annal_schemas::{Event, NewEvent};

use super::certificate::{CertificateError, PushCertificate};
use crate::domain::push::{check_renewal_topic, TopicConflict};
use crate::secrets::{DataKey, SecretsError};
use crate::store::{EventStore, ExpectedVersion, StoreError};

pub const STREAM: &str = "push-certificates";

#[derive(Debug, thiserror::Error)]
pub enum InstalledError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the installed push certificate's key cannot be opened: {0}")]
    Key(#[from] SecretsError),
    #[error("the installed push certificate cannot be read: {0}")]
    Certificate(#[from] CertificateError),
    #[error("event {0} in {STREAM} cannot be read: {1}")]
    Unreadable(u64, String),
    #[error(transparent)]
    Topic(#[from] TopicConflict),
    #[error("the push certificate has expired (not after {0}); renew it in Apple's portal first")]
    Expired(chrono::DateTime<chrono::Utc>),
    #[error("another push certificate was installed at the same time; run the install again")]
    Raced,
}

/// The latest installed certificate and the stream version it was read at.
pub struct Installed {
    pub certificate: PushCertificate,
    pub event: PushCertificateInstalled,
    pub version: u64,
}

/// The latest install in the log, if any.
pub async fn latest(store: &dyn EventStore, key: &DataKey) -> Result<Option<Installed>, InstalledError> {
    let Some((event, version)) = latest_event(store).await? else {
        return Ok(None);
    };
    let key_pem = key.open(&event.key)?;
    let key_pem = String::from_utf8(key_pem).map_err(|_| CertificateError::BadKey)?;
    let certificate = PushCertificate::from_pem(&event.certificate_pem, &key_pem)?;
    Ok(Some(Installed {
        certificate,
        event,
        version,
    }))
}

/// The installed push certificate's topic, if any; needs no data key (the topic is in clear).
pub async fn latest_topic(store: &dyn EventStore) -> Result<Option<String>, InstalledError> {
    Ok(latest_event(store).await?.map(|(event, _)| event.topic))
}

/// The latest `PushCertificateInstalled` and its stream version.
async fn latest_event(store: &dyn EventStore) -> Result<Option<(PushCertificateInstalled, u64)>, InstalledError> {
    let mut from = 1;
    let mut last = None;
    loop {
        let page = store.read_stream(STREAM, from, 100).await?;
        let Some(end) = page.last().map(|e| e.stream_version) else {
            break;
        };
        last = page.into_iter().last();
        from = end + 1;
    }
    let Some(recorded) = last else {
        return Ok(None);
    };
    match recorded.decode() {
        Ok(Event::PushCertificateInstalled(e)) => Ok(Some((e, recorded.stream_version))),
        Ok(other) => Err(InstalledError::Unreadable(
            recorded.stream_version,
            other.event_type().into(),
        )),
        Err(e) => Err(InstalledError::Unreadable(recorded.stream_version, e.to_string())),
    }
}

/// Installs `cert`: refused if it has expired, or if its topic differs from the topics devices
/// are enrolled with (`enrolled_topics`) unless `force`.
pub async fn install(
    store: &dyn EventStore,
    key: &DataKey,
    cert: &PushCertificate,
    enrolled_topics: &BTreeSet<String>,
    force: bool,
    actor: &str,
) -> Result<PushCertificateInstalled, InstalledError> {
    let now = chrono::Utc::now();
    if now >= cert.info.not_after {
        return Err(InstalledError::Expired(cert.info.not_after));
    }
    let previous = latest(store, key).await?;
    let mut known: BTreeSet<&str> = enrolled_topics.iter().map(String::as_str).collect();
    if let Some(p) = &previous {
        known.insert(p.event.topic.as_str());
    }
    let conflict = check_renewal_topic(&cert.topic, known.iter().copied());
    if let (Err(e), false) = (&conflict, force) {
        return Err(e.clone().into());
    }
    let (certificate_pem, key_pem) = cert.to_pem();
    let event = PushCertificateInstalled {
        topic: cert.topic.clone(),
        fingerprint_sha256: cert.info.fingerprint_sha256.clone(),
        serial_hex: cert.info.serial_hex.clone(),
        subject: cert.info.subject.clone(),
        issuer: cert.info.issuer.clone(),
        not_before: cert.info.not_before,
        not_after: cert.info.not_after,
        certificate_pem,
        key: key.seal(key_pem.as_bytes())?,
        replaced_topic: previous.as_ref().map(|p| p.event.topic.clone()),
        forced: conflict.is_err(),
    };
    let expected = match &previous {
        Some(p) => ExpectedVersion::Exact(p.version),
        None => ExpectedVersion::NoStream,
    };
    match store.append(STREAM, expected, vec![NewEvent::new(actor, &event)]).await {
        Ok(_) => Ok(event),
        Err(StoreError::WrongExpectedVersion { .. }) => Err(InstalledError::Raced),
        Err(e) => Err(e.into()),
    }
}

/// The topics of enrollments that are enrolled now (their latest Authenticate, unless a
/// CheckOut followed), read from the whole log. `progress` is called with each page's last
/// position.
pub async fn enrolled_topics(
    store: &dyn EventStore,
    mut progress: impl FnMut(u64),
) -> Result<BTreeSet<String>, InstalledError> {
    let mut by_stream: HashMap<String, Option<String>> = HashMap::new();
    let mut from = 1;
    loop {
        let page = store.read_all(from, 10_000).await?;
        let Some(end) = page.last().map(|e| e.global_position) else {
            break;
        };
        for e in &page {
            match e.event_type.as_str() {
                "Authenticate" => {
                    if let Ok(Event::Authenticate(a)) = e.decode() {
                        by_stream.insert(e.stream.clone(), Some(a.topic));
                    }
                }
                "CheckOut" => {
                    by_stream.insert(e.stream.clone(), None);
                }
                _ => {}
            }
        }
        progress(end);
        from = end + 1;
    }
    Ok(by_stream.into_values().flatten().collect())
}
