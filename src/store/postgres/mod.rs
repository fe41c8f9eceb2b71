//! PostgreSQL: the shared engine for several `annal serve` nodes.
//!
//! Appends from every process serialize on one row lock (`annal_head … FOR UPDATE`) taken inside
//! the append transaction, and positions are assigned under it, so positions are dense and
//! commit in the order they were assigned: a reader tailing `position > N` never skips an event
//! committed late. Within one process a writer task batches concurrent appends into one
//! transaction (group commit), which wins back the throughput the lock costs. Every commit
//! notifies a channel; each process LISTENs and wakes its subscriptions.

mod import;
mod listener;
mod rows;
mod writer;

use std::future::Future;
use std::time::Duration;

use annal_schemas::{NewEvent, RecordedEvent};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, watch};
use tokio_postgres::NoTls;

use super::group::{submit, AppendRequest};
use super::{AppendResult, Capabilities, EventStore, ExpectedVersion, Head, StoreError};

/// The longest an append or a read waits on PostgreSQL. A database that stopped answering
/// (frozen, or behind a dropped network link, where TCP waits for many minutes) then makes
/// requests fail with 503 instead of hanging, and they succeed again once it answers.
pub(super) const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a page of `read_all` may take. Rebuilds, export and migrate read pages of
/// thousands of events with their raw plists, which a healthy but busy database can take longer
/// than a request's bound to serve; only a database that stopped answering should fail them.
const BULK_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `operation`, failing it as unavailable after `limit`.
pub(super) async fn bounded<T>(
    what: &str,
    limit: Duration,
    operation: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, operation).await.unwrap_or_else(|_| {
        Err(StoreError::Unavailable(format!(
            "PostgreSQL did not answer {what} within {} s",
            limit.as_secs()
        )))
    })
}

pub struct PostgresStore {
    pool: Pool,
    /// The NOTIFY channel commits announce themselves on.
    channel: String,
    requests: mpsc::UnboundedSender<AppendRequest>,
    head: watch::Receiver<u64>,
}

impl PostgresStore {
    /// Connects, applies migrations and starts the writer and the LISTEN task.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut config = parse_url(url)?;
        // A prepared statement's generic plan is fixed from the statistics of the moment it is
        // made: made while the log is empty (where a sequential scan is cheapest), it would stay
        // in use as the log grows. Custom plans are made per execution from the actual values.
        let options = format!(
            "{} -c plan_cache_mode=force_custom_plan",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim());
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))?;
        let client = pool.get().await.map_err(pool_error)?;
        rows::migrate(&client).await?;
        let channel = rows::notify_channel(&client).await?;
        let head = rows::head(&client).await?;
        drop(client);
        let (head_tx, head_rx) = watch::channel(head.position);
        listener::spawn(config, channel.clone(), head_tx.clone());
        let requests = writer::spawn(pool.clone(), channel.clone(), head_tx);
        Ok(Self {
            pool,
            channel,
            requests,
            head: head_rx,
        })
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        // Bounded on the caller's side too: behind a stuck group commit, a request could
        // otherwise wait for several timeouts in turn. One given up on before its group is
        // planned is not written; one given up on while its group commits may have been (an
        // ambiguous 503, as after any lost answer: see the README's known gaps).
        bounded(
            "an append",
            OPERATION_TIMEOUT,
            submit(stream, expected, events, |request| self.requests.send(request).is_ok()),
        )
        .await
    }

    async fn import(&self, events: Vec<RecordedEvent>) -> Result<Head, StoreError> {
        import::import(&self.pool, &self.channel, &events).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        bounded("a stream read", OPERATION_TIMEOUT, async {
            let client = self.pool.get().await.map_err(pool_error)?;
            rows::read_stream(&client, stream, from_version, limit).await
        })
        .await
    }

    async fn read_all(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        bounded("a log read", BULK_READ_TIMEOUT, async {
            let client = self.pool.get().await.map_err(pool_error)?;
            rows::read_all(&client, from_position, limit).await
        })
        .await
    }

    async fn head(&self) -> Result<Head, StoreError> {
        bounded("a head read", OPERATION_TIMEOUT, async {
            let client = self.pool.get().await.map_err(pool_error)?;
            rows::head(&client).await
        })
        .await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            dense_positions: true,
            global_hash_chain: true,
            log_wide_event_ids: true,
        }
    }
}

/// Creates `schema` (if needed) in the database at `base_url` and returns a URL whose
/// connections use it: how tests and benchmarks get a log of their own in a shared database.
pub async fn url_with_new_schema(base_url: &str, schema: &str) -> Result<String, StoreError> {
    schema_statement(base_url, schema, "CREATE SCHEMA IF NOT EXISTS").await?;
    let separator = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!("{base_url}{separator}options=-c%20search_path%3D{schema}"))
}

/// Drops a schema made by [`url_with_new_schema`], with everything in it.
pub async fn drop_schema(base_url: &str, schema: &str) -> Result<(), StoreError> {
    schema_statement(base_url, schema, "DROP SCHEMA IF EXISTS").await
}

/// Runs `<statement> <schema>` (plus CASCADE for a drop) on a connection of its own.
async fn schema_statement(base_url: &str, schema: &str, statement: &str) -> Result<(), StoreError> {
    // The name goes into SQL text (DDL takes no parameters): allow only a plain identifier.
    if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Invalid(format!(
            "schema name {schema:?}: use letters, digits and _"
        )));
    }
    let cascade = if statement.starts_with("DROP") { " CASCADE" } else { "" };
    run_once(base_url, &format!("{statement} {schema}{cascade}")).await
}

/// Connects once and asks `SELECT 1`, changing nothing (`annal config check`).
pub(super) async fn probe(url: &str) -> Result<(), StoreError> {
    run_once(url, "SELECT 1").await
}

/// The connection settings of `url`; a new connection to a database that does not answer fails
/// instead of waiting on TCP.
fn parse_url(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Config(format!("--store: the PostgreSQL URL is not valid: {e}")))?;
    config.connect_timeout(OPERATION_TIMEOUT);
    Ok(config)
}

/// Runs `sql` on a connection of its own, outside the pool.
async fn run_once(url: &str, sql: &str) -> Result<(), StoreError> {
    let (client, connection) = parse_url(url)?.connect(NoTls).await.map_err(pg)?;
    let driver = tokio::spawn(connection);
    let done = client.batch_execute(sql).await.map_err(pg);
    drop(client);
    let _ = driver.await;
    done
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        // A connection the pool could not make: the driver's error says why.
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => StoreError::Unavailable(format!("PostgreSQL: {other}")),
    }
}

pub(super) fn pg(e: tokio_postgres::Error) -> StoreError {
    // The driver's Display says only "db error"; the server's code and message say what failed,
    // and for the mistakes of a first setup, what to do about it.
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            let hint = match code {
                "3D000" => " (the database does not exist: create it, e.g. `createdb`, or fix the URL's path)",
                "28000" | "28P01" => {
                    " (the role is unknown or its password is wrong: create the role, or fix the URL's user and password)"
                }
                "42501" => " (the role may not do this: grant it CREATE on the database, or use its owner)",
                _ => "",
            };
            StoreError::Unavailable(format!("PostgreSQL {code}: {}{hint}", db.message()))
        }
        None => {
            let refused = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
            let hint = if refused {
                " (nothing listens at the URL's host and port: is PostgreSQL running there?)"
            } else {
                ""
            };
            StoreError::Unavailable(format!("PostgreSQL: {e}{hint}"))
        }
    }
}
