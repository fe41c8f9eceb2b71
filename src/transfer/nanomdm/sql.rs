//! NanoMDM's SQL stores, read one way: the same SELECTs (MySQL's tables carry a `nano_` prefix)
//! and the same mapping from row to [`Snapshot`]. A driver (`pgsql.rs`, `mysql.rs`) only runs a
//! statement inside its read-only snapshot and reads a cell.

use super::rows::{CertAuthRow, CommandRow, DeviceRow, EnrollmentRow, QueueRow, ResultRow, Snapshot, UserRow};
use super::NanoError;

/// One result row, read by column index; errors are the driver's words.
pub trait Cells {
    fn opt_text(&self, i: usize) -> Result<Option<String>, String>;
    fn text(&self, i: usize) -> Result<String, String> {
        self.opt_text(i)?
            .ok_or_else(|| "NULL where text is required".to_owned())
    }
    fn flag(&self, i: usize) -> Result<bool, String>;
    /// The UnlockToken's bytes, however this store keeps them.
    fn unlock_token(&self, i: usize) -> Result<Option<Vec<u8>>, String>;
    /// The column's name, for errors.
    fn column(&self, i: usize) -> String;
}

/// A NanoMDM database inside one read-only snapshot.
pub trait SqlSource {
    type Row: Cells;
    /// What the tables' names start with.
    const PREFIX: &'static str;
    /// Runs `sql`; an error names `table`.
    async fn rows(&mut self, sql: &str, table: &str) -> Result<Vec<Self::Row>, NanoError>;
}

/// Every table the import reads, in NanoMDM's own orders.
pub async fn read_snapshot<S: SqlSource>(source: &mut S) -> Result<Snapshot, NanoError> {
    let devices = read(
        source,
        "devices",
        "id, identity_cert, unlock_token, authenticate, token_update, bootstrap_token_b64",
        "ORDER BY created_at, id",
        |r| {
            Ok(DeviceRow {
                id: r.get(0, Cells::text)?,
                identity_cert: r.get(1, Cells::opt_text)?,
                unlock_token: r.get(2, Cells::unlock_token)?,
                authenticate: r.get(3, Cells::text)?,
                token_update: r.get(4, Cells::opt_text)?,
                bootstrap_token_b64: r.get(5, Cells::opt_text)?,
            })
        },
    )
    .await?;
    let users = read(
        source,
        "users",
        "id, device_id, token_update",
        "ORDER BY created_at, id",
        |r| {
            Ok(UserRow {
                id: r.get(0, Cells::text)?,
                device_id: r.get(1, Cells::text)?,
                token_update: r.get(2, Cells::opt_text)?,
            })
        },
    )
    .await?;
    let enrollments = read(
        source,
        "enrollments",
        "id, device_id, user_id, enabled",
        "ORDER BY created_at, id",
        |r| {
            Ok(EnrollmentRow {
                id: r.get(0, Cells::text)?,
                device_id: r.get(1, Cells::text)?,
                user_id: r.get(2, Cells::opt_text)?,
                enabled: r.get(3, Cells::flag)?,
            })
        },
    )
    .await?;
    let commands = read(source, "commands", "command_uuid, request_type, command", "", |r| {
        Ok(CommandRow {
            command_uuid: r.get(0, Cells::text)?,
            request_type: r.get(1, Cells::text)?,
            command: r.get(2, Cells::text)?,
        })
    })
    .await?
    .into_iter()
    .map(|row| (row.command_uuid.clone(), row))
    .collect();
    // NanoMDM's own delivery order (`RetrieveNextCommand`).
    let queue = read(
        source,
        "enrollment_queue",
        "id, command_uuid, active",
        "ORDER BY id, priority DESC, created_at, command_uuid",
        |r| {
            Ok(QueueRow {
                id: r.get(0, Cells::text)?,
                command_uuid: r.get(1, Cells::text)?,
                active: r.get(2, Cells::flag)?,
            })
        },
    )
    .await?;
    let results = read(
        source,
        "command_results",
        "id, command_uuid, status, result",
        "ORDER BY id, created_at, command_uuid",
        |r| {
            Ok(ResultRow {
                id: r.get(0, Cells::text)?,
                command_uuid: r.get(1, Cells::text)?,
                status: r.get(2, Cells::text)?,
                result: r.get(3, Cells::text)?,
            })
        },
    )
    .await?;
    let cert_auth = read(
        source,
        "cert_auth_associations",
        "id, sha256",
        "ORDER BY id, updated_at, created_at",
        |r| {
            Ok(CertAuthRow {
                id: r.get(0, Cells::text)?,
                sha256: r.get(1, Cells::text)?.trim().to_owned(),
            })
        },
    )
    .await?;
    let push_topics = read(source, "push_certs", "topic", "ORDER BY topic", |r| {
        r.get(0, Cells::text)
    })
    .await?;
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

/// A row of a named table: a cell error says which table and column.
struct Named<'r, R> {
    row: &'r R,
    table: &'r str,
}

impl<R: Cells> Named<'_, R> {
    fn get<T>(&self, i: usize, cell: fn(&R, usize) -> Result<T, String>) -> Result<T, NanoError> {
        cell(self.row, i).map_err(|detail| NanoError::Source {
            what: format!("the {} table, column {}", self.table, self.row.column(i)),
            detail,
        })
    }
}

/// `SELECT columns FROM <prefix>table order`, each row mapped.
async fn read<S: SqlSource, T>(
    source: &mut S,
    table: &str,
    columns: &str,
    order: &str,
    map: impl Fn(&Named<'_, S::Row>) -> Result<T, NanoError>,
) -> Result<Vec<T>, NanoError> {
    let table = format!("{}{table}", S::PREFIX);
    let sql = format!("SELECT {columns} FROM {table} {order}");
    source
        .rows(sql.trim_end(), &table)
        .await?
        .iter()
        .map(|row| map(&Named { row, table: &table }))
        .collect()
}
