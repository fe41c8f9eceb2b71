//! `POST /v1/push/{ids}` (NanoMDM's push endpoint). APNs is not wired yet (the push issue
//! builds the client and worker): until then the endpoint checks the key and the role, then
//! answers 503 rather than pretending a push was sent.

use axum::extract::Path;

use super::auth::require;
use super::error::ApiError;
use super::queue::enrollment_ids;
use crate::domain::access::{Action, Caller};

pub async fn push(caller: Caller, Path(ids): Path<String>) -> Result<(), ApiError> {
    require(&caller, Action::Push)?;
    enrollment_ids(&[ids])?;
    Err(ApiError::Unavailable(
        "push is not configured: no APNs client is built into this version yet".into(),
    ))
}
