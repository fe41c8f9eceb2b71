//! Reading NanoMDM's MySQL schema (`storage/mysql/schema.sql`: the same tables as PostgreSQL's,
//! named `nano_*`), read-only (`sql.rs`), in one consistent-snapshot transaction.

use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, Opts, Row};

use super::rows::Snapshot;
use super::sql::{read_snapshot, Cells, SqlSource};
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
    let snapshot = read_snapshot(&mut Mysql { conn: &mut *conn }).await?;
    conn.query_drop("COMMIT")
        .await
        .map_err(|e| source("ending the transaction", &e))?;
    Ok(snapshot)
}

struct Mysql<'a> {
    conn: &'a mut Conn,
}

impl SqlSource for Mysql<'_> {
    type Row = Row;
    const PREFIX: &'static str = "nano_";

    async fn rows(&mut self, sql: &str, table: &str) -> Result<Vec<Row>, NanoError> {
        self.conn
            .query(sql)
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

    /// A MEDIUMBLOB: the token's bytes as the device sent them.
    fn unlock_token(&self, i: usize) -> Result<Option<Vec<u8>>, String> {
        cell(self, i)
    }

    fn column(&self, i: usize) -> String {
        self.columns_ref()
            .get(i)
            .map(|c| c.name_str().into_owned())
            .unwrap_or_default()
    }
}

fn cell<T: FromValue>(row: &Row, i: usize) -> Result<T, String> {
    match row.get_opt::<T, usize>(i) {
        Some(result) => result.map_err(|e| e.to_string()),
        None => Err(format!("no column {i}")),
    }
}

fn source(what: &str, e: &mysql_async::Error) -> NanoError {
    NanoError::Source {
        what: format!("NanoMDM's MySQL database ({what})"),
        detail: e.to_string(),
    }
}
