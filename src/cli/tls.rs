//! The server's TLS configuration: its certificate (given, or issued by Annal's CA) and client
//! certificate verification that *allows* anonymous clients, since devices that prove their
//! identity with Mdm-Signature present no client certificate.

use std::path::Path;
use std::sync::Arc;

use annal::pki::Ca;
use anyhow::Context;
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::serve::{split_hostnames, ServeArgs};

pub fn server_config(
    data_dir: &Path,
    ca: &Ca,
    anchors: &[Vec<u8>],
    args: &ServeArgs,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let (cert_path, key_path) = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            let dir = data_dir.join("tls");
            let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
            if !cert.exists() || !key.exists() {
                let (dns, ips) = split_hostnames(&args.hostnames);
                let (cert_pem, key_pem) = ca
                    .issue_server_tls(&dns, &ips)
                    .context("issuing the server certificate")?;
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&cert, cert_pem)?;
                write_private(&key, key_pem.as_bytes())?;
                tracing::info!(path = %cert.display(), "issued a server certificate from Annal's CA");
            }
            (cert, key)
        }
    };
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
