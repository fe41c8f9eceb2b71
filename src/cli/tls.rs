//! The server's TLS configuration: its certificate (given, or issued by Annal's CA) and client
//! certificate verification that *allows* anonymous clients, since devices that prove their
//! identity with Mdm-Signature present no client certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use annal::pki::{Ca, CmsSigner};
use anyhow::Context;
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::serve::{split_hostnames, ServeArgs};

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
    /// Given by the admin (`--tls-cert/--tls-key`, or recorded by `annal ca init`).
    External,
}

/// `annal ca init --tls-cert/--tls-key` records the admin's own files here, so `serve` uses
/// them without the flags.
fn external_record(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("external.json")
}

/// The server certificate to use: the flags, else the recorded external files, else the one
/// in `<data-dir>/tls/` (issued by `ca` for `hostnames` when missing).
pub fn server_files(
    data_dir: &Path,
    ca: &Ca,
    given: Option<(&Path, &Path)>,
    hostnames: &[String],
) -> anyhow::Result<TlsFiles> {
    if let Some((cert, key)) = given {
        return Ok(TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source: TlsSource::External,
        });
    }
    let record = external_record(data_dir);
    if record.exists() {
        let text = std::fs::read_to_string(&record).with_context(|| format!("reading {}", record.display()))?;
        let paths: ExternalPaths =
            serde_json::from_str(&text).with_context(|| format!("reading {}", record.display()))?;
        return Ok(TlsFiles {
            cert: paths.cert,
            key: paths.key,
            source: TlsSource::External,
        });
    }
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    if cert.exists() && key.exists() {
        return Ok(TlsFiles {
            cert,
            key,
            source: TlsSource::Existing,
        });
    }
    let (dns, ips) = split_hostnames(hostnames);
    let (cert_pem, key_pem) = ca
        .issue_server_tls(&dns, &ips)
        .context("issuing the server certificate")?;
    annal::store::private::create_dir_all(&dir)?;
    std::fs::write(&cert, cert_pem)?;
    write_private(&key, key_pem.as_bytes())?;
    tracing::info!(path = %cert.display(), "issued a server certificate from Annal's CA");
    Ok(TlsFiles {
        cert,
        key,
        source: TlsSource::Issued,
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ExternalPaths {
    cert: PathBuf,
    key: PathBuf,
}

/// Checks the admin's own certificate and key (they belong together, the certificate is in
/// its validity period) and records them for `serve`.
pub fn record_external(
    data_dir: &Path,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<annal_schemas::events::identity::CertificateInfo> {
    let info = check_pair(cert, key)?;
    let record = external_record(data_dir);
    annal::store::private::create_dir_all(record.parent().unwrap_or(data_dir))?;
    let paths = ExternalPaths {
        cert: std::path::absolute(cert)?,
        key: std::path::absolute(key)?,
    };
    std::fs::write(&record, serde_json::to_vec_pretty(&paths)?)?;
    Ok(info)
}

/// A certificate chain and key that belong together, with the leaf in its validity period.
pub fn check_pair(cert: &Path, key: &Path) -> anyhow::Result<annal_schemas::events::identity::CertificateInfo> {
    let (chain, private) = load_pair(cert, key)?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&private)
        .map_err(|e| anyhow::anyhow!("{}: unsupported private key: {e}", key.display()))?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing)
        .keys_match()
        .map_err(|e| anyhow::anyhow!("{} does not belong to {}: {e}", key.display(), cert.display()))?;
    let leaf = chain
        .first()
        .ok_or_else(|| anyhow::anyhow!("{} holds no certificate", cert.display()))?;
    let info = annal::pki::certificate_info(leaf.as_ref())?;
    let now = chrono::Utc::now();
    if now > info.not_after || now < info.not_before {
        anyhow::bail!(
            "{} is not valid now (valid {} to {})",
            cert.display(),
            info.not_before,
            info.not_after
        );
    }
    Ok(info)
}

fn load_pair(cert: &Path, key: &Path) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    Ok((chain, key))
}

/// The identity that signs enrollment profiles: a certificate chain file (leaf first) and its key.
pub fn profile_signer(cert: &Path, key: &Path) -> anyhow::Result<CmsSigner> {
    let chain = std::fs::read_to_string(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_bytes = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    CmsSigner::from_pem(&chain, &key_bytes).with_context(|| format!("loading the signing identity {}", cert.display()))
}

/// The server's certificate files, as `serve` finds them (issuing one when there is none).
pub fn serve_files(data_dir: &Path, ca: &Ca, args: &ServeArgs) -> anyhow::Result<TlsFiles> {
    let given = args.tls_cert.as_deref().zip(args.tls_key.as_deref());
    server_files(data_dir, ca, given, &args.hostnames)
}

/// The TLS configuration for `cert` and `key`: checked as a pair first, so a reload with a
/// broken pair fails here and the server keeps the configuration it has.
pub fn server_config(
    cert: &Path,
    key: &Path,
    anchors: &[Vec<u8>],
) -> anyhow::Result<(
    Arc<rustls::ServerConfig>,
    annal_schemas::events::identity::CertificateInfo,
)> {
    let info = check_pair(cert, key)?;
    let (chain, key) = load_pair(cert, key)?;
    let mut roots = rustls::RootCertStore::empty();
    for der in anchors {
        roots.add(CertificateDer::from(der.clone()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), info))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
