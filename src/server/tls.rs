//! The server's TLS configuration: its certificate (given, or issued by Annal's CA) and client
//! certificate verification that *allows* anonymous clients, since devices that prove their
//! identity with Mdm-Signature present no client certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::net::IpAddr;

use annal_schemas::events::identity::CertificateInfo;
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::client_trust::{ClientTrust, PinnedOrChained};
pub use super::tls_issued::RENEW_BEFORE_DAYS;
use super::tls_issued::{self, Issued, Verdict};
use crate::config::ServerConfig;
use crate::pki::{Ca, CmsSigner, PkiError};

/// Why a certificate and key cannot serve (each message names the file).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {}", path.display())]
    Pem {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("reading {}", path.display())]
    Record {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: unsupported private key: {reason}", path.display())]
    UnsupportedKey { path: PathBuf, reason: rustls::Error },
    #[error("{} does not belong to {}: {reason}", key.display(), cert.display())]
    Mismatch {
        key: PathBuf,
        cert: PathBuf,
        reason: rustls::Error,
    },
    #[error("{} holds no certificate", .0.display())]
    NoCertificate(PathBuf),
    #[error("{} is not valid now (valid {} to {})", path.display(), info.not_before, info.not_after)]
    NotValidNow { path: PathBuf, info: Box<CertificateInfo> },
    #[error("the server certificate {} cannot serve: {why}", path.display())]
    WrongNames { path: PathBuf, why: String },
    #[error("issuing the server certificate")]
    Issue(#[source] PkiError),
    #[error("loading the signing identity {}", .0.display())]
    Signer(PathBuf, #[source] PkiError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
    #[error(transparent)]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn read(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn pem(path: &Path) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError + '_ {
    move |source| TlsError::Pem {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the server's certificate and key are, and how they came to be.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub source: TlsSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsSource {
    /// Issued by Annal's CA just now.
    Issued,
    /// Issued by Annal's CA on an earlier start.
    Existing,
    /// Issued by Annal's CA just now, replacing one that named other hosts or was close to
    /// expiry.
    Renewed,
    /// Given by the admin (`--tls-cert/--tls-key`, or recorded by `annal ca init`).
    External,
}

/// `annal ca init --tls-cert/--tls-key` records the admin's own files here, so `serve` uses
/// them without the flags.
fn external_record(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("external.json")
}

/// The server certificate to use: the flags, else the recorded external files, else the one
/// in `<data-dir>/tls/` (issued by `ca` for `hostnames` when missing or naming others).
/// Empty `hostnames`: the names the existing certificate has (only its expiry counts), or
/// the defaults for a new one.
pub fn server_files(
    data_dir: &Path,
    ca: &Ca,
    given: Option<(&Path, &Path)>,
    hostnames: &[String],
) -> Result<TlsFiles, TlsError> {
    if let Some((cert, key)) = given {
        return Ok(TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source: TlsSource::External,
        });
    }
    let record = external_record(data_dir);
    if record.exists() {
        let text = std::fs::read_to_string(&record).map_err(read(&record))?;
        let paths: ExternalPaths = serde_json::from_str(&text).map_err(|source| TlsError::Record {
            path: record.clone(),
            source,
        })?;
        return Ok(TlsFiles {
            cert: paths.cert,
            key: paths.key,
            source: TlsSource::External,
        });
    }
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    if cert.exists() && key.exists() {
        let wanted = (!hostnames.is_empty()).then_some(hostnames);
        let (verdict, hostnames) = decide_existing(&cert, ca, wanted)?;
        let hostnames = hostnames.as_slice();
        let source = match verdict {
            Verdict::Keep => TlsSource::Existing,
            Verdict::KeepWithWarning(why) => {
                tracing::warn!(path = %cert.display(), "the server certificate is kept although {why}");
                TlsSource::Existing
            }
            Verdict::Refuse(why) => return Err(TlsError::WrongNames { path: cert, why }),
            Verdict::Reissue(why) => {
                issue(ca, hostnames, &cert, &key)?;
                tracing::warn!(path = %cert.display(), hostnames = %hostnames.join(","), "issued a new server certificate from Annal's CA: the old one was replaced because {why}");
                metrics::counter!("annal_tls_certificate_renewals_total", "outcome" => "issued").increment(1);
                TlsSource::Renewed
            }
        };
        return Ok(TlsFiles { cert, key, source });
    }
    let defaults = crate::config::ServerConfig::new(data_dir).hostnames;
    let hostnames = if hostnames.is_empty() { &defaults } else { hostnames };
    issue(ca, hostnames, &cert, &key)?;
    tracing::info!(path = %cert.display(), hostnames = %hostnames.join(","), "issued a server certificate from Annal's CA");
    Ok(TlsFiles {
        cert,
        key,
        source: TlsSource::Issued,
    })
}

/// Issues a certificate for `hostnames` into `cert`/`key`, each written whole then renamed so
/// the reloader never reads half a file; the key first, since a certificate without its new
/// key is refused (and retried) while the old pair keeps serving.
fn issue(ca: &Ca, hostnames: &[String], cert: &Path, key: &Path) -> Result<(), TlsError> {
    let (dns, ips) = split_hostnames(hostnames);
    let (cert_pem, key_pem) = ca.issue_server_tls(&dns, &ips).map_err(TlsError::Issue)?;
    if let Some(dir) = cert.parent() {
        crate::store::private::create_dir_all(dir)?;
    }
    let staged_key = key.with_extension("key.new");
    crate::store::private::write_private(&staged_key, key_pem.as_bytes())?;
    let staged_cert = cert.with_extension("pem.new");
    std::fs::write(&staged_cert, cert_pem)?;
    std::fs::rename(&staged_key, key)?;
    std::fs::rename(&staged_cert, cert)?;
    Ok(())
}

/// Reads the certificate an earlier start issued and decides whether it still serves
/// `hostnames` (`None`: the names it carries, so only its expiry counts). The file is leaf
/// then issuing CA, as `issue` writes it.
fn decide_existing(cert: &Path, ca: &Ca, hostnames: Option<&[String]>) -> Result<(Verdict, Vec<String>), TlsError> {
    let chain = read_chain(cert)?;
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::NoCertificate(cert.to_path_buf()))?;
    let info = crate::pki::certificate_info(leaf.as_ref())?;
    let issued = Issued {
        names: crate::pki::subject_alt_names(leaf.as_ref())?,
        not_after: info.not_after,
        from_current_ca: chain.get(1).is_some_and(|c| c.as_ref() == ca.cert_der()),
    };
    let wanted = hostnames.map_or_else(|| issued.names.clone(), <[String]>::to_vec);
    Ok((tls_issued::decide(&issued, &wanted, chrono::Utc::now()), wanted))
}

/// The running server's check of a certificate Annal issued: renews it, for the names it
/// carries, when it is close to expiry (the reloader then serves the new files). The names
/// are the file's, not the running server's `--hostname`: `ca init` may have issued one for
/// new names that the next start will use. Returns whether it renewed.
pub fn renew_if_due(ca: &Ca, cert: &Path, key: &Path) -> Result<bool, TlsError> {
    let (verdict, names) = decide_existing(cert, ca, None)?;
    match verdict {
        Verdict::Reissue(why) => {
            issue(ca, &names, cert, key)?;
            tracing::warn!(path = %cert.display(), "renewed the server certificate from Annal's CA: {why}");
            metrics::counter!("annal_tls_certificate_renewals_total", "outcome" => "issued").increment(1);
            Ok(true)
        }
        Verdict::KeepWithWarning(why) | Verdict::Refuse(why) => {
            tracing::warn!(path = %cert.display(), "the server certificate cannot be renewed by Annal: {why}");
            Ok(false)
        }
        Verdict::Keep => Ok(false),
    }
}

/// The names the leaf in `cert` carries: checked at start against the base URL devices are
/// sent to.
pub fn certificate_names(cert: &Path) -> Result<Vec<String>, TlsError> {
    let chain = read_chain(cert)?;
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::NoCertificate(cert.to_path_buf()))?;
    Ok(crate::pki::subject_alt_names(leaf.as_ref())?)
}

/// The certificates after the leaf in a chain file: the CA (or intermediates) that issued the
/// server's certificate, which the admin CLI trusts besides Annal's current CA so that a CA
/// rotation that keeps the old server certificate does not lock the CLI out.
pub fn issuer_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    Ok(read_chain(cert)?.into_iter().skip(1).collect())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ExternalPaths {
    cert: PathBuf,
    key: PathBuf,
}

/// Checks the admin's own certificate and key (they belong together, the certificate is in
/// its validity period) and records them for `serve`.
pub fn record_external(data_dir: &Path, cert: &Path, key: &Path) -> Result<CertificateInfo, TlsError> {
    let info = check_pair(cert, key)?;
    let record = external_record(data_dir);
    crate::store::private::create_dir_all(record.parent().unwrap_or(data_dir))?;
    let paths = ExternalPaths {
        cert: std::path::absolute(cert)?,
        key: std::path::absolute(key)?,
    };
    std::fs::write(&record, serde_json::to_vec_pretty(&paths)?)?;
    Ok(info)
}

/// A certificate chain and key that belong together, with the leaf in its validity period.
pub fn check_pair(cert: &Path, key: &Path) -> Result<CertificateInfo, TlsError> {
    let (chain, private) = load_pair(cert, key)?;
    let signing =
        rustls::crypto::aws_lc_rs::sign::any_supported_type(&private).map_err(|reason| TlsError::UnsupportedKey {
            path: key.to_path_buf(),
            reason,
        })?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing)
        .keys_match()
        .map_err(|reason| TlsError::Mismatch {
            key: key.to_path_buf(),
            cert: cert.to_path_buf(),
            reason,
        })?;
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::NoCertificate(cert.to_path_buf()))?;
    let info = crate::pki::certificate_info(leaf.as_ref())?;
    let now = chrono::Utc::now();
    if now > info.not_after || now < info.not_before {
        return Err(TlsError::NotValidNow {
            path: cert.to_path_buf(),
            info: Box::new(info),
        });
    }
    Ok(info)
}

fn load_pair(cert: &Path, key: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = read_chain(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
    Ok((chain, key))
}

/// Every certificate in a PEM chain file, leaf first.
fn read_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_file_iter(cert)
        .map_err(pem(cert))?
        .collect::<Result<_, _>>()
        .map_err(pem(cert))
}

/// The identity that signs enrollment profiles: a certificate chain file (leaf first) and its key.
pub fn profile_signer(cert: &Path, key: &Path) -> Result<CmsSigner, TlsError> {
    let chain = std::fs::read_to_string(cert).map_err(read(cert))?;
    let key_bytes = std::fs::read(key).map_err(read(key))?;
    CmsSigner::from_pem(&chain, &key_bytes).map_err(|e| TlsError::Signer(cert.to_path_buf(), e))
}

/// The server's certificate files, as `serve` finds them (issuing one when there is none).
pub fn serve_files(ca: &Ca, config: &ServerConfig) -> Result<TlsFiles, TlsError> {
    let given = config.tls_cert.as_deref().zip(config.tls_key.as_deref());
    server_files(&config.data_dir, ca, given, &config.hostnames)
}

/// `--hostname` values split into DNS names and IP addresses, as a certificate lists them.
pub fn split_hostnames(names: &[String]) -> (Vec<String>, Vec<IpAddr>) {
    let (ips, dns): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| n.parse::<IpAddr>().is_ok());
    (
        dns.into_iter().cloned().collect(),
        ips.into_iter().filter_map(|n| n.parse().ok()).collect(),
    )
}

/// The TLS configuration for `cert` and `key`: checked as a pair first, so a reload with a
/// broken pair fails here and the server keeps the configuration it has.
pub fn server_config(
    cert: &Path,
    key: &Path,
    trust: &ClientTrust,
) -> Result<(Arc<rustls::ServerConfig>, CertificateInfo), TlsError> {
    let info = check_pair(cert, key)?;
    let (chain, key) = load_pair(cert, key)?;
    let mut roots = rustls::RootCertStore::empty();
    for der in &trust.anchors {
        roots.add(CertificateDer::from(der.clone()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chained = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let verifier = Arc::new(PinnedOrChained {
        chained,
        pinned: trust.pinned.clone(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Devices reconnect often (a real one opens a new connection for about one request in
    // four): stateless TLS 1.3 tickets let them resume instead of a full handshake each time,
    // for any fleet size (the default in-memory session cache holds 256). The ticket keys live
    // in this process only and rotate; the client certificate travels in the ticket and every
    // request's identity is still checked by the device endpoint.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    Ok((Arc::new(config), info))
}
