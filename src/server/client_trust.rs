//! Which TLS client certificates the handshake accepts: those chaining to the device CAs
//! (rustls' WebPKI verifier), and exactly the identities a migration imported, by the SHA-256
//! of their DER (`IdentityImported`), whatever CA issued them. The old CA itself is never
//! trusted. The HTTP layer then verifies the certificate again (`TrustAnchors`, validity
//! included) and the enrollment decides whether it is the one bound to it.

use std::collections::HashSet;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};

/// The device CAs and the imported certificates, as the server trusts them.
#[derive(Debug, Clone, Default)]
pub struct ClientTrust {
    /// DER of each CA whose certificates are device identities.
    pub anchors: Vec<Vec<u8>>,
    /// SHA-256 of each imported certificate's DER.
    pub pinned: Arc<HashSet<[u8; 32]>>,
}

/// rustls' verifier, plus the pinned certificates it would refuse for their issuer.
#[derive(Debug)]
pub struct PinnedOrChained {
    pub chained: Arc<dyn ClientCertVerifier>,
    pub pinned: Arc<HashSet<[u8; 32]>>,
}

impl ClientCertVerifier for PinnedOrChained {
    fn offer_client_auth(&self) -> bool {
        self.chained.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.chained.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chained.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.chained.verify_client_cert(end_entity, intermediates, now) {
            Ok(verified) => Ok(verified),
            // Its bytes, not its issuer, are what was imported; that the client holds its key
            // is still proven by the handshake signature below.
            Err(_)
                if self
                    .pinned
                    .contains(&<[u8; 32]>::from(Sha256::digest(end_entity.as_ref()))) =>
            {
                Ok(ClientCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chained.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chained.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chained.supported_verify_schemes()
    }
}
