//! The ClickHouse store, over the HTTP interface with the official `clickhouse` crate.
//!
//! Wire protocol: rows travel as `RowBinary` (validation is off: ClickHouse 18.16, which the tests
//! run against, has no `RowBinaryWithNamesAndTypes`). Every statement here runs on 18.16 and on
//! current releases: no `LowCardinality`, `DateTime64`, window functions or `Map`. Times are `Int64`
//! milliseconds; JSON-valued columns are `String`.
//!
//! Schema changes are numbered, idempotent migrations ([`MIGRATIONS`]), recorded in
//! `schema_migrations`. Values are bound with `.bind()` and identifiers with `sql::Identifier`.

use std::sync::Arc;

use async_trait::async_trait;
use clickhouse::sql::Identifier;
use clickhouse::{Client, inserter::Inserter};
use leadstream_schemas::{AccountSummary, Profile};
use tokio::sync::Mutex;

use super::{
    AccountSummaryRow, DeliveryRow, EventRow, HandoffRow, IdentityRow, ObjectRow, ProfileRow,
    ScoreChangeRow, SetMemberRow, Store, StoreError, WriteBatch, distinct_changes,
    distinct_handoffs, distinct_identities, latest_deliveries, latest_objects, latest_versions,
    members,
};
use crate::config::ClickhouseConfig;
use leadstream_schemas::rfm::{Cuts, Move, RfmPerson, RfmReport, RfmSpec};

/// One schema change. ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, so added columns are
/// checked in `system.columns` first: every migration is idempotent.
pub enum Migration {
    Statement(&'static str),
    AddColumns {
        table: &'static str,
        columns: &'static [(&'static str, &'static str)],
    },
}

/// Numbered migrations, applied in order and recorded in `schema_migrations`.
pub const MIGRATIONS: &[(u32, &str, Migration)] = &[
    (
        1,
        "events",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS events (
            workspace String,
            message_id String,
            profile_id String,
            anonymous_id String,
            user_id String,
            event_type String,
            kind String,
            event String,
            properties String,
            traits String,
            context String,
            timestamp_ms Int64,
            received_at_ms Int64
        ) ENGINE = MergeTree()
        PARTITION BY toYYYYMM(toDateTime(intDiv(timestamp_ms, 1000)))
        ORDER BY (workspace, profile_id, timestamp_ms)",
        ),
    ),
    (
        2,
        "profiles",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS profiles (
            workspace String,
            profile_id String,
            version UInt64,
            traits String,
            counts String,
            event_count UInt64,
            score Float64,
            lifecycle_stage String,
            first_seen_ms Int64,
            last_seen_ms Int64,
            updated_at_ms Int64
        ) ENGINE = ReplacingMergeTree(version)
        ORDER BY (workspace, profile_id)",
        ),
    ),
    (
        3,
        "profiles: grade, purchases, doc, state",
        Migration::AddColumns {
            table: "profiles",
            columns: &[
                ("grade", "String DEFAULT ''"),
                ("purchase_count", "UInt64 DEFAULT 0"),
                ("revenue", "Float64 DEFAULT 0"),
                ("last_purchase_ms", "Int64 DEFAULT 0"),
                ("doc", "String DEFAULT ''"),
                ("state", "String DEFAULT ''"),
            ],
        },
    ),
    (
        4,
        "score_changes",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS score_changes (
            workspace String,
            profile_id String,
            at_ms Int64,
            message_id String,
            seq UInt32,
            kind String,
            event String,
            score String,
            rule String,
            points Float64,
            before Float64,
            after Float64,
            model String
        ) ENGINE = ReplacingMergeTree()
        PARTITION BY toYYYYMM(toDateTime(intDiv(at_ms, 1000)))
        ORDER BY (workspace, profile_id, at_ms, message_id, seq)",
        ),
    ),
    (
        5,
        "webhook_deliveries",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS webhook_deliveries (
            workspace String,
            id String,
            webhook String,
            kind String,
            profile_id String,
            idempotency_key String,
            body String,
            attempts UInt32,
            status String,
            last_error String,
            created_ms Int64,
            updated_ms Int64,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)
        ORDER BY (workspace, id)",
        ),
    ),
    (
        6,
        "profiles: account roll-up and merges",
        Migration::AddColumns {
            table: "profiles",
            columns: &[
                ("account", "String DEFAULT ''"),
                ("account_traits", "String DEFAULT ''"),
                ("account_at_ms", "Int64 DEFAULT 0"),
                ("merged_into", "String DEFAULT ''"),
            ],
        },
    ),
    (
        7,
        "handoffs",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS handoffs (
            workspace String,
            profile_id String,
            crossing UInt32,
            qualified_at_ms Int64,
            score_name String,
            score Float64,
            threshold Float64,
            grade String,
            model String,
            record String
        ) ENGINE = ReplacingMergeTree()
        ORDER BY (workspace, profile_id, crossing)",
        ),
    ),
    (
        8,
        "identities",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS identities (
            workspace String,
            id String,
            profile_id String,
            merged_at_ms Int64
        ) ENGINE = ReplacingMergeTree()
        ORDER BY (workspace, id)",
        ),
    ),
    (
        9,
        "events: group, previous id, enrichment",
        Migration::AddColumns {
            table: "events",
            columns: &[
                ("group_id", "String DEFAULT ''"),
                ("previous_id", "String DEFAULT ''"),
                ("enrichment", "String DEFAULT ''"),
            ],
        },
    ),
    (
        10,
        "saved objects: segments, lists, snapshots, campaigns",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS objects (
            workspace String,
            kind String,
            id String,
            name String,
            description String,
            definition String,
            created_ms Int64,
            updated_ms Int64,
            version UInt64,
            deleted UInt8
        ) ENGINE = ReplacingMergeTree(version)
        ORDER BY (workspace, kind, id)",
        ),
    ),
    (
        11,
        "member sets of lists and snapshots",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS set_members (
            workspace String,
            set_id String,
            member_id String,
            version UInt64,
            removed UInt8
        ) ENGINE = ReplacingMergeTree(version)
        ORDER BY (workspace, set_id, member_id)",
        ),
    ),
    (
        12,
        "events: campaign and promo code, for campaign attribution",
        Migration::AddColumns {
            table: "events",
            columns: &[
                ("campaign", "String DEFAULT ''"),
                ("promo_code", "String DEFAULT ''"),
            ],
        },
    ),
    (
        13,
        "events: the event's money (an order's value by Segment's fallbacks, refunds negative)",
        Migration::AddColumns {
            table: "events",
            // Rows written before the column read their `revenue` property, as queries did.
            columns: &[(
                "revenue",
                "Float64 DEFAULT toFloat64OrZero(visitParamExtractRaw(properties, 'revenue'))",
            )],
        },
    ),
    (
        14,
        "failed_events",
        Migration::Statement(
            "CREATE TABLE IF NOT EXISTS failed_events (
            workspace String,
            id String,
            received_ms Int64,
            endpoint String,
            code String,
            field String,
            problem String,
            event_name String,
            message_id String,
            sent_at String,
            public_key UInt8,
            ip String,
            user_agent String,
            payload String,
            replayed_ms Int64,
            replay_outcome String,
            version UInt64
        ) ENGINE = ReplacingMergeTree(version)
        PARTITION BY toYYYYMM(toDateTime(intDiv(received_ms, 1000)))
        ORDER BY (workspace, received_ms, id)",
        ),
    ),
];

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
        E::Network(_) | E::TimedOut => StoreError::Unavailable(e.to_string()),
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

#[derive(Clone)]
pub struct ClickhouseStore {
    client: Client,
    inserters: Arc<Mutex<Inserters>>,
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
        let server = Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_password(&config.password)
            .with_validation(false);
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
        Ok(ClickhouseStore {
            inserters: Arc::new(Mutex::new(Inserters::new(&client))),
            client,
        })
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

async fn column_exists(client: &Client, table: &str, column: &str) -> Result<bool, StoreError> {
    let found: Vec<String> = client
        .query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ? AND name = ?")
        .bind(table)
        .bind(column)
        .fetch_all::<String>()
        .await
        .map_err(classify)?;
    Ok(!found.is_empty())
}

/// Applies the migrations not yet recorded. Safe to run from several instances starting at
/// once: every statement is idempotent, and a column another instance added first is accepted.
pub async fn migrate(client: &Client) -> Result<(), StoreError> {
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at_ms Int64) \
             ENGINE = MergeTree() ORDER BY version",
        )
        .execute()
        .await
        .map_err(classify)?;
    let applied: Vec<u32> = client
        .query("SELECT version FROM schema_migrations")
        .fetch_all::<u32>()
        .await
        .map_err(classify)?;
    for (version, name, migration) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        match migration {
            Migration::Statement(statement) => {
                client.query(statement).execute().await.map_err(classify)?;
            }
            Migration::AddColumns { table, columns } => {
                let have: Vec<String> = client
                    .query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ?")
                    .bind(*table)
                    .fetch_all::<String>()
                    .await
                    .map_err(classify)?;
                for (column, definition) in *columns {
                    if have.iter().any(|h| h == column) {
                        continue;
                    }
                    // Identifiers and types are constants of this file, never input.
                    let statement = format!("ALTER TABLE {table} ADD COLUMN {column} {definition}");
                    if let Err(e) = client.query(&statement).execute().await {
                        // Another instance starting at the same time may have added it first.
                        if !column_exists(client, table, column).await? {
                            return Err(classify(e));
                        }
                    }
                }
            }
        }
        client
            .query("INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)")
            .bind(*version)
            .bind(*name)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute()
            .await
            .map_err(classify)?;
        tracing::info!(version, name, "applied clickhouse migration");
    }
    Ok(())
}

#[async_trait]
impl Store for ClickhouseStore {
    async fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let mut inserters = self.inserters.lock().await;
        let result: Result<(), clickhouse::error::Error> = async {
            for row in &batch.events {
                inserters.events.write(row).await?;
            }
            inserters.events.force_commit().await?;
            for row in &batch.score_changes {
                inserters.score_changes.write(row).await?;
            }
            inserters.score_changes.force_commit().await?;
            for row in &batch.handoffs {
                inserters.handoffs.write(row).await?;
            }
            inserters.handoffs.force_commit().await?;
            for row in &batch.identities {
                inserters.identities.write(row).await?;
            }
            inserters.identities.force_commit().await?;
            for row in &batch.profiles {
                inserters.profiles.write(row).await?;
            }
            inserters.profiles.force_commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // A failed inserter may hold a half-sent INSERT: start afresh, the caller retries.
            *inserters = Inserters::new(&self.client);
            return Err(classify(e));
        }
        Ok(())
    }

    async fn profile(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Option<Profile>, StoreError> {
        let row = self
            .client
            .query("SELECT ?fields FROM profiles WHERE workspace = ? AND profile_id = ? ORDER BY version DESC LIMIT 1")
            .bind(workspace)
            .bind(profile_id)
            .fetch_optional::<ProfileRow>()
            .await
            .map_err(classify)?;
        row.map(Profile::try_from).transpose()
    }

    async fn load_profiles(&self) -> Result<Vec<ProfileRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM profiles FINAL")
            .fetch_all::<ProfileRow>()
            .await
            .map_err(classify)?;
        Ok(latest_versions(rows))
    }

    async fn score_changes(
        &self,
        workspace: &str,
        profile_id: &str,
        limit: usize,
    ) -> Result<Vec<ScoreChangeRow>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM score_changes FINAL WHERE workspace = ? AND profile_id = ? \
                 ORDER BY at_ms DESC, message_id DESC, seq DESC LIMIT ?",
            )
            .bind(workspace)
            .bind(profile_id)
            .bind(limit as u64)
            .fetch_all::<ScoreChangeRow>()
            .await
            .map_err(classify)?;
        Ok(distinct_changes(rows, limit))
    }

    async fn workspace_profiles(&self, workspace: &str) -> Result<Vec<Profile>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM profiles FINAL WHERE workspace = ?")
            .bind(workspace)
            .fetch_all::<ProfileRow>()
            .await
            .map_err(classify)?;
        latest_versions(rows)
            .into_iter()
            .map(Profile::try_from)
            .collect()
    }

    async fn segment_members(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        crate::segment::require_resolved(segment)?;
        crate::segment::clickhouse::members(workspace, segment, now_ms)
            .query(&self.client)
            .fetch_all::<String>()
            .await
            .map_err(classify)
    }

    async fn segment_preview(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
        sample: usize,
    ) -> Result<(u64, Vec<String>), StoreError> {
        crate::segment::require_resolved(segment)?;
        #[derive(serde::Deserialize, clickhouse::Row)]
        struct Preview {
            count: u64,
            first: Vec<String>,
        }
        let Preview { count, first } =
            crate::segment::clickhouse::preview(workspace, segment, now_ms, sample)
                .query(&self.client)
                .fetch_one::<Preview>()
                .await
                .map_err(classify)?;
        Ok((count, first))
    }

    async fn write_object(&self, row: &ObjectRow) -> Result<(), StoreError> {
        self.insert_rows("objects", std::slice::from_ref(row)).await
    }

    async fn objects(&self, workspace: &str, kind: &str) -> Result<Vec<ObjectRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM objects WHERE workspace = ? AND kind = ?")
            .bind(workspace)
            .bind(kind)
            .fetch_all::<ObjectRow>()
            .await
            .map_err(classify)?;
        Ok(latest_objects(rows))
    }

    async fn write_set_members(&self, rows: &[SetMemberRow]) -> Result<(), StoreError> {
        self.insert_rows("set_members", rows).await
    }

    async fn set_members(&self, workspace: &str, set_id: &str) -> Result<Vec<String>, StoreError> {
        crate::segment::clickhouse::set_members(workspace, set_id)
            .query(&self.client)
            .fetch_all::<String>()
            .await
            .map_err(classify)
    }

    async fn campaign_responders(
        &self,
        workspace: &str,
        query: &crate::campaign::ResponderQuery,
    ) -> Result<Vec<leadstream_schemas::campaign::Responder>, StoreError> {
        type Row = (String, u64, i64, i64, i64, f64);
        let rows: Vec<Row> = crate::campaign::clickhouse::responders(workspace, query)
            .query(&self.client)
            .fetch_all::<Row>()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| leadstream_schemas::campaign::Responder {
                profile_id: r.0,
                responses: r.1,
                first_response_ms: r.2,
                qualified_ms: r.3,
                won_ms: r.4,
                revenue: r.5,
            })
            .collect())
    }

    async fn rfm(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        as_of_ms: i64,
    ) -> Result<RfmReport, StoreError> {
        #[derive(serde::Deserialize, clickhouse::Row)]
        struct Row {
            segment: String,
            people: u64,
            revenue: f64,
            sr: f64,
            sf: f64,
            sm: f64,
            cr: Vec<f64>,
            cf: Vec<f64>,
            cm: Vec<f64>,
        }
        let rows: Vec<Row> = crate::rfm::clickhouse::summary(workspace, spec, as_of_ms)
            .query(&self.client)
            .fetch_all::<Row>()
            .await
            .map_err(classify)?;
        let cuts = rows.first().map_or_else(Cuts::default, |r| Cuts {
            recency_days: r.cr.clone(),
            frequency: r.cf.clone(),
            monetary: r.cm.clone(),
        });
        let sums: Vec<_> = rows
            .into_iter()
            .map(|r| (r.segment, r.people, r.revenue, r.sr, r.sf, r.sm))
            .collect();
        Ok(RfmReport::from_sums(as_of_ms, spec.clone(), cuts, &sums))
    }

    async fn rfm_people(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        as_of_ms: i64,
    ) -> Result<Vec<RfmPerson>, StoreError> {
        type Row = (String, f64, f64, f64, u8, u8, u8, String);
        let rows: Vec<Row> = crate::rfm::clickhouse::people(workspace, spec, as_of_ms)
            .query(&self.client)
            .fetch_all::<Row>()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| RfmPerson {
                profile_id: r.0,
                recency_days: r.1,
                frequency: r.2,
                monetary: r.3,
                r: r.4,
                f: r.5,
                m: r.6,
                segment: r.7,
            })
            .collect())
    }

    async fn rfm_migration(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Move>, StoreError> {
        let rows: Vec<(String, String, u64)> =
            crate::rfm::clickhouse::migration(workspace, spec, from_ms, to_ms)
                .query(&self.client)
                .fetch_all()
                .await
                .map_err(classify)?;
        Ok(super::moves(rows))
    }

    async fn ids_by_email(
        &self,
        workspace: &str,
        emails: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        self.client
            .query(
                "SELECT e, pid FROM (SELECT lower(visitParamExtractString(t, 'email')) AS e, pid \
                 FROM (SELECT profile_id AS pid, argMax(traits, version) AS t, \
                 argMax(merged_into, version) AS mi FROM profiles WHERE workspace = ? \
                 GROUP BY profile_id) WHERE mi = '') WHERE has(?, e) ORDER BY e, pid",
            )
            .bind(workspace)
            .bind(lower.as_slice())
            .fetch_all::<(String, String)>()
            .await
            .map_err(classify)
    }

    async fn profiles_by_ids(
        &self,
        workspace: &str,
        ids: &[String],
    ) -> Result<Vec<Profile>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query("SELECT ?fields FROM profiles WHERE workspace = ? AND has(?, profile_id)")
            .bind(workspace)
            .bind(ids)
            .fetch_all::<ProfileRow>()
            .await
            .map_err(classify)?;
        latest_versions(rows)
            .into_iter()
            .map(Profile::try_from)
            .collect()
    }

    async fn account_members(
        &self,
        workspace: &str,
        account_id: &str,
    ) -> Result<Vec<Profile>, StoreError> {
        // The account and merge state of a profile's newest version decide (argMax), so a person
        // who moved to another account leaves this one.
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM profiles WHERE workspace = ? AND profile_id IN \
                 (SELECT profile_id FROM profiles WHERE workspace = ? GROUP BY profile_id \
                  HAVING argMax(account, version) = ? AND argMax(merged_into, version) = '')",
            )
            .bind(workspace)
            .bind(workspace)
            .bind(account_id)
            .fetch_all::<ProfileRow>()
            .await
            .map_err(classify)?;
        members(latest_versions(rows), account_id)
    }

    async fn accounts(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT acc AS account_id, argMax(atr, aat) AS traits, count() AS people, \
                 sum(sc) AS score, max(sc) AS max_score, \
                 countIf(st = 'mql' OR st = 'sales_accepted') AS qualified_people, \
                 sum(ec) AS event_count, sum(rev) AS revenue, max(ls) AS last_seen_ms \
                 FROM (SELECT profile_id, argMax(account, version) AS acc, \
                   argMax(account_traits, version) AS atr, argMax(account_at_ms, version) AS aat, \
                   argMax(score, version) AS sc, argMax(lifecycle_stage, version) AS st, \
                   argMax(event_count, version) AS ec, argMax(revenue, version) AS rev, \
                   argMax(last_seen_ms, version) AS ls, argMax(merged_into, version) AS mi \
                   FROM profiles WHERE workspace = ? GROUP BY profile_id) \
                 WHERE acc != '' AND mi = '' \
                 GROUP BY acc ORDER BY score DESC, account_id ASC LIMIT ?",
            )
            .bind(workspace)
            .bind(limit as u64)
            .fetch_all::<AccountSummaryRow>()
            .await
            .map_err(classify)?;
        Ok(rows.into_iter().map(AccountSummary::from).collect())
    }

    async fn events(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM events WHERE workspace = ? AND timestamp_ms >= ? AND timestamp_ms < ? \
                 ORDER BY timestamp_ms, message_id LIMIT ?",
            )
            .bind(workspace)
            .bind(from_ms)
            .bind(to_ms)
            .bind(limit as u64)
            .fetch_all::<EventRow>()
            .await
            .map_err(classify)?;
        Ok(rows)
    }

    async fn person_events(
        &self,
        workspace: &str,
        ids: &[String],
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM events WHERE workspace = ? AND has(?, profile_id) \
                 AND (timestamp_ms < ? OR (timestamp_ms = ? AND message_id < ?)) \
                 ORDER BY timestamp_ms DESC, message_id DESC LIMIT ?",
            )
            .bind(workspace)
            .bind(ids)
            .bind(before_ms)
            .bind(before_ms)
            .bind(before_id.as_str())
            .bind((limit + 16) as u64)
            .fetch_all::<EventRow>()
            .await
            .map_err(classify)?;
        Ok(super::distinct_messages(rows, limit))
    }

    async fn sets_of(&self, workspace: &str, member_id: &str) -> Result<Vec<String>, StoreError> {
        self.client
            .query(
                "SELECT set_id FROM (SELECT set_id, argMax(removed, version) AS r FROM set_members \
                 WHERE workspace = ? AND member_id = ? GROUP BY set_id) WHERE r = 0 ORDER BY set_id",
            )
            .bind(workspace)
            .bind(member_id)
            .fetch_all::<String>()
            .await
            .map_err(classify)
    }

    async fn handoffs(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Vec<HandoffRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM handoffs WHERE workspace = ? AND profile_id = ? ORDER BY crossing")
            .bind(workspace)
            .bind(profile_id)
            .fetch_all::<HandoffRow>()
            .await
            .map_err(classify)?;
        Ok(distinct_handoffs(rows))
    }

    async fn identities(&self, workspace: &str) -> Result<Vec<IdentityRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM identities WHERE workspace = ?")
            .bind(workspace)
            .fetch_all::<IdentityRow>()
            .await
            .map_err(classify)?;
        Ok(distinct_identities(rows))
    }

    async fn write_deliveries(&self, rows: &[DeliveryRow]) -> Result<(), StoreError> {
        self.insert_rows("webhook_deliveries", rows).await
    }

    async fn deliveries(
        &self,
        workspace: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM webhook_deliveries FINAL WHERE workspace = ?")
            .bind(workspace)
            .fetch_all::<DeliveryRow>()
            .await
            .map_err(classify)?;
        let mut rows = latest_deliveries(rows);
        rows.retain(|r| status.is_none_or(|s| r.status == s));
        rows.truncate(limit);
        Ok(rows)
    }

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
