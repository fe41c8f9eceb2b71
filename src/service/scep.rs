//! SCEP at run time: one-time challenges (issued and consumed as events) and PKIOperation —
//! parse, open, check the challenge, issue, record `CertificateIssued`, answer a CertRep.

use std::sync::Arc;

use annal_schemas::events::identity::CertificateIssued;
use annal_schemas::events::scep::ScepChallengeIssued;
use annal_schemas::NewEvent;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::identities;
use crate::domain::scep_challenges::{stream, Challenge, ChallengeRefusal, Consume};
use crate::pki::scep::{
    cert_rep, open_request, parse_pki_message, CertRepReply, ContentCipher, EnrollmentRequest, FailInfo, Refusal,
    ScepError,
};
use crate::pki::{certificate_info, Ca, PkiError, TrustAnchors};
use crate::service::aggregate::{Aggregate, Decided, NoHooks, Options, Repository, RunError};
use crate::service::api_keys::{ApiKeyError, ApiKeys};
use crate::store::{EventStore, ExpectedVersion, StoreError};

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
    #[error("API keys: {0}")]
    Keys(#[from] ApiKeyError),
}

/// What a one-time challenge is for: recorded with it, and copied into the `CertificateIssued`
/// of the certificate it gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChallengeContext {
    /// The enrollment token whose profile carries it: revoking the token voids it.
    pub enrollment_token_id: Option<String>,
    pub udid: Option<String>,
    pub serial_number: Option<String>,
    /// An admin bound it to `udid` / `serial_number` (`POST /v1/scep/challenges`).
    pub admin_bound: bool,
}

/// Why the CA may issue: the context `CertificateIssued` records.
#[derive(Debug, Default)]
struct Admitted {
    context: ChallengeContext,
    challenge_sha256: Option<String>,
    static_challenge: bool,
    renewal_of: Option<String>,
}

pub struct ScepService {
    store: Arc<dyn EventStore>,
    ca: Arc<Ca>,
    /// Annal's CA alone: only its identities renew without a challenge.
    anchors: TrustAnchors,
    /// `--scep-challenge-file`: accepted any number of times, never recorded.
    static_challenge: Option<String>,
    /// To void the challenges of a revoked enrollment token.
    keys: ApiKeys,
    /// One-time challenges: each is used once, so none is worth caching.
    challenges: Repository<Challenge>,
    identities: Repository<crate::domain::identities::IdentityRecord>,
}

impl Aggregate for Challenge {
    type Command = Consume;
    type Decision = Decided;
    type Refusal = ChallengeRefusal;

    fn decide(&self, command: &Consume) -> Result<Decided, ChallengeRefusal> {
        Challenge::decide(self, command).map(Decided::one)
    }

    fn evolve(&mut self, event: &annal_schemas::Event, _raw: Option<&[u8]>) {
        Challenge::evolve(self, event)
    }
}

impl From<RunError<ChallengeRefusal>> for ScepServiceError {
    fn from(e: RunError<ChallengeRefusal>) -> Self {
        match e {
            RunError::Store(e) => ScepServiceError::Store(e),
            RunError::Unreadable { version, detail, .. } => ScepServiceError::Unreadable(version, detail),
            // Too many requests on one challenge at once: worth retrying, as a busy store is.
            RunError::Contention(stream) => {
                ScepServiceError::Store(StoreError::Unavailable(format!("too much contention on {stream}")))
            }
            // Refusals are answered where the challenge is consumed, and consuming prepares no
            // reply: whatever else arrives here is a bug, named as such.
            other => ScepServiceError::Unreadable(0, other.to_string()),
        }
    }
}

impl ScepService {
    pub fn new(store: Arc<dyn EventStore>, ca: Arc<Ca>, static_challenge: Option<String>) -> Result<Self, PkiError> {
        let anchors = TrustAnchors::new(vec![ca.cert_der().to_vec()])?.requiring_client_auth();
        Ok(Self {
            keys: ApiKeys::new(store.clone()),
            challenges: Repository::new(store.clone(), Options::default()),
            identities: crate::service::identities::repository(store.clone()),
            store,
            ca,
            anchors,
            static_challenge,
        })
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// A fresh one-time challenge (256 random bits, hex). Only its SHA-256 is recorded.
    pub async fn issue_challenge(
        &self,
        actor: &str,
        expires_at: Option<DateTime<Utc>>,
        context: ChallengeContext,
    ) -> Result<String, ScepServiceError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| ScepServiceError::Random)?;
        let challenge = hex::encode(secret);
        let challenge_sha256 = sha256_hex(&challenge);
        let event = ScepChallengeIssued {
            challenge_sha256: challenge_sha256.clone(),
            expires_at,
            enrollment_token_id: context.enrollment_token_id,
            udid: context.udid,
            serial_number: context.serial_number,
            admin_bound: context.admin_bound,
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
                    .map(|admitted| (request, certificate, admitted)),
                Err(e) => Err(Refusal::new(
                    FailInfo::BadRequest,
                    format!("the CSR cannot be issued: {e}"),
                )),
            },
            Err(refusal) => Err(refusal),
        };
        let (request, certificate, admitted) = match outcome {
            Ok((request, certificate, admitted)) => {
                if request.cipher == ContentCipher::DesCbc {
                    tracing::warn!(transaction_id = %msg.transaction_id, "SCEP request encrypted with single DES (weak); accepted for compatibility");
                }
                (request, certificate, admitted)
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
        let stream = identities::stream(&info.fingerprint_sha256);
        let event = CertificateIssued {
            certificate: info,
            profile: profile.to_owned(),
            renewal_of: admitted.renewal_of,
            challenge_sha256: admitted.challenge_sha256,
            static_challenge: admitted.static_challenge,
            enrollment_token_id: admitted.context.enrollment_token_id,
            udid: admitted.context.udid,
            serial_number: admitted.context.serial_number,
            admin_bound: admitted.context.admin_bound,
        };
        // Recorded before the reply, in the certificate's own stream (where its claim and any
        // revocation follow): a certificate the log does not know is never handed out.
        self.store
            .append(&stream, ExpectedVersion::NoStream, vec![NewEvent::new(actor, &event)])
            .await?;
        let reply = CertRepReply::Issued {
            certificate: &certificate,
            recipient_cert_der: &msg.signer_cert_der,
            cipher: request.cipher,
        };
        Ok(cert_rep(&self.ca, &msg.transaction_id, &msg.sender_nonce, reply, now)?)
    }

    /// The challenge rule: a renewal needs none (but its signer must not be revoked);
    /// otherwise the static challenge, or a one-time challenge consumed by an append at the
    /// version read (a concurrent use loses) unless its enrollment token was revoked since.
    async fn admit(
        &self,
        request: &EnrollmentRequest,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Admitted, Refusal>, ScepServiceError> {
        if let Some(current) = &request.renewing {
            let record = crate::service::identities::read_record(&self.identities, &current.fingerprint_sha256)
                .await
                .map_err(|e| match e {
                    crate::service::enrollments::ServiceError::Store(s) => ScepServiceError::Store(s),
                    other => ScepServiceError::Unreadable(0, other.to_string()),
                })?;
            if record.revoked {
                return Ok(Err(Refusal::new(
                    FailInfo::BadCertId,
                    "the certificate that signed the renewal was revoked",
                )));
            }
            // A renewal serves the same device as the certificate it renews.
            let previous = record.issued.unwrap_or_else(|| CertificateIssued {
                certificate: current.to_certificate_info(),
                profile: String::new(),
                renewal_of: None,
                challenge_sha256: None,
                static_challenge: false,
                enrollment_token_id: None,
                udid: None,
                serial_number: None,
                admin_bound: false,
            });
            return Ok(Ok(Admitted {
                context: ChallengeContext {
                    enrollment_token_id: previous.enrollment_token_id,
                    udid: previous.udid,
                    serial_number: previous.serial_number,
                    admin_bound: false,
                },
                renewal_of: Some(current.fingerprint_sha256.clone()),
                ..Admitted::default()
            }));
        }
        let Some(challenge) = request.csr.challenge.as_deref() else {
            return Ok(Err(Refusal::new(
                FailInfo::BadRequest,
                "no challengePassword in the request",
            )));
        };
        if let Some(expected) = &self.static_challenge {
            if constant_time_eq(challenge.as_bytes(), expected.as_bytes()) {
                return Ok(Ok(Admitted {
                    static_challenge: true,
                    ..Admitted::default()
                }));
            }
        }
        let challenge_sha256 = sha256_hex(challenge);
        let stream = stream(&challenge_sha256);
        let loaded = self.challenges.load(&stream).await?;
        let issued = loaded.state.issued(&challenge_sha256);
        let token_revoked = match issued.and_then(|i| i.enrollment_token_id.as_deref()) {
            Some(token) => self.keys.is_revoked(token).await?,
            None => false,
        };
        let context = issued
            .map(|i| ChallengeContext {
                enrollment_token_id: i.enrollment_token_id.clone(),
                udid: i.udid.clone(),
                serial_number: i.serial_number.clone(),
                admin_bound: i.admin_bound,
            })
            .unwrap_or_default();
        let consume = Consume {
            challenge_sha256: challenge_sha256.clone(),
            transaction_id: transaction_id.to_owned(),
            subject: request.csr.subject.clone(),
            token_revoked,
            now,
        };
        // A concurrent use appends first: the runner catches up and the challenge is used.
        match self
            .challenges
            .run_from(&stream, loaded, &consume, "scep", &NoHooks)
            .await
        {
            Ok(_) => Ok(Ok(Admitted {
                context,
                challenge_sha256: Some(challenge_sha256),
                ..Admitted::default()
            })),
            // An unknown challenge is also what a wrong static one looks like.
            Err(RunError::Refused(ChallengeRefusal::Unknown)) => Ok(Err(Refusal::new(
                FailInfo::BadRequest,
                "the challenge password is wrong",
            ))),
            Err(RunError::Refused(r)) => Ok(Err(Refusal::new(FailInfo::BadRequest, r.to_string()))),
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
