//! `annal push-cert inspect | install`: the MDM push certificate Apple's portal issued.
//! `install` writes to the event store directly (stream `push-certificates`, the key sealed with
//! the data key), so every node picks the new certificate up within seconds, without a restart.

use std::path::PathBuf;
use std::process::ExitCode;

use annal::push::installed::{self, InstalledError};
use annal::push::{summarize, Expiry, PushCertificate};
use anyhow::Context;
use chrono::Utc;

#[derive(Debug, clap::Subcommand)]
pub enum PushCertCommand {
    /// Show a push certificate's topic, validity and issuer (a .p12, or PEM with or without its
    /// key; with the key, also check that it belongs to the certificate).
    Inspect {
        /// The certificate: .p12/.pfx, or PEM (certificate, optionally with its key).
        cert: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Install (or renew) the push certificate. Refused when it has expired, when the key does
    /// not belong to it, or when its topic differs from the topic devices are enrolled with
    /// (renew with the same Apple ID to keep the topic), unless --force.
    Install {
        cert: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Install although its topic differs from the enrolled devices' topic: those devices can
        /// no longer be pushed and must re-enroll.
        #[arg(long)]
        force: bool,
        /// The key that seals secrets in events (default: <data-dir>/secrets.key).
        #[arg(long, env = "ANNAL_DATA_KEY_FILE")]
        data_key_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// The private key (PEM, PKCS#1 or PKCS#8), when it is not in the certificate file.
    #[arg(long)]
    key: Option<PathBuf>,
    /// File holding the .p12 password (default: empty password).
    #[arg(long, env = "ANNAL_PUSH_CERT_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
}

impl KeyArgs {
    fn load(&self, cert: &PathBuf) -> anyhow::Result<PushCertificate> {
        let bytes = read(cert)?;
        let key = self.key.as_ref().map(read).transpose()?;
        let password = match &self.password_file {
            Some(p) => String::from_utf8(read(p)?)
                .context("the password file is not UTF-8")?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => String::new(),
        };
        PushCertificate::load(&bytes, key.as_deref(), &password).with_context(|| format!("reading {}", cert.display()))
    }
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

pub async fn run(global: &super::Global, cmd: PushCertCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PushCertCommand::Inspect { cert, key, json } => inspect(&cert, &key, json),
        PushCertCommand::Install {
            cert,
            key,
            force,
            data_key_file,
            json,
        } => install(global, &cert, &key, force, data_key_file, json).await,
    }
}

fn inspect(cert: &PathBuf, key: &KeyArgs, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = read(cert)?;
    let is_pem = std::str::from_utf8(&bytes).is_ok_and(|t| t.contains("-----BEGIN"));
    let has_key = !is_pem || key.key.is_some() || String::from_utf8_lossy(&bytes).contains("PRIVATE KEY-----");
    // With a key at hand, loading also proves the key belongs to the certificate.
    let (summary, key_matches) = if has_key {
        (key.load(cert)?.info, Some(true))
    } else {
        (summarize(&bytes)?, None)
    };
    let expiry = Expiry::of(summary.not_before, summary.not_after, Utc::now());
    if json {
        let mut v = serde_json::to_value(&summary)?;
        v["expiry"] = expiry.label().into();
        v["days_left"] = (summary.not_after - Utc::now()).num_days().into();
        v["key_matches"] = key_matches.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "topic:        {}",
            summary
                .topic
                .as_deref()
                .unwrap_or("(none: not an MDM push certificate)")
        );
        println!("subject:      {}", summary.subject);
        println!("issuer:       {}", summary.issuer);
        println!("serial:       {}", summary.serial_hex);
        println!("sha-256:      {}", summary.fingerprint_sha256);
        println!("valid from:   {}", summary.not_before);
        println!(
            "valid until:  {} ({} days left: {})",
            summary.not_after,
            (summary.not_after - Utc::now()).num_days(),
            expiry.label()
        );
        match key_matches {
            Some(_) => println!("private key:  belongs to the certificate"),
            None => println!("private key:  not given (pass --key to check it)"),
        }
    }
    Ok(if summary.topic.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn install(
    global: &super::Global,
    cert: &PathBuf,
    key: &KeyArgs,
    force: bool,
    data_key_file: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cert = key.load(cert)?;
    let store = global.open_store().await?;
    let head = store.head().await?;
    let data_key = super::data_key::load(global, data_key_file, head.position)?;
    // The enrolled devices' topics come from the log: the latest Authenticate of every
    // enrollment that has not checked out since.
    let bar = super::progress::events_bar(head.position, "reading enrolled topics", json);
    let topics = installed::enrolled_topics(store.as_ref(), |p| bar.set_position(p)).await?;
    bar.finish_and_clear();
    let actor = super::actor::local_actor();
    let event = match installed::install(store.as_ref(), &data_key, &cert, &topics, force, &actor).await {
        Ok(e) => e,
        Err(e @ InstalledError::Topic(_)) => {
            eprintln!("refused: {e}");
            return Ok(ExitCode::from(3));
        }
        Err(e) => return Err(e.into()),
    };
    let expiry = cert.expiry(Utc::now());
    if json {
        let v = serde_json::json!({
            "topic": event.topic,
            "fingerprint_sha256": event.fingerprint_sha256,
            "not_after": event.not_after,
            "replaced_topic": event.replaced_topic,
            "forced": event.forced,
            "expiry": expiry.label(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("installed the push certificate for topic {}", event.topic);
        println!("valid until {} ({})", event.not_after, expiry.label());
        if event.forced {
            println!("FORCED: devices enrolled under another topic can no longer be pushed; they must re-enroll");
        }
        println!("running servers load it within 5 seconds");
    }
    if let Expiry::ExpiringSoon { days_left } = expiry {
        eprintln!("warning: the certificate expires in {days_left} days; renew it in Apple's portal soon");
    }
    Ok(ExitCode::SUCCESS)
}
