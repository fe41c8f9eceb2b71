//! Data declarations point devices at, hosted by Annal: a legacy profile (`ProfileURL` of
//! `com.apple.configuration.legacy`) or an asset's `DataURL`. Stored content-addressed in the
//! log, sealed; served at `/ddm/data/<sha256>` only to a device whose set holds a declaration
//! pointing at it, over the device's own identity (Apple's "MDM" authentication).

use bytes::Bytes;
use sha2::{Digest, Sha256};

use annal_schemas::events::declaration::DeclarationDataStored;
use annal_schemas::{Event, NewEvent};
use serde_json::Value as Json;

use super::{Declarations, Facts};
use crate::domain::enrollment::{DdmRequest, DeviceInput, Identity, Input, Phase};
use crate::secrets::DataKey;
use crate::service::admin::{authorize, Action, AdminError, Caller};
use crate::service::enrollments::Enrollments;
use crate::store::{ExpectedVersion, StoreError};

/// Largest piece of data stored (profiles are kilobytes; an asset of megabytes belongs on a
/// content server).
pub const MAX_DATA_BYTES: usize = 1 << 20;
/// The path devices fetch data at, below the server's base URL.
pub const DATA_PATH: &str = "/ddm/data/";

fn data_stream(sha256: &str) -> String {
    format!("declaration-data-{sha256}")
}

/// What was stored, and where devices fetch it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DataInfo {
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub url: String,
    /// `false`: the same bytes were stored already.
    pub stored: bool,
}

/// Why a device fetch was not served.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("not a SHA-256 (64 hex digits)")]
    NotASha256,
    #[error("the identity belongs to no enrollment that may fetch this")]
    Forbidden,
    #[error("no such data for this device")]
    NotFound,
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<AdminError> for FetchError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Unavailable(d) => FetchError::Unavailable(d),
            other => FetchError::Internal(other.to_string()),
        }
    }
}

impl From<crate::service::enrollments::ServiceError> for FetchError {
    fn from(e: crate::service::enrollments::ServiceError) -> Self {
        use crate::service::aggregate::RunError;
        match e {
            // The enrollment refused this identity (revoked, bound to another certificate).
            RunError::Refused(_) => FetchError::Forbidden,
            RunError::Store(e) => e.into(),
            e @ RunError::Contention(_) => FetchError::Unavailable(e.to_string()),
            other => FetchError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for FetchError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(d) => FetchError::Unavailable(d),
            other => FetchError::Internal(other.to_string()),
        }
    }
}

/// Whether `bytes` is a configuration profile: a plist with `PayloadType: Configuration`, or a
/// CMS-signed one (DER, not opened here: the device checks the signature).
fn is_profile(bytes: &[u8]) -> bool {
    if bytes.first() == Some(&0x30) {
        return true;
    }
    plist::from_bytes::<plist::Dictionary>(bytes)
        .ok()
        .and_then(|d| {
            d.get("PayloadType")
                .and_then(|v| v.as_string().map(|s| s == "Configuration"))
        })
        .unwrap_or(false)
}

/// The `/ddm/data/<sha256>` URLs under `base_url` that `payload` names, with their key paths.
pub(crate) fn data_urls<'a>(base_url: &str, payload: &'a Json) -> Vec<(&'static str, &'a str)> {
    let prefix = format!("{base_url}{DATA_PATH}");
    let mut found = Vec::new();
    for (path, value) in [
        ("Payload.ProfileURL", payload.get("ProfileURL")),
        (
            "Payload.Reference.DataURL",
            payload.get("Reference").and_then(|r| r.get("DataURL")),
        ),
    ] {
        if let Some(url) = value.and_then(Json::as_str) {
            if let Some(sha) = url.strip_prefix(&prefix) {
                found.push((path, sha));
            }
        }
    }
    found
}

impl Declarations {
    /// Stores `bytes` (a configuration profile) for declarations to point at.
    pub async fn store_data(
        &self,
        caller: &Caller,
        bytes: &[u8],
        content_type: &str,
        reason: Option<String>,
        data_key: &DataKey,
    ) -> Result<DataInfo, AdminError> {
        let base_url = self.base_url.as_str();
        authorize(caller, Action::ManageDeclarations)?;
        if bytes.is_empty() || bytes.len() > MAX_DATA_BYTES {
            return Err(AdminError::invalid_at(
                format!("the data is 1 to {MAX_DATA_BYTES} bytes"),
                "body",
            ));
        }
        if !is_profile(bytes) {
            return Err(AdminError::invalid_at(
                "not a configuration profile (a plist with PayloadType Configuration, or one CMS-signed)",
                "body",
            ));
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        let event = DeclarationDataStored {
            sha256: sha256.clone(),
            size: bytes.len() as u64,
            content_type: content_type.to_string(),
            reason,
        };
        let sealed = data_key
            .seal_raw(bytes)
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        let append = self
            .store()
            .append(
                &data_stream(&sha256),
                ExpectedVersion::NoStream,
                vec![NewEvent::new(&caller.actor, &event).with_raw(sealed)],
            )
            .await;
        let stored = match append {
            Ok(_) => true,
            // Content-addressed: the stream exists, so these bytes are stored already.
            Err(StoreError::WrongExpectedVersion { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        Ok(DataInfo {
            url: format!("{base_url}{DATA_PATH}{sha256}"),
            sha256,
            size: bytes.len() as u64,
            content_type: content_type.to_string(),
            stored,
        })
    }

    /// Refuses a payload naming Annal-hosted data that was never stored.
    pub(crate) async fn check_data_refs(&self, payload: &Json) -> Result<(), AdminError> {
        for (path, sha256) in data_urls(&self.base_url, payload) {
            let exists = crate::service::identities::is_fingerprint(sha256)
                && !self.store().read_stream(&data_stream(sha256), 1, 1).await?.is_empty();
            if !exists {
                return Err(AdminError::invalid_at(
                    format!(
                        "{path} names data this server does not hold: store it with PUT /v1/declarations/data first"
                    ),
                    path,
                ));
            }
        }
        Ok(())
    }

    /// The stored bytes and their content type.
    async fn read_data(&self, sha256: &str, data_key: &DataKey) -> Result<Option<(String, Vec<u8>)>, FetchError> {
        let events = self.store().read_stream(&data_stream(sha256), 1, 1).await?;
        let Some(recorded) = events.first() else {
            return Ok(None);
        };
        let Ok(Event::DeclarationDataStored(stored)) =
            Event::decode(&recorded.event_type, recorded.schema_version, &recorded.data)
        else {
            return Err(FetchError::Internal(format!(
                "{} does not hold data",
                data_stream(sha256)
            )));
        };
        let sealed = recorded
            .raw
            .as_deref()
            .ok_or_else(|| FetchError::Internal("stored data without its bytes".into()))?;
        let bytes = data_key
            .open_raw(sealed)
            .map_err(|e| FetchError::Internal(e.to_string()))?;
        Ok(Some((stored.content_type, bytes)))
    }

    /// Serves data to the device `identity` speaks for, if a declaration of its set points at
    /// it; the fetch is recorded on the enrollment like every device request.
    pub async fn fetch_for_device(
        &self,
        enrollments: &Enrollments,
        facts: &dyn Facts,
        identity: Identity,
        sha256: &str,
        data_key: &DataKey,
    ) -> Result<(String, Vec<u8>), FetchError> {
        let base_url = self.base_url.as_str();
        // Checked first: a path that cannot name stored data costs nothing and records nothing.
        if !crate::service::identities::is_fingerprint(sha256) {
            return Err(FetchError::NotASha256);
        }
        let fingerprint = identity.certificate.fingerprint_sha256.clone();
        let record = enrollments.identity_record(&fingerprint).await?;
        let key = match (record.claimed_by, record.revoked) {
            (Some(key), false) => key,
            _ => return Err(FetchError::Forbidden),
        };
        let (state, _) = enrollments.state(&key).await?;
        let bound = state
            .identity
            .as_ref()
            .is_some_and(|i| i.fingerprint_sha256 == fingerprint);
        if state.phase != Phase::Enrolled || !bound || state.identity_revoked {
            return Err(FetchError::Forbidden);
        }
        let set = self.set_of(&key, facts).await?;
        let pointed = set
            .items
            .iter()
            .any(|item| data_urls(base_url, &item.payload).iter().any(|(_, sha)| *sha == sha256));
        let data = if pointed {
            self.read_data(sha256, data_key).await?
        } else {
            None
        };
        let input = Input::Device {
            input: Box::new(DeviceInput::DeclarativeManagement {
                endpoint: format!("data/{sha256}"),
                request: DdmRequest::Data { found: data.is_some() },
                set: None,
            }),
            device: annal_schemas::events::DeviceRef {
                udid: Some(key.clone()),
                ..Default::default()
            },
            identity,
            raw: Bytes::new(),
            parent: None,
        };
        enrollments
            .handle(&key, input, &fingerprint, chrono::Utc::now())
            .await?;
        data.ok_or(FetchError::NotFound)
    }
}
