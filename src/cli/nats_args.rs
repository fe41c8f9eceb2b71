//! `annal serve --nats-url …`: the log's events published to NATS JetStream as CloudEvents.

use std::path::PathBuf;

use annal::stream::nats::{DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX};

#[derive(Debug, clap::Args)]
pub struct NatsArgs {
    /// Publish every event of the log to NATS JetStream (`nats://host:4222`, several separated
    /// by commas), as CloudEvents JSON on `<prefix>.<EventType>`, in log order, at least once and
    /// deduplicated by event id; resumes from a checkpoint after a restart. One node per stream.
    #[arg(long, env = "ANNAL_NATS_URL", hide_env_values = true)]
    pub nats_url: Option<String>,
    /// The JetStream stream; created (subjects `<prefix>.>`, 2-minute duplicate window) if missing.
    #[arg(long, env = "ANNAL_NATS_STREAM", default_value = DEFAULT_STREAM)]
    pub nats_stream: String,
    /// Subjects are `<prefix>.<EventType>`.
    #[arg(long, env = "ANNAL_NATS_SUBJECT_PREFIX", default_value = DEFAULT_SUBJECT_PREFIX)]
    pub nats_subject_prefix: String,
    /// Longest wait between retries while NATS is unreachable, in seconds.
    #[arg(long, env = "ANNAL_NATS_BACKOFF_MAX_SECS", default_value_t = 30)]
    pub nats_backoff_max_secs: u64,
    /// A NATS `.creds` file (user JWT and NKey seed).
    #[arg(long, env = "ANNAL_NATS_CREDS_FILE", requires = "nats_url")]
    pub nats_creds_file: Option<PathBuf>,
    /// The CloudEvents `source` attribute. Default: `annal://<stream>`.
    #[arg(long, env = "ANNAL_NATS_SOURCE", requires = "nats_url")]
    pub nats_source: Option<String>,
}

impl NatsArgs {
    pub fn options(&self) -> annal::config::NatsOptions {
        annal::config::NatsOptions {
            url: self.nats_url.clone(),
            stream: self.nats_stream.clone(),
            subject_prefix: self.nats_subject_prefix.clone(),
            backoff_max_secs: self.nats_backoff_max_secs,
            creds_file: self.nats_creds_file.clone(),
            source: self.nats_source.clone(),
        }
    }
}
