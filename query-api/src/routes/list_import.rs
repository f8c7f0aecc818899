//! Importing a CSV file into a list: each row matched by email, user id or account id to the
//! current people or accounts, the matches added, and the rows that matched nobody reported with
//! their row number (the first 1,000; all counted).

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use leadstream_platform::segment::Entity;
use serde::{Deserialize, Serialize};

use super::lists::{add_all, existing, load};
use crate::auth::Writer;
use crate::error::QueryError;
use crate::extract::{MAX_ID_LEN, Params};
use crate::router::AppState;

/// Most rows of one CSV import.
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// Largest CSV body accepted (bytes).
pub const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;
const MAX_REPORTED: usize = 1000;

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchOn {
    Email,
    UserId,
    AccountId,
}

impl MatchOn {
    fn column(self) -> &'static str {
        match self {
            MatchOn::Email => "email",
            MatchOn::UserId => "user_id",
            MatchOn::AccountId => "account_id",
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The column to match on; by default the first of `email`, `user_id`, `account_id` the
    /// header has (for a list of accounts: `account_id`).
    #[serde(default, rename = "match")]
    pub match_on: Option<MatchOn>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Unmatched {
    /// The data row's number (1 = the first row after the header).
    pub row: usize,
    pub value: String,
    pub reason: &'static str,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub matched: usize,
    pub added: usize,
    pub already: usize,
    /// Rows that matched nobody (the first 1,000); `unmatched_count` counts all.
    pub unmatched: Vec<Unmatched>,
    pub unmatched_count: usize,
    pub match_on: &'static str,
    pub count: usize,
}

pub async fn import(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    Params(q): Params<ImportQuery>,
    body: Bytes,
) -> Result<Json<ImportReport>, QueryError> {
    let (_, entity) = load(&*state.store, &workspace, &id).await?;
    if body.len() > MAX_IMPORT_BYTES {
        return Err(QueryError::TooLarge {
            field: "body".into(),
            problem: format!("a CSV import is at most {MAX_IMPORT_BYTES} bytes"),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body.as_ref());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    let allowed: &[MatchOn] = match entity {
        Entity::People => &[MatchOn::Email, MatchOn::UserId],
        Entity::Accounts => &[MatchOn::AccountId],
    };
    let match_on = match q.match_on {
        Some(m) if !allowed.contains(&m) => {
            return Err(QueryError::InvalidField {
                field: "match".into(),
                problem: format!("a list of {entity:?} matches on {}", names(allowed))
                    .to_lowercase(),
            });
        }
        Some(m) => m,
        None => *allowed
            .iter()
            .find(|m| header.iter().any(|h| h == m.column()))
            .ok_or_else(|| QueryError::InvalidField {
                field: "body".into(),
                problem: format!("the header row needs a column {}", names(allowed)),
            })?,
    };
    let column = header
        .iter()
        .position(|h| h == match_on.column())
        .ok_or_else(|| QueryError::InvalidField {
            field: "body".into(),
            problem: format!("the header row has no column `{}`", match_on.column()),
        })?;
    let mut values: Vec<(usize, String)> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if i >= MAX_IMPORT_ROWS {
            return Err(QueryError::TooLarge {
                field: "body".into(),
                problem: format!("a CSV import is at most {MAX_IMPORT_ROWS} rows"),
            });
        }
        let record = record.map_err(|e| csv_error(&e))?;
        values.push((i + 1, record.get(column).unwrap_or_default().to_string()));
    }
    // Value → the ids it matches.
    let mut matches: HashMap<String, Vec<String>> = HashMap::new();
    let distinct: Vec<String> = values
        .iter()
        .map(|(_, v)| key(match_on, v))
        .filter(|v| !v.is_empty() && v.len() <= MAX_ID_LEN)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    match match_on {
        MatchOn::Email => {
            for (email, pid) in state.store.ids_by_email(&workspace, &distinct).await? {
                matches.entry(email).or_default().push(pid);
            }
        }
        MatchOn::UserId | MatchOn::AccountId => {
            for found in existing(&*state.store, &workspace, entity, &distinct).await? {
                matches.insert(found.clone(), vec![found]);
            }
        }
    }
    let mut ids = BTreeSet::new();
    let mut unmatched = Vec::new();
    let mut matched = 0;
    for (row, value) in &values {
        let k = key(match_on, value);
        let reason = if k.is_empty() {
            "empty"
        } else if match_on == MatchOn::Email && !k.contains('@') {
            "not an email address"
        } else if let Some(found) = matches.get(&k) {
            matched += 1;
            ids.extend(found.iter().cloned());
            continue;
        } else {
            "no match"
        };
        unmatched.push(Unmatched {
            row: *row,
            value: value.clone(),
            reason,
        });
    }
    let added = add_all(&*state.store, &workspace, &id, ids).await?;
    let unmatched_count = unmatched.len();
    unmatched.truncate(MAX_REPORTED);
    Ok(Json(ImportReport {
        rows: values.len(),
        matched,
        added: added.added,
        already: added.already,
        unmatched,
        unmatched_count,
        match_on: match_on.column(),
        count: added.count,
    }))
}

fn key(on: MatchOn, value: &str) -> String {
    match on {
        MatchOn::Email => value.trim().to_lowercase(),
        _ => value.trim().to_string(),
    }
}

fn names(m: &[MatchOn]) -> String {
    m.iter()
        .map(|m| format!("`{}`", m.column()))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn csv_error(e: &csv::Error) -> QueryError {
    let at = e
        .position()
        .map(|p| format!(" (line {})", p.line()))
        .unwrap_or_default();
    QueryError::InvalidField {
        field: format!("body{at}"),
        problem: format!("not CSV: {e}"),
    }
}
