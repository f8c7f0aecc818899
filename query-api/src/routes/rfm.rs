//! RFM analysis and migration between segments over time (the definition is documented in
//! `leadstream_schemas::rfm` and the README).
//!
//! | call | what |
//! |---|---|
//! | `POST /v1/rfm?format=json\|csv` `{"spec": {…}, "as_of": …}` | customers, cut points and the named segments' figures |
//! | `POST /v1/rfm/customers?format=csv\|jsonl\|parquet&r=&fm=&segment=` (same body) | every customer's measures, scores and segment (or one cell's, one segment's) |
//! | `POST /v1/rfm/migration` `{"spec": {…}, "from": …, "to": …}` | how many moved from each RFM segment to each other |
//! | `POST /v1/segments/migration` `{"segments": [ids], "from": …, "to": …}` | the same over a family of saved segments, from their snapshots |
//!
//! Times are milliseconds since the epoch, `YYYY-MM-DD` (midnight UTC) or RFC 3339; `as_of` and
//! `to` default to now. The body may be empty (every default).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use leadstream_schemas::rfm::{Migration, Move, NONE, RfmPerson, RfmSpec, SEGMENTS, SegmentStats};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::export::{self, Cell, Columns};
use crate::extract::Params;
use crate::extract::parse;
use crate::objects;
use crate::router::AppState;
use crate::routes::segments::snapshots_of;

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RfmRequest {
    #[serde(default)]
    pub spec: Option<RfmSpec>,
    #[serde(default)]
    pub as_of: Option<Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationRequest {
    #[serde(default)]
    pub spec: Option<RfmSpec>,
    pub from: Value,
    #[serde(default)]
    pub to: Option<Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyMigrationRequest {
    /// Saved segments, in priority order: a person in several counts for the first.
    pub segments: Vec<String>,
    pub from: Value,
    #[serde(default)]
    pub to: Option<Value>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    #[serde(default)]
    pub format: ReportFormat,
}

/// A time: ms since the epoch, `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn time(field: &str, value: &Value) -> Result<i64, QueryError> {
    let bad = || QueryError::InvalidField {
        field: field.into(),
        problem: "must be milliseconds since the epoch, YYYY-MM-DD or an RFC 3339 time".into(),
    };
    match value {
        Value::Number(n) => n.as_i64().filter(|v| *v >= 0).ok_or_else(bad),
        Value::String(s) => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Ok(t.timestamp_millis());
            }
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_millis())
                .ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

fn spec(spec: Option<RfmSpec>) -> Result<RfmSpec, QueryError> {
    let spec = spec.unwrap_or_default();
    spec.check()
        .map_err(|(field, problem)| QueryError::InvalidField {
            field: format!("spec.{field}"),
            problem,
        })?;
    Ok(spec)
}

fn body_or_default<T: serde::de::DeserializeOwned + Default>(
    body: &Bytes,
) -> Result<T, QueryError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(body)
}

fn request(body: &Bytes) -> Result<(RfmSpec, i64), QueryError> {
    let req: RfmRequest = body_or_default(body)?;
    let as_of = match &req.as_of {
        Some(v) => time("as_of", v)?,
        None => objects::now_ms(),
    };
    Ok((spec(req.spec)?, as_of))
}

const SEGMENT_COLUMNS: Columns<SegmentStats> = &[
    ("segment", |s| Cell::Text(s.segment.clone())),
    ("people", |s| {
        Cell::Int(i64::try_from(s.people).unwrap_or(i64::MAX))
    }),
    ("share", |s| Cell::Num(s.share)),
    ("revenue", |s| Cell::Num(s.revenue)),
    ("avg_recency_days", |s| Cell::Num(s.avg_recency_days)),
    ("avg_frequency", |s| Cell::Num(s.avg_frequency)),
    ("avg_monetary", |s| Cell::Num(s.avg_monetary)),
];

const CUSTOMER_COLUMNS: Columns<RfmPerson> = &[
    ("profile_id", |p| Cell::Text(p.profile_id.clone())),
    ("recency_days", |p| Cell::Num(p.recency_days)),
    ("frequency", |p| Cell::Num(p.frequency)),
    ("monetary", |p| Cell::Num(p.monetary)),
    ("r", |p| Cell::Int(i64::from(p.r))),
    ("f", |p| Cell::Int(i64::from(p.f))),
    ("m", |p| Cell::Int(i64::from(p.m))),
    ("segment", |p| Cell::Text(p.segment.clone())),
];

pub async fn report(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<ReportQuery>,
    body: Bytes,
) -> Result<Response, QueryError> {
    let (spec, as_of) = request(&body)?;
    let report = state.store.rfm(&workspace, &spec, as_of).await?;
    match q.format {
        ReportFormat::Json => Ok(Json(report).into_response()),
        ReportFormat::Csv => export::file(
            export::Format::Csv,
            "rfm",
            SEGMENT_COLUMNS,
            &report.segments,
        ),
    }
}

/// `POST /v1/rfm/customers`: the format, and optionally only one cell of the grid (`r` and
/// `fm`) or one named segment.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomersQuery {
    #[serde(default)]
    pub format: export::Format,
    /// Only customers of this recency score (1 to 5).
    #[serde(default)]
    pub r: Option<u8>,
    /// Only customers of this frequency-monetary score (1 to 5).
    #[serde(default)]
    pub fm: Option<u8>,
    /// Only customers of this named segment.
    #[serde(default)]
    pub segment: Option<String>,
}

pub async fn customers(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<CustomersQuery>,
    body: Bytes,
) -> Result<Response, QueryError> {
    for (field, v) in [("r", q.r), ("fm", q.fm)] {
        if v.is_some_and(|v| !(1..=5).contains(&v)) {
            return Err(QueryError::InvalidField {
                field: field.into(),
                problem: "must be 1 to 5".into(),
            });
        }
    }
    if let Some(s) = &q.segment
        && !SEGMENTS.contains(&s.as_str())
    {
        return Err(QueryError::InvalidField {
            field: "segment".into(),
            problem: format!("must be an RFM segment: {}", SEGMENTS.join(", ")),
        });
    }
    let (spec, as_of) = request(&body)?;
    let mut people = state.store.rfm_people(&workspace, &spec, as_of).await?;
    people.retain(|p| {
        q.r.is_none_or(|r| p.r == r)
            && q.fm
                .is_none_or(|fm| leadstream_schemas::rfm::fm(p.f, p.m) == fm)
            && q.segment.as_deref().is_none_or(|s| p.segment == s)
    });
    export::file(q.format, "rfm-customers", CUSTOMER_COLUMNS, &people)
}

fn dates(from: &Value, to: Option<&Value>) -> Result<(i64, i64), QueryError> {
    let from = time("from", from)?;
    let to = match to {
        Some(v) => time("to", v)?,
        None => objects::now_ms(),
    };
    if from > to {
        return Err(QueryError::InvalidField {
            field: "from".into(),
            problem: "must not be after `to`".into(),
        });
    }
    Ok((from, to))
}

pub async fn migration(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    body: Bytes,
) -> Result<Json<Migration>, QueryError> {
    let req: MigrationRequest = parse(&body)?;
    let spec = spec(req.spec)?;
    let (from, to) = dates(&req.from, req.to.as_ref())?;
    let moves = state
        .store
        .rfm_migration(&workspace, &spec, from, to)
        .await?;
    let order: Vec<String> = SEGMENTS.iter().map(|s| (*s).to_string()).collect();
    Ok(Json(Migration::new(from, to, &order, moves)))
}

/// Migration over a family of saved segments: each person's place at a date is the first
/// segment (in the given order) whose latest snapshot taken at or before that date holds them.
pub async fn family_migration(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    body: Bytes,
) -> Result<Json<Migration>, QueryError> {
    let req: FamilyMigrationRequest = parse(&body)?;
    if req.segments.is_empty() || req.segments.len() > 32 {
        return Err(QueryError::InvalidField {
            field: "segments".into(),
            problem: "must name 1 to 32 saved segments".into(),
        });
    }
    let (from, to) = dates(&req.from, req.to.as_ref())?;
    let saved = state
        .store
        .objects(&workspace, leadstream_platform::segment::SEGMENT)
        .await?;
    let mut names = Vec::new();
    let mut places: [HashMap<String, usize>; 2] = [HashMap::new(), HashMap::new()];
    for (i, id) in req.segments.iter().enumerate() {
        let field = format!("segments[{i}]");
        let Some(row) = saved.iter().find(|r| r.id == *id) else {
            return Err(QueryError::InvalidField {
                field,
                problem: format!("no saved segment `{id}`"),
            });
        };
        if names.contains(&row.name) {
            return Err(QueryError::InvalidField {
                field,
                problem: "named twice".into(),
            });
        }
        names.push(row.name.clone());
        let snapshots = snapshots_of(&*state.store, &workspace, id).await?;
        for (side, at) in [from, to].into_iter().enumerate() {
            let Some(snapshot) = snapshots.iter().rev().find(|s| s.taken_ms <= at) else {
                return Err(QueryError::Unprocessable {
                    field,
                    problem: format!(
                        "segment `{id}` has no snapshot taken at or before {at} (ms); take one with POST /v1/segments/{id}/snapshots"
                    ),
                });
            };
            for member in state.store.set_members(&workspace, &snapshot.id).await? {
                places[side].entry(member).or_insert(i);
            }
        }
    }
    let name = |p: Option<&usize>| p.map_or(NONE.to_string(), |i| names[*i].clone());
    let mut cells: HashMap<(String, String), u64> = HashMap::new();
    let people: std::collections::BTreeSet<&String> =
        places[0].keys().chain(places[1].keys()).collect();
    for person in people {
        let key = (name(places[0].get(person)), name(places[1].get(person)));
        *cells.entry(key).or_default() += 1;
    }
    let moves = cells
        .into_iter()
        .map(|((from, to), people)| Move { from, to, people })
        .collect();
    Ok(Json(Migration::new(from, to, &names, moves)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_times() {
        assert_eq!(time("t", &json!(5)).ok(), Some(5));
        assert_eq!(time("t", &json!("1970-01-02")).ok(), Some(86_400_000));
        assert_eq!(time("t", &json!("1970-01-01T00:00:01Z")).ok(), Some(1000));
        for bad in [
            json!(-1),
            json!("yesterday"),
            json!(true),
            json!("2026-13-01"),
        ] {
            assert!(time("t", &bad).is_err(), "{bad}");
        }
    }
}
