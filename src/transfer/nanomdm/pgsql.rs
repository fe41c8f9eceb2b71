//! Reading NanoMDM's PostgreSQL schema (`storage/pgsql/schema.sql`), read-only: plain SELECTs
//! (`sql.rs`) in one REPEATABLE READ transaction, so a NanoMDM still serving devices is read at
//! one instant rather than half before and half after a check-in.

use tokio_postgres::types::FromSql;
use tokio_postgres::{NoTls, Row, Transaction};

use super::rows::Snapshot;
use super::sql::{read_snapshot, Cells, SqlSource};
use super::NanoError;

pub async fn read(url: &str) -> Result<Snapshot, NanoError> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| source("connecting", &e))?;
    let connection = tokio::spawn(connection);
    let snapshot = async {
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| source("starting a read-only transaction", &e))?;
        let mut pg = Postgres { tx };
        let snapshot = read_snapshot(&mut pg).await?;
        pg.tx.commit().await.map_err(|e| source("ending the transaction", &e))?;
        Ok(snapshot)
    }
    .await;
    drop(client);
    // The connection task ends once the client is dropped; its own error, if any, is moot.
    let _ = connection.await;
    snapshot
}

struct Postgres<'a> {
    tx: Transaction<'a>,
}

impl SqlSource for Postgres<'_> {
    type Row = Row;
    const PREFIX: &'static str = "";

    async fn rows(&mut self, sql: &str, table: &str) -> Result<Vec<Row>, NanoError> {
        self.tx
            .query(sql, &[])
            .await
            .map_err(|e| source(&format!("the {table} table"), &e))
    }
}

impl Cells for Row {
    fn opt_text(&self, i: usize) -> Result<Option<String>, String> {
        cell(self, i)
    }

    fn flag(&self, i: usize) -> Result<bool, String> {
        cell(self, i)
    }

    /// NanoMDM writes the UnlockToken's bytes into a TEXT column through Go's `database/sql`,
    /// which the lib/pq driver sends in PostgreSQL's bytea text form (`\x` and hex digits).
    /// Anything else is taken as the bytes themselves.
    fn unlock_token(&self, i: usize) -> Result<Option<Vec<u8>>, String> {
        let stored: Option<String> = cell(self, i)?;
        Ok(stored.map(|stored| {
            stored
                .strip_prefix("\\x")
                .and_then(|h| hex::decode(h).ok())
                .unwrap_or_else(|| stored.as_bytes().to_vec())
        }))
    }

    fn column(&self, i: usize) -> String {
        self.columns().get(i).map_or("?", |c| c.name()).to_owned()
    }
}

fn cell<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, String> {
    row.try_get(i).map_err(|e| e.to_string())
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
