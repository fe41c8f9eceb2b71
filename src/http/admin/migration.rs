//! `/migration` (NanoMDM's route, PUT or POST): one check-in message another server stored,
//! replayed by a migration tool with an admin key. Off (404) unless the server runs with
//! `--migration`; the use case is `service::admin::migration`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;

use super::error::ApiError;
use crate::http::AppState;
use crate::service::admin::migration::Migration;
use crate::service::admin::Caller;

pub async fn replay(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    if !app.enrollments.accepts_migration() {
        return Err(ApiError::not_found(
            "/migration is off: start the server with --migration to replay another server's check-ins",
        ));
    }
    let caller = caller?;
    let push_topic = || app.push.topic();
    let migration = Migration {
        enrollments: &app.enrollments,
        data_key: &app.data_key,
        push_topic: &push_topic,
    };
    let migrated = migration.replay(&caller, body, Utc::now()).await?;
    tracing::info!(
        enrollment = %migrated.enrollment,
        message_type = migrated.message_type,
        actor = %caller.actor,
        "migrated a check-in"
    );
    // What a device gets for Authenticate and TokenUpdate: an empty 200.
    Ok(StatusCode::OK)
}
