//! Reading NanoMDM's PostgreSQL schema (`storage/pgsql/schema.sql`), read-only: plain SELECTs
//! in one REPEATABLE READ transaction, so a NanoMDM still serving devices is read at one
//! instant rather than half before and half after a check-in.

use tokio_postgres::{Client, NoTls, Row};

use super::rows::{CertAuthRow, CommandRow, DeviceRow, EnrollmentRow, QueueRow, ResultRow, Snapshot, UserRow};
use super::NanoError;

pub async fn read(url: &str) -> Result<Snapshot, NanoError> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| source("connecting", &e))?;
    let connection = tokio::spawn(connection);
    let snapshot = read_all(&mut client).await;
    drop(client);
    // The connection task ends once the client is dropped; its own error, if any, is moot.
    let _ = connection.await;
    snapshot
}

async fn read_all(client: &mut Client) -> Result<Snapshot, NanoError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| source("starting a read-only transaction", &e))?;
    let query = |sql: &'static str, what: &'static str| {
        let tx = &tx;
        async move { tx.query(sql, &[]).await.map_err(|e| source(what, &e)) }
    };
    let devices = query(
        "SELECT id, identity_cert, unlock_token, authenticate, token_update, bootstrap_token_b64 \
         FROM devices ORDER BY created_at, id",
        "the devices table",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(DeviceRow {
            id: get(r, "devices", 0)?,
            identity_cert: get(r, "devices", 1)?,
            unlock_token: get::<Option<String>>(r, "devices", 2)?.map(|t| unlock_token_bytes(&t)),
            authenticate: get(r, "devices", 3)?,
            token_update: get(r, "devices", 4)?,
            bootstrap_token_b64: get(r, "devices", 5)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let users = query(
        "SELECT id, device_id, token_update FROM users ORDER BY created_at, id",
        "the users table",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(UserRow {
            id: get(r, "users", 0)?,
            device_id: get(r, "users", 1)?,
            token_update: get(r, "users", 2)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let enrollments = query(
        "SELECT id, device_id, user_id, enabled FROM enrollments ORDER BY created_at, id",
        "the enrollments table",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(EnrollmentRow {
            id: get(r, "enrollments", 0)?,
            device_id: get(r, "enrollments", 1)?,
            user_id: get(r, "enrollments", 2)?,
            enabled: get(r, "enrollments", 3)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let commands = query(
        "SELECT command_uuid, request_type, command FROM commands",
        "the commands table",
    )
    .await?
    .iter()
    .map(|r| {
        let row = CommandRow {
            command_uuid: get(r, "commands", 0)?,
            request_type: get(r, "commands", 1)?,
            command: get(r, "commands", 2)?,
        };
        Ok((row.command_uuid.clone(), row))
    })
    .collect::<Result<_, NanoError>>()?;
    // NanoMDM's own delivery order (`RetrieveNextCommand`).
    let queue = query(
        "SELECT id, command_uuid, active FROM enrollment_queue ORDER BY id, priority DESC, created_at, command_uuid",
        "the enrollment_queue table",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(QueueRow {
            id: get(r, "enrollment_queue", 0)?,
            command_uuid: get(r, "enrollment_queue", 1)?,
            active: get(r, "enrollment_queue", 2)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let results = query(
        "SELECT id, command_uuid, status, result FROM command_results ORDER BY id, created_at, command_uuid",
        "the command_results table",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(ResultRow {
            id: get(r, "command_results", 0)?,
            command_uuid: get(r, "command_results", 1)?,
            status: get(r, "command_results", 2)?,
            result: get(r, "command_results", 3)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let cert_auth = query(
        "SELECT id, sha256 FROM cert_auth_associations ORDER BY id, updated_at, created_at",
        "the cert_auth_associations table",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(CertAuthRow {
            id: get(r, "cert_auth_associations", 0)?,
            sha256: get::<String>(r, "cert_auth_associations", 1)?.trim().to_owned(),
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let push_topics = query("SELECT topic FROM push_certs ORDER BY topic", "the push_certs table")
        .await?
        .iter()
        .map(|r| get(r, "push_certs", 0))
        .collect::<Result<_, NanoError>>()?;
    tx.commit().await.map_err(|e| source("ending the transaction", &e))?;
    Ok(Snapshot {
        devices,
        users,
        enrollments,
        commands,
        queue,
        results,
        cert_auth,
        push_topics,
    })
}

/// NanoMDM writes the UnlockToken's bytes into a TEXT column through Go's `database/sql`,
/// which the lib/pq driver sends in PostgreSQL's bytea text form (`\x` and hex digits).
/// Anything else is taken as the bytes themselves.
fn unlock_token_bytes(stored: &str) -> Vec<u8> {
    stored
        .strip_prefix("\\x")
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_else(|| stored.as_bytes().to_vec())
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, table: &'static str, i: usize) -> Result<T, NanoError> {
    row.try_get(i).map_err(|e| NanoError::Source {
        what: format!(
            "the {table} table, column {}",
            row.columns().get(i).map_or("?", |c| c.name())
        ),
        detail: e.to_string(),
    })
}

fn source(what: &str, e: &tokio_postgres::Error) -> NanoError {
    // The server's own message (a missing table, a refused login) is the useful part.
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| e.to_string());
    NanoError::Source {
        what: format!("NanoMDM's PostgreSQL database ({what})"),
        detail,
    }
}
