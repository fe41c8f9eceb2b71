//! `annal ca init` and `annal ca show`: Annal's CA (and the server's TLS certificate) in the
//! data directory. `init` is idempotent: a CA that exists is reported, never replaced.

use std::path::PathBuf;
use std::process::ExitCode;

use annal::pki::{certificate_info, Ca};
use annal_schemas::events::identity::CertificateInfo;
use anyhow::Context;
use serde_json::json;

use super::tls::{record_external, server_files, TlsSource};

#[derive(Debug, clap::Subcommand)]
pub enum CaCommand {
    /// Create Annal's CA (ca/ca.key 0600, ca/ca.pem) and the server's TLS certificate, or
    /// record the admin's own (`--tls-cert/--tls-key`). A second run keeps the CA; it issues a
    /// new server certificate only when the hostnames changed or it is close to expiry.
    /// Reads `hostnames`, `tls_cert` and `tls_key` from --config like `serve`.
    Init {
        /// Names for the server certificate Annal issues (the configuration's `hostnames`).
        /// Without them an existing certificate keeps its names, and a new one gets
        /// `localhost,127.0.0.1`.
        #[arg(long = "hostname", value_delimiter = ',')]
        hostnames: Vec<String>,
        /// Your own server certificate chain (PEM) instead of one from Annal's CA.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// Its private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Show the CA certificate: subject, validity, SHA-256 fingerprint.
    Show {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(global: &super::Global, cmd: CaCommand) -> anyhow::Result<ExitCode> {
    let dir = global.data_dir.join("ca");
    let cert_path = dir.join("ca.pem");
    match cmd {
        CaCommand::Init {
            hostnames,
            tls_cert,
            tls_key,
            json,
        } => {
            // The admin's own files are checked before anything is created.
            let given = tls_cert.as_deref().zip(tls_key.as_deref());
            if let Some((cert, key)) = given {
                record_external(&global.data_dir, cert, key)?;
            }
            let existed = cert_path.exists();
            let ca = Ca::load_or_init(&dir).context("creating Annal's CA")?;
            let info = certificate_info(ca.cert_der())?;
            let tls = server_files(&global.data_dir, &ca, given, &hostnames)?;
            if json {
                let out = json!({
                    "ca": ca_json(&info, &cert_path, !existed),
                    "tls": {"source": tls.source, "cert": tls.cert, "key": tls.key},
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let verb = if existed { "exists" } else { "created" };
                println!("CA {verb}: {}", cert_path.display());
                print_ca(&info);
                let how = match tls.source {
                    TlsSource::Issued => "issued by Annal's CA",
                    TlsSource::Existing => "exists",
                    TlsSource::Renewed => "reissued by Annal's CA (the hostnames changed or it was close to expiry)",
                    TlsSource::External => "your own (checked: key matches, valid now)",
                };
                println!("Server TLS certificate {how}: {}", tls.cert.display());
            }
        }
        CaCommand::Show { json } => {
            if !cert_path.exists() {
                anyhow::bail!("no CA in {}: run `annal ca init`", dir.display());
            }
            let ca = Ca::load_or_init(&dir).context("loading Annal's CA")?;
            let info = certificate_info(ca.cert_der())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ca_json(&info, &cert_path, false))?);
            } else {
                println!("CA: {}", cert_path.display());
                print_ca(&info);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ca_json(info: &CertificateInfo, path: &std::path::Path, created: bool) -> serde_json::Value {
    json!({
        "created": created,
        "cert": path,
        "subject": info.subject,
        "not_before": info.not_before,
        "not_after": info.not_after,
        "fingerprint_sha256": info.fingerprint_sha256,
    })
}

fn print_ca(info: &CertificateInfo) {
    println!("  subject:  {}", info.subject);
    println!("  valid:    {} to {}", info.not_before, info.not_after);
    println!("  SHA-256:  {}", info.fingerprint_sha256);
}
