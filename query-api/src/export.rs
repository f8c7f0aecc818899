//! Exports of people and accounts as CSV, JSON lines or Parquet (`?format=csv|jsonl|parquet`).
//!
//! CSV and Parquet carry the same flat columns ([`PEOPLE`], [`ACCOUNTS`]), with the whole trait
//! map as one JSON text column; JSON lines carry each profile or account whole, as the API
//! serves it. Files are built in memory in pages of [`PAGE`] profiles read from the store.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
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

/// `rows` encoded in `format` (CSV with its header row when `header`).
fn encode<T: serde::Serialize>(
    format: Format,
    columns: Columns<T>,
    rows: &[T],
    header: bool,
) -> Result<Vec<u8>, QueryError> {
    match format {
        Format::Jsonl => {
            let mut out = Vec::new();
            for r in rows {
                serde_json::to_writer(&mut out, r).map_err(internal)?;
                out.push(b'\n');
            }
            Ok(out)
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            if header {
                w.write_record(columns.iter().map(|(n, _)| *n))
                    .map_err(internal)?;
            }
            for r in rows {
                w.write_record(columns.iter().map(|(_, f)| match f(r) {
                    Cell::Text(s) => csv_safe(s),
                    Cell::Num(n) => n.to_string(),
                    Cell::Int(n) => n.to_string(),
                }))
                .map_err(internal)?;
            }
            w.into_inner().map_err(internal)
        }
        Format::Parquet => parquet(columns, rows),
    }
}

/// A text cell a spreadsheet cannot take for a formula: OWASP's advice for CSV injection, a `'`
/// before a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return. Numbers are ours
/// and written as they are; JSON lines and Parquet keep every value as it is.
pub fn csv_safe(s: String) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s,
    }
}

fn headers(
    format: Format,
    name: &str,
) -> Result<[(header::HeaderName, HeaderValue); 2], QueryError> {
    let (content_type, ext) = match format {
        Format::Jsonl => ("application/x-ndjson", "jsonl"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Parquet => ("application/vnd.apache.parquet", "parquet"),
    };
    let disposition = format!("attachment; filename=\"{name}.{ext}\"");
    Ok([
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).map_err(internal)?,
        ),
    ])
}

/// The file for `rows` in `format`, named `<name>.<ext>`.
pub fn file<T: serde::Serialize>(
    format: Format,
    name: &str,
    columns: Columns<T>,
    rows: &[T],
) -> Result<Response, QueryError> {
    let body = encode(format, columns, rows, true)?;
    Ok((headers(format, name)?, body).into_response())
}

/// Every current profile of `ids` as a file. CSV and JSON lines are streamed a page of
/// [`PAGE`] profiles at a time (memory stays flat however many people); Parquet is built whole.
/// The first page is read before answering, so an unavailable store is still a 503; a failure
/// later ends the stream early (and is logged).
pub async fn people_file(
    store: std::sync::Arc<dyn Store>,
    workspace: String,
    ids: Vec<String>,
    format: Format,
    name: &str,
) -> Result<Response, QueryError> {
    paged_people_file(store, workspace, ids, format, name, PAGE).await
}

async fn paged_people_file(
    store: std::sync::Arc<dyn Store>,
    workspace: String,
    ids: Vec<String>,
    format: Format,
    name: &str,
    page_size: usize,
) -> Result<Response, QueryError> {
    if format == Format::Parquet {
        let rows = profiles(&*store, &workspace, &ids).await?;
        return file(format, name, PEOPLE, &rows);
    }
    let pages: Vec<Vec<String>> = ids.chunks(page_size).map(<[String]>::to_vec).collect();
    let first_rows = match pages.first() {
        Some(page) => profiles(&*store, &workspace, page).await?,
        None => Vec::new(),
    };
    let first = encode(format, PEOPLE, &first_rows, true)?;
    let rest = futures::stream::iter(pages.into_iter().skip(1)).then(move |page| {
        let (store, workspace) = (store.clone(), workspace.clone());
        async move {
            let rows = profiles(&*store, &workspace, &page).await?;
            encode(format, PEOPLE, &rows, false).map(axum::body::Bytes::from)
        }
    });
    let body = futures::stream::once(async move { Ok(axum::body::Bytes::from(first)) })
        .chain(rest)
        .map(|chunk: Result<axum::body::Bytes, QueryError>| {
            chunk.map_err(|e| {
                tracing::warn!(error = %e, "export stopped early");
                std::io::Error::other(e.to_string())
            })
        });
    Ok((headers(format, name)?, axum::body::Body::from_stream(body)).into_response())
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

#[cfg(test)]
mod csv_tests {
    #[test]
    fn formula_cells_are_escaped_and_others_kept() {
        for (cell, out) in [
            (
                "=HYPERLINK(\"http://evil.example\",\"x\")",
                "'=HYPERLINK(\"http://evil.example\",\"x\")",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("Acme = good", "Acme = good"),
            ("", ""),
        ] {
            assert_eq!(super::csv_safe(cell.to_string()), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadstream_platform::store::embedded::EmbeddedStore;
    use leadstream_platform::store::{ProfileRow, ScorerWrites, WriteBatch};

    #[tokio::test]
    async fn streamed_exports_hold_every_page_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let ids: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
        let profiles = ids
            .iter()
            .map(|id| {
                let mut p = Profile::new("w", id);
                p.version = 1;
                p.traits.insert("email".into(), format!("{id}@x.io").into());
                ProfileRow::from(&p)
            })
            .collect();
        store
            .write(&WriteBatch {
                profiles,
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
        for (format, lines) in [(Format::Csv, 6), (Format::Jsonl, 5)] {
            let response =
                paged_people_file(store.clone(), "w".into(), ids.clone(), format, "x", 2)
                    .await
                    .expect("file");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            let text = String::from_utf8(body.to_vec()).expect("utf-8");
            assert_eq!(text.lines().count(), lines, "{text}");
            for id in &ids {
                let mark = match format {
                    Format::Csv => format!("\n{id},"),
                    _ => format!("\"profile_id\":\"{id}\""),
                };
                assert_eq!(text.matches(&mark).count(), 1, "{id}: {text}");
            }
            if format == Format::Csv {
                assert_eq!(text.matches("profile_id,email").count(), 1, "{text}");
            }
        }
    }
}
