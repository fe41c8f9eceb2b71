//! `annal enroll profile`: writes the enrollment profile (.mobileconfig) for this server, signed
//! with the server identity, for admins who hand profiles out themselves (mail, MDM migration,
//! Apple Configurator). `annal serve` serves the same profile at GET /enroll.

use std::path::PathBuf;
use std::process::ExitCode;

use annal::pki::profile::{enrollment_profile, mobileconfig, PayloadIds};
use annal::pki::Ca;
use annal::push::installed::latest_topic;
use anyhow::Context;

use super::enroll_args::EnrollArgs;
use super::tls::profile_signer;

#[derive(Debug, clap::Subcommand)]
pub enum EnrollCommand {
    /// Write an enrollment profile: Annal's CA, a SCEP payload and the MDM payload.
    Profile {
        #[command(flatten)]
        args: EnrollArgs,
        /// Where to write it; standard output when absent.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Write the plain XML plist, unsigned (devices then show it as "Not Verified").
        #[arg(long)]
        unsigned: bool,
        /// Write a profile without a SCEP challenge (another tool puts one in): without this, a
        /// profile with no challenge is refused, since no device could enroll with it.
        #[arg(long, conflicts_with_all = ["challenge", "scep_challenge_file"])]
        no_challenge: bool,
        /// The signing certificate chain (PEM, leaf first). Default: the server's TLS
        /// certificate in <data-dir>/tls/server.pem.
        #[arg(long, requires = "sign_key", conflicts_with = "unsigned")]
        sign_cert: Option<PathBuf>,
        /// The signing key (PEM or DER). Default: <data-dir>/tls/server.key.
        #[arg(long, requires = "sign_cert")]
        sign_key: Option<PathBuf>,
    },
}

pub async fn run(global: &super::Global, cmd: EnrollCommand) -> anyhow::Result<ExitCode> {
    let EnrollCommand::Profile {
        args,
        out,
        unsigned,
        no_challenge,
        sign_cert,
        sign_key,
    } = cmd;
    let ca_dir = global.data_dir.join("ca");
    anyhow::ensure!(
        ca_dir.join("ca.pem").exists(),
        "no CA in {}: start `annal serve` once (it creates the CA), or pass --data-dir",
        ca_dir.display()
    );
    let ca = Ca::load_or_init(&ca_dir).context("loading Annal's CA")?;
    let base_url = args.base_url.clone().context("--base-url is required")?;
    let topic = match args.topic.clone() {
        Some(topic) => topic,
        None => installed_topic(global).await?,
    };
    let settings = args.settings(base_url, topic, &ca)?;
    anyhow::ensure!(
        settings.challenge.is_some() || no_challenge,
        "no SCEP challenge for the profile: give --scep-challenge-file (the same file `annal serve` is given, or the [enroll] table of --config), a one-time challenge from POST /v1/scep/challenges with --challenge, or --no-challenge if another tool adds one"
    );
    let signer = if unsigned {
        None
    } else {
        let (cert, key) = match (sign_cert, sign_key) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let files =
                    super::tls::server_files(&global.data_dir, &ca, None, &["localhost".into(), "127.0.0.1".into()])?;
                (files.cert, files.key)
            }
        };
        anyhow::ensure!(
            cert.exists() && key.exists(),
            "no server identity at {}: start `annal serve` once, or pass --sign-cert/--sign-key, or --unsigned",
            cert.display()
        );
        Some(profile_signer(&cert, &key)?)
    };
    let profile = enrollment_profile(&settings, &PayloadIds::random())?;
    let bytes = mobileconfig(profile, signer.as_ref())?;
    match out {
        Some(path) => {
            annal::store::private::write_private(&path, &bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} ({})",
                path.display(),
                if unsigned { "unsigned" } else { "signed" }
            );
        }
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The topic of the push certificate installed in the log (`annal push-cert install`).
async fn installed_topic(global: &super::Global) -> anyhow::Result<String> {
    let store = global.open_store().await?;
    latest_topic(store.as_ref())
        .await
        .context("reading the installed push certificate")?
        .context("no push certificate is installed in the event store: install one (annal push-cert install) or pass --topic")
}
