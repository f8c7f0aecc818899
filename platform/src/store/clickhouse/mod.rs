//! The ClickHouse store, over the HTTP interface with the official `clickhouse` crate.
//!
//! Wire protocol: rows travel as `RowBinary` (validation is off: ClickHouse 18.16, which the tests
//! run against, has no `RowBinaryWithNamesAndTypes`). Every statement here runs on 18.16 and on
//! current releases: no `DateTime64`, window functions or `Map`; every joined subquery has an
//! alias. Times are `Int64` milliseconds; JSON-valued columns are `String`. Where a current server
//! does better, the migrations use it there only (`Migration::Current`, by the major version
//! asked at migration time): text columns of few values are `LowCardinality(String)` on 20.x and
//! later, which RowBinary encodes as `String`, so the rows and queries are the same on both; the
//! millisecond times also read as `DateTime64(3, 'UTC')` ALIAS columns there (`event_time`, …),
//! for SQL written against the tables. What the server can do is asked once at connect
//! ([`migrations::ServerFeatures`]): the purge of old failed events is a lightweight `DELETE`
//! on 23.3 and later. `FINAL` is read with the server's defaults, which on 26.9 already run it on
//! several threads without merging ranges that do not overlap (`max_final_threads` auto,
//! `split_parts_ranges_into_intersecting_and_non_intersecting_final`, `enable_vertical_final`).
//!
//! The folder: this file (connecting, classifying errors, the scorer's writes), [`migrations`]
//! (the schema), [`sql`] (the builder with bound values, and the attribution of events to people),
//! `profiles`, `objects` (saved objects, member sets, deliveries) and `analytics` (the
//! store's roles), whose queries [`segment`], [`rfm`] and [`campaign`] build. Values are bound with
//! `.bind()` and identifiers with `sql::Identifier`.

mod analytics;
pub mod campaign;
pub mod http;
pub mod migrations;
mod objects;
pub mod overview;
mod profiles;
pub mod rfm;
pub mod segment;
pub mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use clickhouse::sql::Identifier;
use clickhouse::{Client, inserter::Inserter};
use tokio::sync::Mutex;

use super::{
    EventRow, HandoffRow, IdentityRow, ProfileRow, ScoreChangeRow, ScorerWrites, StateRow, Store,
    StoreError, WriteBatch, latest_versions,
};
use crate::config::ClickhouseConfig;
pub use migrations::{MIGRATIONS, Migration, migrate};

/// ClickHouse identifiers leadstream accepts from config: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}

/// The one place ClickHouse errors are classified. Network failures, timeouts and server-side
/// overload are retryable; a refused statement or bad data is not.
pub fn classify(e: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error as E;
    match &e {
        E::Network(_) | E::TimedOut => StoreError::Unavailable(with_causes(&e)),
        E::BadResponse(text) => {
            // Codes: 159 timeout, 202 too many simultaneous queries, 203 no free connection,
            // 209 socket timeout, 210 network error, 241 memory limit, 242 table read-only,
            // 252 too many parts, 319 unknown status of insert, 425 system error.
            let retryable = [
                "Code: 159",
                "Code: 202",
                "Code: 203",
                "Code: 209",
                "Code: 210",
                "Code: 241",
                "Code: 242",
                "Code: 252",
                "Code: 319",
                "Code: 425",
            ];
            if retryable.iter().any(|c| text.contains(c)) {
                StoreError::Unavailable(e.to_string())
            } else {
                StoreError::Invalid(e.to_string())
            }
        }
        _ => StoreError::Invalid(e.to_string()),
    }
}

/// An error with its causes (`network error: client error (Connect): invalid peer certificate:
/// UnknownIssuer`): a refused TLS handshake or connection says why, not only that it failed.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

struct Inserters {
    events: Inserter<EventRow>,
    score_changes: Inserter<ScoreChangeRow>,
    profiles: Inserter<ProfileRow>,
    handoffs: Inserter<HandoffRow>,
    identities: Inserter<IdentityRow>,
}

impl Inserters {
    fn new(client: &Client) -> Inserters {
        // One `INSERT` per flush of the scorer; large flushes are split by rows.
        Inserters {
            events: client.inserter::<EventRow>("events").with_max_rows(100_000),
            score_changes: client
                .inserter::<ScoreChangeRow>("score_changes")
                .with_max_rows(100_000),
            profiles: client
                .inserter::<ProfileRow>("profiles")
                .with_max_rows(100_000),
            handoffs: client.inserter::<HandoffRow>("handoffs"),
            identities: client
                .inserter::<IdentityRow>("identities")
                .with_max_rows(100_000),
        }
    }
}

/// Writes `rows` with `inserter` and sends them: done when ClickHouse has them.
async fn insert_all<T>(
    inserter: &mut Inserter<T>,
    rows: &[T],
) -> Result<(), clickhouse::error::Error>
where
    T: clickhouse::RowOwned + clickhouse::RowWrite,
{
    for row in rows {
        inserter.write(row).await?;
    }
    inserter.force_commit().await.map(|_| ())
}

#[derive(Clone)]
pub struct ClickhouseStore {
    client: Client,
    inserters: Arc<Mutex<Inserters>>,
    features: migrations::ServerFeatures,
}

impl ClickhouseStore {
    /// Connects, and when `config.migrate` creates the database and applies migrations.
    pub async fn connect(config: &ClickhouseConfig) -> Result<ClickhouseStore, StoreError> {
        if !valid_identifier(&config.database) {
            return Err(StoreError::Invalid(format!(
                "clickhouse.database `{}` is not a valid identifier",
                config.database
            )));
        }
        let server = http::client(config)?.with_validation(false);
        if config.migrate {
            server
                .query("CREATE DATABASE IF NOT EXISTS ?")
                .bind(Identifier(&config.database))
                .execute()
                .await
                .map_err(classify)?;
        }
        let client = server.with_database(&config.database);
        if config.migrate {
            migrate(&client).await?;
        }
        let features = migrations::ServerFeatures::detect(&client).await?;
        Ok(ClickhouseStore {
            inserters: Arc::new(Mutex::new(Inserters::new(&client))),
            client,
            features,
        })
    }

    /// What the server can do beyond 18.16, asked at connect.
    pub fn features(&self) -> migrations::ServerFeatures {
        self.features
    }

    /// Inserts `rows` into `table` in one INSERT (none: nothing to do), done when it returns.
    async fn insert_rows<T>(&self, table: &str, rows: &[T]) -> Result<(), StoreError>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert::<T>(table).await.map_err(classify)?;
        for row in rows {
            insert.write(row).await.map_err(classify)?;
        }
        insert.end().await.map_err(classify)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl ScorerWrites for ClickhouseStore {
    async fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let mut inserters = self.inserters.lock().await;
        let Inserters {
            events,
            score_changes,
            profiles,
            handoffs,
            identities,
        } = &mut *inserters;
        // The tables a profile version covers are written at once, each its own INSERT; the
        // profile versions only after all of them are in, so that a crash in between replays
        // (the stored profile does not yet have the offset) rather than loses their rows.
        let result: Result<(), clickhouse::error::Error> = async {
            tokio::try_join!(
                insert_all(events, &batch.events),
                insert_all(score_changes, &batch.score_changes),
                insert_all(handoffs, &batch.handoffs),
                insert_all(identities, &batch.identities),
            )?;
            insert_all(profiles, &batch.profiles).await
        }
        .await;
        if let Err(e) = result {
            // A failed inserter may hold a half-sent INSERT: start afresh, the caller retries.
            *inserters = Inserters::new(&self.client);
            return Err(classify(e));
        }
        Ok(())
    }

    async fn load_profiles(&self, partitions: &[i32]) -> Result<Vec<StateRow>, StoreError> {
        self.load_profiles_where(None, partitions).await
    }

    async fn load_workspace_profiles(
        &self,
        workspace: &str,
        partitions: &[i32],
    ) -> Result<Vec<StateRow>, StoreError> {
        self.load_profiles_where(Some(workspace), partitions).await
    }

    /// Streamed from ClickHouse's answer: only the rows in flight are held.
    async fn load_profiles_each(
        &self,
        partitions: &[i32],
        each: &mut (dyn FnMut(StateRow) + Send),
    ) -> Result<(), StoreError> {
        let mut cursor = self
            .profiles_query(None, partitions)
            .fetch::<StateRow>()
            .map_err(classify)?;
        while let Some(row) = cursor.next().await.map_err(classify)? {
            each(row);
        }
        Ok(())
    }
}

impl ClickhouseStore {
    async fn load_profiles_where(
        &self,
        workspace: Option<&str>,
        partitions: &[i32],
    ) -> Result<Vec<StateRow>, StoreError> {
        let rows = self
            .profiles_query(workspace, partitions)
            .fetch_all::<StateRow>()
            .await
            .map_err(classify)?;
        Ok(latest_versions(rows))
    }

    /// The newest stored states of the profiles on `partitions` (and of rows stored before rows
    /// carried their partition), of `workspace` or of all.
    fn profiles_query(
        &self,
        workspace: Option<&str>,
        partitions: &[i32],
    ) -> clickhouse::query::Query {
        // Partition numbers are integers, written into the statement (18.16 takes no array
        // for `IN`); no partitions: only the rows stored before rows carried one.
        let wanted = partitions
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let on_partitions = if wanted.is_empty() {
            "log_partition < 0".to_string()
        } else {
            format!("(log_partition IN ({wanted}) OR log_partition < 0)")
        };
        let statement = match workspace {
            None => format!("SELECT ?fields FROM profiles FINAL WHERE {on_partitions}"),
            Some(_) => format!(
                "SELECT ?fields FROM profiles FINAL WHERE workspace = ? AND {on_partitions}"
            ),
        };
        let mut query = self.client.query(&statement);
        if let Some(workspace) = workspace {
            query = query.bind(workspace);
        }
        query
    }
}

#[async_trait]
impl Store for ClickhouseStore {
    async fn check(&self) -> Result<(), StoreError> {
        self.client
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(valid_identifier("leadstream"));
        assert!(valid_identifier("_t1"));
        assert!(!valid_identifier("1t"));
        assert!(!valid_identifier("a-b"));
        assert!(!valid_identifier("a; DROP TABLE x"));
        assert!(!valid_identifier(""));
    }
}
