//! Exports of people and accounts as CSV, JSON lines or Parquet (`?format=csv|jsonl|parquet`).
//!
//! CSV and Parquet carry the same flat columns ([`PEOPLE`], [`ACCOUNTS`]), with the whole trait
//! map as one JSON text column; JSON lines carry each profile or account whole, as the API
//! serves it. Files are built in memory in pages of [`PAGE`] profiles read from the store.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use leadstream_platform::store::Store;
use leadstream_schemas::{Account, Profile};
use polars::prelude::*;
use serde::Deserialize;

use crate::error::QueryError;

/// Profiles read from the store per call while exporting.
pub const PAGE: usize = 2000;
/// Most accounts one export rolls up (each is one store read of its members).
pub const MAX_ACCOUNTS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Csv,
    Jsonl,
    Parquet,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[serde(default)]
    pub format: Format,
}

/// One value of a row.
pub enum Cell {
    Text(String),
    Num(f64),
    Int(i64),
}

/// Column names and how to read each from a row.
pub type Columns<T> = &'static [(&'static str, fn(&T) -> Cell)];

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn trait_text(traits: &serde_json::Map<String, serde_json::Value>, key: &str) -> Cell {
    text(match traits.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    })
}

fn time(ms: i64) -> Cell {
    text(
        chrono::DateTime::from_timestamp_millis(ms)
            .filter(|_| ms > 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
    )
}

/// Columns holding numbers (the rest hold text).
const FLOATS: &[&str] = &["score", "max_score"];
const INTS: &[&str] = &["event_count", "people", "known_people"];

/// The flat columns of a person.
pub const PEOPLE: Columns<Profile> = &[
    ("profile_id", |p| text(&p.profile_id)),
    ("email", |p| trait_text(&p.traits, "email")),
    ("first_name", |p| trait_text(&p.traits, "first_name")),
    ("last_name", |p| trait_text(&p.traits, "last_name")),
    ("name", |p| trait_text(&p.traits, "name")),
    ("company", |p| trait_text(&p.traits, "company")),
    ("title", |p| trait_text(&p.traits, "title")),
    ("phone", |p| trait_text(&p.traits, "phone")),
    ("score", |p| Cell::Num(p.score)),
    ("grade", |p| text(p.grade.clone().unwrap_or_default())),
    ("lifecycle_stage", |p| text(p.lifecycle_stage.as_str())),
    ("account", |p| text(p.account.clone().unwrap_or_default())),
    ("event_count", |p| {
        Cell::Int(i64::try_from(p.event_count).unwrap_or(i64::MAX))
    }),
    ("first_seen", |p| time(p.first_seen_ms)),
    ("last_seen", |p| time(p.last_seen_ms)),
    ("traits", |p| {
        text(serde_json::Value::Object(p.traits.clone()).to_string())
    }),
];

/// The flat columns of an account.
pub const ACCOUNTS: Columns<Account> = &[
    ("account_id", |a| text(&a.account_id)),
    ("name", |a| trait_text(&a.traits, "name")),
    ("domain", |a| trait_text(&a.traits, "domain")),
    ("industry", |a| trait_text(&a.traits, "industry")),
    ("people", |a| {
        Cell::Int(i64::try_from(a.people).unwrap_or(i64::MAX))
    }),
    ("known_people", |a| {
        Cell::Int(i64::try_from(a.known_people).unwrap_or(i64::MAX))
    }),
    ("score", |a| Cell::Num(a.score)),
    ("max_score", |a| Cell::Num(a.max_score)),
    ("best_grade", |a| {
        text(a.best_grade.clone().unwrap_or_default())
    }),
    ("event_count", |a| {
        Cell::Int(i64::try_from(a.event_count).unwrap_or(i64::MAX))
    }),
    ("first_seen", |a| time(a.first_seen_ms)),
    ("last_seen", |a| time(a.last_seen_ms)),
    ("traits", |a| {
        text(serde_json::Value::Object(a.traits.clone()).to_string())
    }),
];

/// The current profiles of `ids` (merged-away ones left out), in `ids`' order.
pub async fn profiles(
    store: &dyn Store,
    workspace: &str,
    ids: &[String],
) -> Result<Vec<Profile>, QueryError> {
    let mut out = Vec::with_capacity(ids.len());
    for page in ids.chunks(PAGE) {
        let mut got = store.profiles_by_ids(workspace, page).await?;
        let order: std::collections::HashMap<&str, usize> = page
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        got.retain(|p| p.merged_into.is_none());
        got.sort_by_key(|p| order.get(p.profile_id.as_str()).copied());
        out.extend(got);
    }
    Ok(out)
}

/// Each account's roll-up from its current members (accounts without members left out).
pub async fn accounts(
    store: &dyn Store,
    workspace: &str,
    ids: &[String],
) -> Result<Vec<Account>, QueryError> {
    if ids.len() > MAX_ACCOUNTS {
        return Err(QueryError::Unprocessable {
            field: "members".into(),
            problem: format!(
                "{} accounts; one export rolls up at most {MAX_ACCOUNTS}",
                ids.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let members = store.account_members(workspace, id).await?;
        out.extend(Account::roll_up(workspace, id, &members));
    }
    Ok(out)
}

/// The file for `rows` in `format`, named `<name>.<ext>`.
pub fn file<T: serde::Serialize>(
    format: Format,
    name: &str,
    columns: Columns<T>,
    rows: &[T],
) -> Result<Response, QueryError> {
    let (body, content_type, ext) = match format {
        Format::Jsonl => {
            let mut out = Vec::new();
            for r in rows {
                serde_json::to_writer(&mut out, r).map_err(internal)?;
                out.push(b'\n');
            }
            (out, "application/x-ndjson", "jsonl")
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(columns.iter().map(|(n, _)| *n))
                .map_err(internal)?;
            for r in rows {
                w.write_record(columns.iter().map(|(_, f)| match f(r) {
                    Cell::Text(s) => s,
                    Cell::Num(n) => n.to_string(),
                    Cell::Int(n) => n.to_string(),
                }))
                .map_err(internal)?;
            }
            (
                w.into_inner().map_err(internal)?,
                "text/csv; charset=utf-8",
                "csv",
            )
        }
        Format::Parquet => (
            parquet(columns, rows)?,
            "application/vnd.apache.parquet",
            "parquet",
        ),
    };
    let disposition = format!("attachment; filename=\"{name}.{ext}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(internal)?,
            ),
        ],
        body,
    )
        .into_response())
}

fn parquet<T>(columns: Columns<T>, rows: &[T]) -> Result<Vec<u8>, QueryError> {
    let mut series = Vec::with_capacity(columns.len());
    for (name, f) in columns {
        let cells: Vec<Cell> = rows.iter().map(f).collect();
        let s = match cells.first() {
            // An empty export keeps the column types.
            None if FLOATS.contains(name) => Series::new((*name).into(), Vec::<f64>::new()),
            None if INTS.contains(name) => Series::new((*name).into(), Vec::<i64>::new()),
            Some(Cell::Num(_)) => Series::new(
                (*name).into(),
                cells
                    .iter()
                    .map(|c| match c {
                        Cell::Num(n) => *n,
                        _ => f64::NAN,
                    })
                    .collect::<Vec<_>>(),
            ),
            Some(Cell::Int(_)) => Series::new(
                (*name).into(),
                cells
                    .iter()
                    .map(|c| match c {
                        Cell::Int(n) => *n,
                        _ => 0,
                    })
                    .collect::<Vec<_>>(),
            ),
            _ => Series::new(
                (*name).into(),
                cells
                    .into_iter()
                    .map(|c| match c {
                        Cell::Text(s) => s,
                        Cell::Num(n) => n.to_string(),
                        Cell::Int(n) => n.to_string(),
                    })
                    .collect::<Vec<_>>(),
            ),
        };
        series.push(Column::from(s));
    }
    let mut df = DataFrame::new(rows.len(), series).map_err(internal)?;
    let mut out = Vec::new();
    ParquetWriter::new(&mut out)
        .finish(&mut df)
        .map_err(internal)?;
    Ok(out)
}

fn internal(e: impl std::fmt::Display) -> QueryError {
    QueryError::Internal(e.to_string())
}
