//! `annal serve --apns-url …`: where pushes go and how the push worker behaves.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// APNs: `production` (api.push.apple.com, for push certificates from Apple's portal),
    /// `sandbox`, or a URL (a proxy, or a local mock in tests). The push certificate itself is
    /// installed with `annal push-cert install`.
    #[arg(long, env = "ANNAL_APNS_URL", default_value = "production")]
    pub apns_url: String,
    /// PEM CA certificate(s) to trust for APNs in place of the system's roots (a proxy or mock).
    #[arg(long, env = "ANNAL_APNS_CA_FILE")]
    pub apns_ca_file: Option<PathBuf>,
    /// Pushes in flight at once on the APNs connection.
    #[arg(long, env = "ANNAL_PUSH_CONCURRENCY", default_value_t = 500)]
    pub push_concurrency: usize,
    /// Re-push devices that have pending commands and have been silent this long, in seconds
    /// (0: never). Only the node holding the read-model lease re-pushes.
    #[arg(long, env = "ANNAL_REPUSH_INTERVAL_SECS", default_value_t = 3600)]
    pub repush_interval_secs: u64,
    /// Tries per push when APNs answers 429/5xx or does not answer.
    #[arg(long, env = "ANNAL_PUSH_MAX_ATTEMPTS", default_value_t = 5)]
    pub push_max_attempts: u32,
    /// Longest wait between retries of one push, in seconds.
    #[arg(long, env = "ANNAL_PUSH_BACKOFF_MAX_SECS", default_value_t = 60)]
    pub push_backoff_max_secs: u64,
    /// How long pushing stops after APNs refuses the certificate, in seconds (doubles while
    /// it keeps refusing, up to an hour; installing a certificate resumes at once).
    #[arg(long, env = "ANNAL_PUSH_SUSPEND_SECS", default_value_t = 300)]
    pub push_suspend_secs: u64,
    /// APNs giving no answer for this long (network, DNS, a proxy) raises the alarm: an error
    /// in the log and `annal_push_apns_alarm` 1 at /metrics, in seconds.
    #[arg(long, env = "ANNAL_PUSH_UNREACHABLE_ALARM_SECS", default_value_t = 300)]
    pub push_unreachable_alarm_secs: u64,
    /// Apple's Activation Lock bypass endpoint (`POST /v1/escrowkeyunlock` forwards to it with
    /// the push certificate); a proxy or a local mock in tests. Trusted as APNs is
    /// (`--apns-ca-file`).
    #[arg(long, env = "ANNAL_ESCROW_KEY_UNLOCK_URL", default_value = annal::push::escrow::ESCROW_KEY_UNLOCK_URL)]
    pub escrow_key_unlock_url: String,
}

impl PushArgs {
    pub fn options(&self) -> annal::config::PushOptions {
        annal::config::PushOptions {
            apns_url: self.apns_url.clone(),
            apns_ca_file: self.apns_ca_file.clone(),
            concurrency: self.push_concurrency,
            repush_interval_secs: self.repush_interval_secs,
            max_attempts: self.push_max_attempts,
            backoff_max_secs: self.push_backoff_max_secs,
            suspend_secs: self.push_suspend_secs,
            unreachable_alarm_secs: self.push_unreachable_alarm_secs,
            escrow_key_unlock_url: self.escrow_key_unlock_url.clone(),
        }
    }
}
