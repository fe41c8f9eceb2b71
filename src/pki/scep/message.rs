//! Reading a PKIMessage (RFC 8894 §3.2): the SignedData, its signer certificate and the SCEP
//! signed attributes. [`parse_pki_message`] is a pure parser over untrusted bytes (the fuzz
//! target); [`PkiMessage::verify`] then checks the digest and the signature.

use const_oid::db::rfc5911::ID_DATA;
use der::asn1::{OctetString, PrintableStringRef};

use super::attrs;
use super::{FailInfo, MessageType, Refusal, ScepError};
use crate::pki::algorithms::{verify_with_spki, DigestAlg, SigScheme};
use crate::pki::cms_raw::{der_form, parse_signed_data};
use crate::pki::identity::parse_cert;
use crate::pki::mdm_signature::{check_signed_attributes, find_signer_cert, set_of_encoding, signer_algorithms};
use crate::pki::SignatureError;

/// A parsed, not yet verified, PKIMessage.
#[derive(Debug, Clone)]
pub struct PkiMessage {
    /// `None` for a messageType this server does not know (answered with badRequest).
    pub message_type: Option<MessageType>,
    /// As sent, so an unknown type can be named in a log line.
    pub message_type_code: String,
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    /// SCEP's optional attributes on a CertRep (client side).
    pub pki_status: Option<String>,
    pub fail_info: Option<String>,
    pub recipient_nonce: Option<Vec<u8>>,
    /// The signer's certificate (DER), as embedded.
    pub signer_cert_der: Vec<u8>,
    /// The encapsulated content (an EnvelopedData), if any.
    pub content: Option<Vec<u8>>,
    check: SignatureCheck,
}

/// What [`PkiMessage::verify`] needs, kept from the parse.
#[derive(Debug, Clone)]
struct SignatureCheck {
    /// Why the signer's algorithms are unusable, found while parsing.
    algorithms: Result<(DigestAlg, SigScheme), String>,
    /// contentType/messageDigest problems, found while parsing (the digest is cheap).
    attributes: Result<(), String>,
    signed_attrs: Vec<u8>,
    signature: Vec<u8>,
}

/// Parses a PKIMessage (BER or DER). Errors mean "not a PKIMessage" (HTTP 400): everything after this
/// point is answered with a CertRep, which needs the transactionID and senderNonce.
pub fn parse_pki_message(body: &[u8]) -> Result<PkiMessage, ScepError> {
    let not = |m: &str| ScepError::NotPkiMessage(m.to_owned());
    let der = der_form(body).map_err(|e| ScepError::NotPkiMessage(e.to_string()))?;
    let sd = parse_signed_data(&der).map_err(|e| ScepError::NotPkiMessage(e.to_string()))?;
    let signer = match sd.signers.as_slice() {
        [one] => one,
        [] => return Err(not("the SignedData has no signer")),
        many => {
            return Err(ScepError::NotPkiMessage(format!(
                "{} signers; SCEP has one",
                many.len()
            )))
        }
    };
    let signed_attrs_tlv = signer
        .signed_attrs_tlv
        .ok_or_else(|| not("the signer has no signed attributes"))?;
    let (cert_der, _) = find_signer_cert(&sd.certificates, &signer.info.sid).map_err(|e| match e {
        SignatureError::NotSignedData(m) => ScepError::NotPkiMessage(m),
        other => ScepError::NotPkiMessage(other.to_string()),
    })?;
    let info = &signer.info;
    let message_type_code = attrs::string(info, attrs::MESSAGE_TYPE).ok_or_else(|| not("no messageType attribute"))?;
    let transaction_id = attrs::string(info, attrs::TRANSACTION_ID).ok_or_else(|| not("no transactionID attribute"))?;
    // The CertRep echoes it as the PrintableString RFC 8894 prescribes: an ID sent as another
    // string type with other characters could not be answered (found by scep_pkioperation's
    // CertRep property; the server used to fail after consuming the challenge).
    if transaction_id.is_empty() || transaction_id.len() > 256 || PrintableStringRef::new(&transaction_id).is_err() {
        return Err(not("the transactionID must be 1 to 256 PrintableString characters"));
    }
    let sender_nonce = attrs::octet_string(info, attrs::SENDER_NONCE).ok_or_else(|| not("no senderNonce attribute"))?;

    if sd.encap.econtent_type != ID_DATA {
        return Err(not("the encapsulated content is not id-data"));
    }
    let content = match &sd.encap.econtent {
        Some(any) => Some(
            any.decode_as::<OctetString>()
                .map_err(|e| ScepError::NotPkiMessage(format!("eContent: {e}")))?
                .as_bytes()
                .to_vec(),
        ),
        None => None,
    };
    let algorithms = signer_algorithms(info).map_err(|e| e.to_string());
    let attributes = match &algorithms {
        Ok((digest, _)) => {
            let body = content.as_deref().unwrap_or_default();
            check_signed_attributes(signer, &sd.encap.econtent_type, digest.digest(body).as_ref())
                .map_err(|e| e.to_string())
        }
        Err(_) => Ok(()),
    };
    Ok(PkiMessage {
        message_type: MessageType::from_code(&message_type_code),
        message_type_code,
        transaction_id,
        sender_nonce,
        pki_status: attrs::string(info, attrs::PKI_STATUS),
        fail_info: attrs::string(info, attrs::FAIL_INFO),
        recipient_nonce: attrs::octet_string(info, attrs::RECIPIENT_NONCE),
        signer_cert_der: cert_der.to_vec(),
        content,
        check: SignatureCheck {
            algorithms,
            attributes,
            signed_attrs: set_of_encoding(signed_attrs_tlv),
            signature: info.signature.as_bytes().to_vec(),
        },
    })
}

impl PkiMessage {
    /// Checks the signed attributes against the content and the signature with the embedded
    /// signer certificate's key. Whether that certificate is trusted is the caller's decision
    /// (a PKCSReq is signed by a self-signed certificate).
    pub fn verify(&self) -> Result<(), Refusal> {
        let (digest, scheme) = self
            .check
            .algorithms
            .clone()
            .map_err(|e| Refusal::new(FailInfo::BadAlg, e))?;
        self.check
            .attributes
            .clone()
            .map_err(|e| Refusal::new(FailInfo::BadMessageCheck, e))?;
        let cert =
            parse_cert(&self.signer_cert_der).map_err(|e| Refusal::new(FailInfo::BadMessageCheck, e.to_string()))?;
        if !verify_with_spki(
            cert.public_key(),
            scheme,
            digest,
            &self.check.signed_attrs,
            &self.check.signature,
        ) {
            return Err(Refusal::new(
                FailInfo::BadMessageCheck,
                "the signature does not verify with the signer certificate's key",
            ));
        }
        Ok(())
    }
}
