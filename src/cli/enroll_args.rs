//! What an enrollment profile says about this server, shared by `annal enroll profile` and
//! `annal serve` (which answers `GET /enroll`).

use std::path::PathBuf;

use annal::pki::profile::EnrollmentSettings;
use annal::pki::Ca;

#[derive(Debug, Clone, clap::Args)]
pub struct EnrollArgs {
    /// The URL devices reach this server at (https://host[:port]); the profile points them at
    /// <base-url>/mdm and <base-url>/scep. `annal serve` defaults to https://<first
    /// --hostname>:<listen port>.
    #[arg(long, env = "ANNAL_BASE_URL")]
    pub base_url: Option<String>,
    /// The push certificate's topic, com.apple.mgmt.External.<uuid> (the UID in its subject).
    /// Default: the topic of the push certificate installed with `annal push-cert install`
    /// (`serve` reads it whenever it serves a profile).
    #[arg(long, env = "ANNAL_PUSH_TOPIC")]
    pub topic: Option<String>,
    /// The SCEP challenge password put into the profile. Prefer --scep-challenge-file: a
    /// command-line value is visible to other users of the host.
    #[arg(long, conflicts_with = "scep_challenge_file")]
    pub challenge: Option<String>,
    /// A file holding the static SCEP challenge password (trailing newline ignored). `serve`
    /// accepts it at /scep and puts it into the profiles it serves: any device that knows it
    /// gets an identity. One-time challenges (`POST /v1/scep/challenges`) work either way.
    #[arg(long, env = "ANNAL_SCEP_CHALLENGE_FILE")]
    pub scep_challenge_file: Option<PathBuf>,
    /// The organization shown on the profile and put into the device certificate's subject.
    #[arg(long, env = "ANNAL_ORGANIZATION", default_value = "Annal")]
    pub organization: String,
}

impl EnrollArgs {
    pub fn options(&self) -> annal::config::EnrollOptions {
        annal::config::EnrollOptions {
            base_url: self.base_url.clone(),
            topic: self.topic.clone(),
            challenge: self.challenge.clone(),
            scep_challenge_file: self.scep_challenge_file.clone(),
            organization: self.organization.clone(),
        }
    }

    /// The settings for `base_url` and `topic`, checked as a device would check them.
    pub fn settings(&self, base_url: String, topic: String, ca: &Ca) -> anyhow::Result<EnrollmentSettings> {
        let settings = EnrollmentSettings {
            base_url: base_url.trim_end_matches('/').to_owned(),
            topic,
            challenge: self.options().challenge()?,
            ca_cert_der: ca.cert_der().to_vec(),
            organization: self.organization.clone(),
        };
        settings.check()?;
        Ok(settings)
    }
}
