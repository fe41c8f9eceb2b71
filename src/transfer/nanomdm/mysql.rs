//! Reading NanoMDM's MySQL schema (`storage/mysql/schema.sql`: the same tables as PostgreSQL's,
//! named `nano_*`), read-only, in one consistent-snapshot transaction.

use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, Opts, Row};

use super::rows::{CertAuthRow, CommandRow, DeviceRow, EnrollmentRow, QueueRow, ResultRow, Snapshot, UserRow};
use super::NanoError;

pub async fn read(url: &str) -> Result<Snapshot, NanoError> {
    let opts = Opts::from_url(url).map_err(|e| NanoError::Source {
        what: "NanoMDM's MySQL URL".into(),
        detail: e.to_string(),
    })?;
    let mut conn = Conn::new(opts).await.map_err(|e| source("connecting", &e))?;
    let snapshot = read_all(&mut conn).await;
    // Closing politely; a failure to do so changes nothing that was read.
    let _ = conn.disconnect().await;
    snapshot
}

async fn read_all(conn: &mut Conn) -> Result<Snapshot, NanoError> {
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(|e| source("setting the isolation level", &e))?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(|e| source("starting a read-only transaction", &e))?;
    let devices = query(
        conn,
        "SELECT id, identity_cert, unlock_token, authenticate, token_update, bootstrap_token_b64 \
         FROM nano_devices ORDER BY created_at, id",
        "nano_devices",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(DeviceRow {
            id: get(r, "nano_devices", 0)?,
            identity_cert: get(r, "nano_devices", 1)?,
            // A MEDIUMBLOB: the token's bytes as the device sent them.
            unlock_token: get(r, "nano_devices", 2)?,
            authenticate: get(r, "nano_devices", 3)?,
            token_update: get(r, "nano_devices", 4)?,
            bootstrap_token_b64: get(r, "nano_devices", 5)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let users = query(
        conn,
        "SELECT id, device_id, token_update FROM nano_users ORDER BY created_at, id",
        "nano_users",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(UserRow {
            id: get(r, "nano_users", 0)?,
            device_id: get(r, "nano_users", 1)?,
            token_update: get(r, "nano_users", 2)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let enrollments = query(
        conn,
        "SELECT id, device_id, user_id, enabled FROM nano_enrollments ORDER BY created_at, id",
        "nano_enrollments",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(EnrollmentRow {
            id: get(r, "nano_enrollments", 0)?,
            device_id: get(r, "nano_enrollments", 1)?,
            user_id: get(r, "nano_enrollments", 2)?,
            enabled: get(r, "nano_enrollments", 3)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let commands = query(
        conn,
        "SELECT command_uuid, request_type, command FROM nano_commands",
        "nano_commands",
    )
    .await?
    .iter()
    .map(|r| {
        let row = CommandRow {
            command_uuid: get(r, "nano_commands", 0)?,
            request_type: get(r, "nano_commands", 1)?,
            command: get(r, "nano_commands", 2)?,
        };
        Ok((row.command_uuid.clone(), row))
    })
    .collect::<Result<_, NanoError>>()?;
    // NanoMDM's own delivery order (`RetrieveNextCommand`).
    let queue = query(
        conn,
        "SELECT id, command_uuid, active FROM nano_enrollment_queue \
         ORDER BY id, priority DESC, created_at, command_uuid",
        "nano_enrollment_queue",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(QueueRow {
            id: get(r, "nano_enrollment_queue", 0)?,
            command_uuid: get(r, "nano_enrollment_queue", 1)?,
            active: get(r, "nano_enrollment_queue", 2)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let results = query(
        conn,
        "SELECT id, command_uuid, status, result FROM nano_command_results ORDER BY id, created_at, command_uuid",
        "nano_command_results",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(ResultRow {
            id: get(r, "nano_command_results", 0)?,
            command_uuid: get(r, "nano_command_results", 1)?,
            status: get(r, "nano_command_results", 2)?,
            result: get(r, "nano_command_results", 3)?,
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let cert_auth = query(
        conn,
        "SELECT id, sha256 FROM nano_cert_auth_associations ORDER BY id, updated_at, created_at",
        "nano_cert_auth_associations",
    )
    .await?
    .iter()
    .map(|r| {
        Ok(CertAuthRow {
            id: get(r, "nano_cert_auth_associations", 0)?,
            sha256: get::<String>(r, "nano_cert_auth_associations", 1)?.trim().to_owned(),
        })
    })
    .collect::<Result<_, NanoError>>()?;
    let push_topics = query(
        conn,
        "SELECT topic FROM nano_push_certs ORDER BY topic",
        "nano_push_certs",
    )
    .await?
    .iter()
    .map(|r| get(r, "nano_push_certs", 0))
    .collect::<Result<_, NanoError>>()?;
    conn.query_drop("COMMIT")
        .await
        .map_err(|e| source("ending the transaction", &e))?;
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

async fn query(conn: &mut Conn, sql: &str, table: &str) -> Result<Vec<Row>, NanoError> {
    conn.query(sql)
        .await
        .map_err(|e| source(&format!("the {table} table"), &e))
}

fn get<T: FromValue>(row: &Row, table: &'static str, i: usize) -> Result<T, NanoError> {
    let column = row
        .columns_ref()
        .get(i)
        .map(|c| c.name_str().into_owned())
        .unwrap_or_default();
    match row.get_opt::<T, usize>(i) {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(NanoError::Source {
            what: format!("the {table} table, column {column}"),
            detail: e.to_string(),
        }),
        None => Err(NanoError::Source {
            what: format!("the {table} table"),
            detail: format!("no column {i}"),
        }),
    }
}

fn source(what: &str, e: &mysql_async::Error) -> NanoError {
    NanoError::Source {
        what: format!("NanoMDM's MySQL database ({what})"),
        detail: e.to_string(),
    }
}
