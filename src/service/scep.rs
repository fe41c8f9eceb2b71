//! SCEP at run time: one-time challenges (issued and consumed as events) and PKIOperation —
//! parse, open, check the challenge, issue, record `CertificateIssued`, answer a CertRep.

use std::sync::Arc;

use annal_schemas::events::identity::CertificateIssued;
use annal_schemas::events::scep::ScepChallengeIssued;
use annal_schemas::NewEvent;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::scep_challenges::{decide_consume, stream, ChallengeRefusal};
use crate::pki::scep::{
    cert_rep, open_request, parse_pki_message, CertRepReply, ContentCipher, EnrollmentRequest, FailInfo, Refusal,
    ScepError,
};
use crate::pki::{certificate_info, Ca, PkiError, TrustAnchors};
use crate::store::{EventStore, ExpectedVersion, StoreError};

/// The stream of every certificate Annal's CA issues through SCEP.
pub const CA_STREAM: &str = "ca";
/// SCEP identities are valid for a year; devices renew before that.
pub const SCEP_VALIDITY_DAYS: u32 = 365;

#[derive(Debug, thiserror::Error)]
pub enum ScepServiceError {
    /// Not a PKIMessage: HTTP 400.
    #[error(transparent)]
    NotPkiMessage(ScepError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("certificate authority: {0}")]
    Pki(#[from] PkiError),
    #[error("event {0} in a SCEP challenge stream cannot be read: {1}")]
    Unreadable(u64, String),
    #[error("the system random generator failed")]
    Random,
}

pub struct ScepService {
    store: Arc<dyn EventStore>,
    ca: Arc<Ca>,
    /// Annal's CA alone: only its identities renew without a challenge.
    anchors: TrustAnchors,
    /// `--scep-challenge-file`: accepted any number of times, never recorded.
    static_challenge: Option<String>,
}

impl ScepService {
    pub fn new(store: Arc<dyn EventStore>, ca: Arc<Ca>, static_challenge: Option<String>) -> Result<Self, PkiError> {
        let anchors = TrustAnchors::new(vec![ca.cert_der().to_vec()])?;
        Ok(Self {
            store,
            ca,
            anchors,
            static_challenge,
        })
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    /// A fresh one-time challenge (256 random bits, hex). Only its SHA-256 is recorded.
    pub async fn issue_challenge(
        &self,
        actor: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<String, ScepServiceError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| ScepServiceError::Random)?;
        let challenge = hex::encode(secret);
        let challenge_sha256 = sha256_hex(&challenge);
        let event = ScepChallengeIssued {
            challenge_sha256: challenge_sha256.clone(),
            expires_at,
        };
        self.store
            .append(
                &stream(&challenge_sha256),
                ExpectedVersion::NoStream,
                vec![NewEvent::new(actor, &event)],
            )
            .await?;
        Ok(challenge)
    }

    /// Answers a PKIOperation with a CertRep (DER). Only bytes that are not a PKIMessage at all
    /// are an error; every refusal is a CertRep FAILURE and appends nothing.
    pub async fn pki_operation(&self, der: &[u8]) -> Result<Vec<u8>, ScepServiceError> {
        let msg = parse_pki_message(der).map_err(ScepServiceError::NotPkiMessage)?;
        let now = Utc::now();
        // The certificate is made before the challenge is consumed: a CSR the CA cannot issue
        // (an algorithm or an extension it does not support) is refused with a CertRep and
        // leaves the one-time challenge usable. A certificate made for a request that is then
        // refused is dropped: it was never recorded nor handed out.
        let outcome = match open_request(&msg, &self.ca, &self.anchors, now) {
            Ok(request) => match self.ca.issue_from_csr(&request.csr_der, SCEP_VALIDITY_DAYS) {
                Ok(certificate) => self
                    .admit(&request, &msg.transaction_id, now)
                    .await?
                    .map(|()| (request, certificate)),
                Err(e) => Err(Refusal::new(
                    FailInfo::BadRequest,
                    format!("the CSR cannot be issued: {e}"),
                )),
            },
            Err(refusal) => Err(refusal),
        };
        let (request, certificate) = match outcome {
            Ok((request, certificate)) => {
                if request.cipher == ContentCipher::DesCbc {
                    tracing::warn!(transaction_id = %msg.transaction_id, "SCEP request encrypted with single DES (weak); accepted for compatibility");
                }
                (request, certificate)
            }
            Err(refusal) => {
                tracing::warn!(transaction_id = %msg.transaction_id, fail_info = refusal.info.name(), reason = %refusal.reason, "SCEP request refused");
                let reply = CertRepReply::Failed(refusal.info);
                return Ok(cert_rep(&self.ca, &msg.transaction_id, &msg.sender_nonce, reply, now)?);
            }
        };
        let info = certificate_info(&certificate)?;
        let (profile, actor) = match &request.renewing {
            Some(current) => ("scep-renewal", format!("scep:{}", current.fingerprint_sha256)),
            None => ("scep", "scep".to_owned()),
        };
        tracing::info!(transaction_id = %msg.transaction_id, subject = %info.subject, fingerprint = %info.fingerprint_sha256, profile, "SCEP certificate issued");
        let event = CertificateIssued {
            certificate: info,
            profile: profile.to_owned(),
        };
        // Recorded before the reply: a certificate the log does not know is never handed out.
        self.store
            .append(CA_STREAM, ExpectedVersion::Any, vec![NewEvent::new(actor, &event)])
            .await?;
        let reply = CertRepReply::Issued {
            certificate: &certificate,
            recipient_cert_der: &msg.signer_cert_der,
            cipher: request.cipher,
        };
        Ok(cert_rep(&self.ca, &msg.transaction_id, &msg.sender_nonce, reply, now)?)
    }

    /// The challenge rule: a renewal needs none; otherwise the static challenge, or a one-time
    /// challenge consumed by an append at the version read (a concurrent use loses).
    async fn admit(
        &self,
        request: &EnrollmentRequest,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Refusal>, ScepServiceError> {
        if request.renewing.is_some() {
            return Ok(Ok(()));
        }
        let Some(challenge) = request.csr.challenge.as_deref() else {
            return Ok(Err(Refusal::new(
                FailInfo::BadRequest,
                "no challengePassword in the request",
            )));
        };
        if let Some(expected) = &self.static_challenge {
            if constant_time_eq(challenge.as_bytes(), expected.as_bytes()) {
                return Ok(Ok(()));
            }
        }
        let challenge_sha256 = sha256_hex(challenge);
        let stream = stream(&challenge_sha256);
        let history = self.store.read_stream(&stream, 1, 16).await?;
        let events = history
            .iter()
            .map(|e| {
                e.decode()
                    .map_err(|err| ScepServiceError::Unreadable(e.stream_version, err.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let refused = |r: ChallengeRefusal| Ok(Err(Refusal::new(FailInfo::BadRequest, r.to_string())));
        let (consumed, version) =
            match decide_consume(&events, &challenge_sha256, transaction_id, &request.csr.subject, now) {
                Ok(decision) => decision,
                // An unknown challenge is also what a wrong static one looks like.
                Err(ChallengeRefusal::Unknown) => {
                    return Ok(Err(Refusal::new(
                        FailInfo::BadRequest,
                        "the challenge password is wrong",
                    )))
                }
                Err(r) => return refused(r),
            };
        match self
            .store
            .append(
                &stream,
                ExpectedVersion::Exact(version),
                vec![NewEvent::new("scep", &consumed)],
            )
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(StoreError::WrongExpectedVersion { .. }) => refused(ChallengeRefusal::AlreadyUsed),
            Err(e) => Err(e.into()),
        }
    }
}

fn sha256_hex(challenge: &str) -> String {
    hex::encode(Sha256::digest(challenge.as_bytes()))
}

/// Compares without an early exit, so response time does not reveal a matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter().zip(db.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
