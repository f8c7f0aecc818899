//! The ClickHouse schema: numbered, idempotent migrations recorded in `schema_migrations`.
//!
//! A released migration never changes (a database that applied it must stay valid); a new
//! column is a new migration here and a new field in `store/rows.rs` (whose table descriptions
//! `platform/tests/clickhouse.rs` checks the migrated tables against, on both engines).

use clickhouse::Client;

use super::classify;
use crate::store::StoreError;

/// One schema change. ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, so added columns are
/// checked in `system.columns` first: every migration is idempotent.
pub enum Migration {
    Statement(&'static str),
    /// For current servers only (at least `min_major`, e.g. 20 for 20.x): statements that make
    /// the schema better where the server can, with the 18.16 schema kept where it cannot. Not
    /// recorded where skipped, so a server upgraded later gets it at its next start.
    Current {
        min_major: u32,
        statements: &'static [&'static str],
    },
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
    (
        15,
        "profiles: the log partition, so a scorer loads only the partitions it owns",
        Migration::AddColumns {
            table: "profiles",
            columns: &[("log_partition", "Int64 DEFAULT -1")],
        },
    ),
    (
        16,
        "current servers: dictionary-encoded (LowCardinality) text for the columns of few values",
        // Event types, kinds and names, rules, stages, grades: a few hundred distinct values in
        // millions of rows, which LowCardinality stores as small integers into a dictionary
        // (smaller parts, faster filters and GROUP BY). The ORDER BY columns cannot change type
        // in place and stay as they are. RowBinary encodes these exactly as String, so the
        // rows and the 18.16 path are unchanged; on 18.16 LowCardinality was still experimental.
        Migration::Current {
            min_major: 20,
            statements: &[
                "ALTER TABLE events MODIFY COLUMN event_type LowCardinality(String)",
                "ALTER TABLE events MODIFY COLUMN kind LowCardinality(String)",
                "ALTER TABLE events MODIFY COLUMN event LowCardinality(String)",
                "ALTER TABLE profiles MODIFY COLUMN lifecycle_stage LowCardinality(String)",
                "ALTER TABLE score_changes MODIFY COLUMN kind LowCardinality(String)",
                "ALTER TABLE score_changes MODIFY COLUMN event LowCardinality(String)",
                "ALTER TABLE score_changes MODIFY COLUMN rule LowCardinality(String)",
                "ALTER TABLE handoffs MODIFY COLUMN grade LowCardinality(String)",
            ],
        },
    ),
    (
        17,
        "current servers: DateTime64 views of the millisecond times",
        // Times are stored as Int64 milliseconds (what the rows carry, what RowBinary sends,
        // what every query computes with, on 18.16 too). Current servers also show them as
        // DateTime64(3, 'UTC') ALIAS columns, computed on read and never stored, so SQL and
        // dashboards written against the tables (Grafana's ClickHouse source, clickhouse-client)
        // read times, not numbers: `SELECT event_time, event FROM events`.
        Migration::Current {
            min_major: 21,
            statements: &[
                "ALTER TABLE events ADD COLUMN IF NOT EXISTS event_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(timestamp_ms)",
                "ALTER TABLE events ADD COLUMN IF NOT EXISTS received_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(received_at_ms)",
                "ALTER TABLE profiles ADD COLUMN IF NOT EXISTS first_seen_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(first_seen_ms)",
                "ALTER TABLE profiles ADD COLUMN IF NOT EXISTS last_seen_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(last_seen_ms)",
                "ALTER TABLE profiles ADD COLUMN IF NOT EXISTS updated_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(updated_at_ms)",
                "ALTER TABLE score_changes ADD COLUMN IF NOT EXISTS at_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(at_ms)",
                "ALTER TABLE handoffs ADD COLUMN IF NOT EXISTS qualified_at_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(qualified_at_ms)",
                "ALTER TABLE identities ADD COLUMN IF NOT EXISTS merged_at_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(merged_at_ms)",
                "ALTER TABLE failed_events ADD COLUMN IF NOT EXISTS received_time DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(received_ms)",
            ],
        },
    ),
];

/// What the connected server can do beyond 18.16, asked once at connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFeatures {
    /// (major, minor): (18, 16) for 18.16.1, (26, 9) for 26.9.1.1.
    pub version: (u32, u32),
}

impl ServerFeatures {
    pub fn of(version: &str) -> ServerFeatures {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        ServerFeatures {
            version: (parts.next().unwrap_or(0), parts.next().unwrap_or(0)),
        }
    }

    /// `DELETE FROM t WHERE …` (23.3 and later): rows are masked at once and dropped at the next
    /// merge, instead of a mutation rewriting every part that holds one (`ALTER TABLE … DELETE`).
    pub fn lightweight_delete(&self) -> bool {
        self.version >= (23, 3)
    }

    /// Asks the server.
    pub async fn detect(client: &Client) -> Result<ServerFeatures, StoreError> {
        let version: String = client
            .query("SELECT version()")
            .fetch_one::<String>()
            .await
            .map_err(classify)?;
        Ok(ServerFeatures::of(&version))
    }
}

/// The server's major version (18 for 18.16.1, 26 for 26.9.1.1), asked once per `migrate`.
pub async fn server_major(client: &Client) -> Result<u32, StoreError> {
    let version: String = client
        .query("SELECT version()")
        .fetch_one::<String>()
        .await
        .map_err(classify)?;
    major_version(&version)
        .ok_or_else(|| StoreError::Invalid(format!("clickhouse version `{version}`")))
}

/// The major version in a `version()` answer: 18 for `18.16.1`, 26 for `26.9.1.1`.
pub fn major_version(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
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
/// Applies the migrations `client`'s database has not had yet; returns their numbers (none:
/// the schema was current).
pub async fn migrate(client: &Client) -> Result<Vec<u32>, StoreError> {
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
    let mut newly = Vec::new();
    let major = server_major(client).await?;
    for (version, name, migration) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        match migration {
            Migration::Statement(statement) => {
                client.query(statement).execute().await.map_err(classify)?;
            }
            Migration::Current {
                min_major,
                statements,
            } => {
                if major < *min_major {
                    tracing::info!(
                        version,
                        name,
                        major,
                        "clickhouse migration for newer servers skipped"
                    );
                    continue;
                }
                for statement in *statements {
                    client.query(statement).execute().await.map_err(classify)?;
                }
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
        newly.push(*version);
    }
    Ok(newly)
}
