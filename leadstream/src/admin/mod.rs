//! The operator commands of the `leadstream` binary, besides `serve`: checking and printing a
//! config, applying ClickHouse migrations, `doctor`, importing prospects and replaying the log
//! into the store.

pub mod config;
pub mod doctor;
pub mod import;
pub mod replay;
pub mod tokens;

use leadstream_platform::config::{Config, Mode};
use leadstream_platform::store::clickhouse::{http, migrate};

/// `leadstream migrate`: creates the database when missing and applies the migrations it has
/// not had, without starting a service (for deploys that run services with
/// `clickhouse.migrate = false`, as a release step). Returns what it did, for the operator.
pub async fn run_migrations(config: &Config) -> anyhow::Result<String> {
    if config.mode == Mode::Embedded {
        return Ok(
            "embedded mode keeps its tables in Parquet files with no schema to migrate".into(),
        );
    }
    let ch = &config.clickhouse;
    let server = http::client(ch)?.with_validation(false);
    server
        .query("CREATE DATABASE IF NOT EXISTS ?")
        .bind(clickhouse::sql::Identifier(&ch.database))
        .execute()
        .await?;
    let client = server.with_database(&ch.database);
    let applied = migrate(&client).await?;
    Ok(if applied.is_empty() {
        format!("{}: the schema is current", ch.describe())
    } else {
        format!(
            "{}: applied migration(s) {}",
            ch.describe(),
            applied
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}
