//! `POST /v1/segments/preview`: how many people a segment definition holds right now, and a
//! sample of them, from either store. Body: `{"segment": {…}, "sample": 20}`. A definition that
//! is not a segment is a 400 whose `field` points at the node (`segment.and[1].score.gte`).
//! The language is documented in `leadstream_schemas::segment` and the README.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use leadstream_schemas::segment::Segment;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::router::AppState;
use crate::routes::crm::parse;

const MAX_SAMPLE: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub segment: Value,
    #[serde(default)]
    pub sample: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Preview {
    pub count: usize,
    /// The first members by id.
    pub sample: Vec<String>,
    /// The moment the behaviour windows were counted back from (ms since the epoch).
    pub as_of_ms: i64,
}

/// Reads a segment definition, naming the offending node as `segment.<path>`.
pub fn segment(value: &Value) -> Result<Segment, QueryError> {
    Segment::parse(value).map_err(|e| QueryError::InvalidField {
        field: format!("segment{}", e.path.trim_start_matches('$')),
        problem: e.problem,
    })
}

pub async fn preview(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    body: Bytes,
) -> Result<Json<Preview>, QueryError> {
    let req: PreviewRequest = parse(&body)?;
    let segment = segment(&req.segment)?;
    let sample = crate::extract::limit(req.sample, 20, MAX_SAMPLE).map_err(|_| {
        QueryError::InvalidField {
            field: "sample".into(),
            problem: format!("must be 1 to {MAX_SAMPLE}"),
        }
    })?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let members = state
        .store
        .segment_members(&workspace, &segment, now_ms)
        .await?;
    Ok(Json(Preview {
        count: members.len(),
        sample: members.into_iter().take(sample).collect(),
        as_of_ms: now_ms,
    }))
}
