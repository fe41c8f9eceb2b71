//! The log's events published to NATS JetStream, from a checkpointed subscription.
//!
//! Every event goes, in log order, to `<prefix>.<EventType>` (default prefix `annal.events`) as a
//! CloudEvents 1.0 JSON body (see `envelope`), with `Nats-Msg-Id` = the event id. An event counts
//! as delivered only once JetStream acknowledged it (PubAck); until then it is published again
//! with capped, jittered backoff (NATS down, no stream, timeouts), and the events after it wait.
//! The checkpoint (`nats:<stream>:<prefix>` in the read-model database) moves only over
//! acknowledged events and is saved in batches and at shutdown, so after a crash the events since
//! the last save are published again; JetStream drops them within the stream's duplicate window
//! (keyed by `Nats-Msg-Id`), so the stream holds each event once. The stream is created when
//! missing (subjects `<prefix>.>`, a 2-minute duplicate window) or used as it is.

mod envelope;
mod publish;

use std::time::Duration;

pub use envelope::{cloud_event, cloud_event_type, subject, EnvelopeError, CONTENT_TYPE, SPEC_VERSION};

use crate::backoff::Backoff;
use crate::readmodel::ReadModelDb;
use crate::store::EventStore;
use crate::stream::redact::redacted_url;
use crate::stream::sink::{self, Checkpointing, SinkHandle};
use std::sync::Arc;

pub const DEFAULT_STREAM: &str = "ANNAL";
pub const DEFAULT_SUBJECT_PREFIX: &str = "annal.events";

#[derive(Clone)]
pub struct NatsConfig {
    /// `nats://host:4222` (or `tls://`), several separated by commas; may carry `user:pass@`.
    pub url: String,
    /// The JetStream stream the events go to.
    pub stream: String,
    pub subject_prefix: String,
    /// The CloudEvents `source`. Default: `annal://<stream>`.
    pub source: String,
    /// The contents of a NATS `.creds` file (user JWT and NKey seed), when the server wants one.
    pub credentials: Option<String>,
    /// The duplicate window of a stream Annal creates: a crash followed by a restart within it
    /// leaves no duplicate in the stream.
    pub duplicate_window: Duration,
    /// How long to wait for a PubAck before publishing again.
    pub ack_timeout: Duration,
    pub connect_timeout: Duration,
    pub backoff: Backoff,
    /// Save the checkpoint after this many acknowledged events…
    pub checkpoint_every: u64,
    /// …or after this long, whichever comes first.
    pub checkpoint_interval: Duration,
}

impl NatsConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: DEFAULT_STREAM.into(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.into(),
            source: format!("annal://{DEFAULT_STREAM}"),
            credentials: None,
            duplicate_window: Duration::from_secs(120),
            ack_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
            checkpoint_every: 100,
            checkpoint_interval: Duration::from_secs(1),
        }
    }

    /// The servers as logs show them: hosts only.
    pub fn target(&self) -> String {
        self.url
            .split(',')
            .map(|u| redacted_url(u.trim()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

// The URL may carry a password and the credentials are secrets: neither is printed.
impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("servers", &self.target())
            .field("stream", &self.stream)
            .field("subject_prefix", &self.subject_prefix)
            .field("source", &self.source)
            .field("credentials", &self.credentials.as_ref().map(|_| "<set>"))
            .field("duplicate_window", &self.duplicate_window)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("NATS server address {0:?}: {1}")]
    Url(String, String),
    #[error("NATS stream name {0:?}: {1}")]
    Stream(String, &'static str),
    #[error("NATS subject prefix {0:?}: {1}")]
    SubjectPrefix(String, &'static str),
    #[error("NATS credentials: {0}")]
    Credentials(String),
}

/// The checkpoint a stream and prefix keep their position under: another stream or prefix is
/// another destination, and starts from the beginning of the log.
pub fn checkpoint_name(stream: &str, subject_prefix: &str) -> String {
    format!("nats:{stream}:{subject_prefix}")
}

/// Checks what can be checked before connecting.
pub fn check(config: &NatsConfig) -> Result<(), ConfigError> {
    for server in config.url.split(',').map(str::trim) {
        if let Err(e) = server.parse::<async_nats::ServerAddr>() {
            return Err(ConfigError::Url(redacted_url(server), e.to_string()));
        }
    }
    let stream = &config.stream;
    if stream.is_empty() || stream.len() > 255 {
        return Err(ConfigError::Stream(stream.clone(), "must have 1 to 255 characters"));
    }
    if stream
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c))
    {
        return Err(ConfigError::Stream(
            stream.clone(),
            "must not hold whitespace, '.', '*', '>', '/' or '\\'",
        ));
    }
    let prefix = &config.subject_prefix;
    if prefix.split('.').any(str::is_empty) {
        return Err(ConfigError::SubjectPrefix(prefix.clone(), "has an empty token"));
    }
    if prefix
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
    {
        return Err(ConfigError::SubjectPrefix(
            prefix.clone(),
            "must not hold whitespace or wildcards ('*', '>')",
        ));
    }
    Ok(())
}

/// Starts publishing the log from its checkpoint (the beginning of the log the first time).
/// Nothing connects yet: NATS being down at start is retried like any other failure.
pub fn spawn(
    store: Arc<dyn EventStore>,
    readmodels: Arc<dyn ReadModelDb>,
    config: NatsConfig,
) -> Result<SinkHandle, ConfigError> {
    check(&config)?;
    if let Some(creds) = &config.credentials {
        async_nats::ConnectOptions::new()
            .credentials(creds)
            .map_err(|e| ConfigError::Credentials(e.to_string()))?;
    }
    let checkpointing = Checkpointing {
        name: checkpoint_name(&config.stream, &config.subject_prefix),
        every: config.checkpoint_every,
        interval: config.checkpoint_interval,
        backoff: config.backoff,
    };
    Ok(sink::spawn(
        store,
        readmodels,
        publish::NatsSink::new(config),
        checkpointing,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_connecting() {
        let ok = NatsConfig::new("nats://127.0.0.1:4222");
        assert!(check(&ok).is_ok());
        let with = |f: fn(&mut NatsConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            check(&c)
        };
        type Change = fn(&mut NatsConfig);
        let refused: [(Change, &str); 6] = [
            (|c| c.stream = "A.B".into(), "stream name"),
            (|c| c.stream = String::new(), "stream name"),
            (|c| c.subject_prefix = "a..b".into(), "subject prefix"),
            (|c| c.subject_prefix = "a.*".into(), "subject prefix"),
            (|c| c.subject_prefix = "a.b.".into(), "subject prefix"),
            (|c| c.url = "nats://h:notaport".into(), "server address"),
        ];
        for (change, what) in refused {
            let error = with(change).unwrap_err().to_string();
            assert!(error.contains(what), "{error}");
        }
        assert!(with(|c| c.url = "nats://a:4222, nats://b:4222".into()).is_ok());
    }

    #[test]
    fn passwords_and_credentials_stay_out_of_debug_output() {
        let config = NatsConfig {
            credentials: Some("-----BEGIN NATS USER JWT-----\nc3VwZXJzZWNyZXQ".into()),
            ..NatsConfig::new("nats://annal:s3cret@nats1:4222,nats://annal:s3cret@nats2:4222")
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("c3VwZXJzZWNyZXQ"),
            "{shown}"
        );
        assert_eq!(config.target(), "nats://nats1:4222…,nats://nats2:4222…");
        assert_eq!(checkpoint_name("ANNAL", "annal.events"), "nats:ANNAL:annal.events");
    }
}
