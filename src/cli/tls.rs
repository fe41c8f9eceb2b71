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

/// The server's certificate chain and key files: the given ones, or the pair in
/// `<data-dir>/tls/`, issued by Annal's CA for `--hostname` when absent.
pub fn identity_files(data_dir: &Path, ca: &Ca, args: &ServeArgs) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let (Some(c), Some(k)) = (&args.tls_cert, &args.tls_key) {
        return Ok((c.clone(), k.clone()));
    }
    let (cert, key) = default_identity_files(data_dir);
    if !cert.exists() || !key.exists() {
        let (dns, ips) = split_hostnames(&args.hostnames);
        let (cert_pem, key_pem) = ca
            .issue_server_tls(&dns, &ips)
            .context("issuing the server certificate")?;
        std::fs::create_dir_all(data_dir.join("tls"))?;
        std::fs::write(&cert, cert_pem)?;
        write_private(&key, key_pem.as_bytes())?;
        tracing::info!(path = %cert.display(), "issued a server certificate from Annal's CA");
    }
    Ok((cert, key))
}

pub fn default_identity_files(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("server.pem"), dir.join("server.key"))
}

/// The identity that signs enrollment profiles: a certificate chain file (leaf first) and its key.
pub fn profile_signer(cert: &Path, key: &Path) -> anyhow::Result<CmsSigner> {
    let chain = std::fs::read_to_string(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_bytes = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    CmsSigner::from_pem(&chain, &key_bytes).with_context(|| format!("loading the signing identity {}", cert.display()))
}

pub fn server_config(
    data_dir: &Path,
    ca: &Ca,
    anchors: &[Vec<u8>],
    args: &ServeArgs,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let (cert_path, key_path) = identity_files(data_dir, ca, args)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("reading {}", cert_path.display()))?
        .collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
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
    Ok(Arc::new(config))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
