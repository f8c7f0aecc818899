//! Segments: saved conditions over people's profiles and behaviour (the language is documented in
//! `leadstream_schemas::segment` and the README).
//!
//! | call | what |
//! |---|---|
//! | `POST /v1/segments/preview` `{"segment": {…}, "sample": 20}` | count and a sample of an unsaved definition |
//! | `POST /v1/segments` `{"name", "description", "definition"}` | save (201) |
//! | `GET /v1/segments`, `GET /v1/segments/{id}` | saved segments |
//! | `PUT /v1/segments/{id}` `{"name"?, "description"?, "definition"?}` | change |
//! | `DELETE /v1/segments/{id}` | delete (409 while another segment refers to it) |
//! | `GET /v1/segments/{id}/preview?sample=20` | count and sample now |
//! | `GET /v1/segments/{id}/members?after=&limit=100` | members' profiles, paged by id |
//! | `GET /v1/segments/{id}/export?format=csv\|jsonl\|parquet` | every member |
//! | `POST /v1/segments/{id}/snapshots`, `GET …/snapshots` | keep today's members; list what was kept |
//! | `GET /v1/segments/{id}/compare?from=SNAP&to=SNAP\|now` | who joined, left, stayed between two snapshots |
//!
//! A definition that is not a segment is a 400 whose `field` points at the node
//! (`definition.and[1].score.gte`); a reference to an unknown segment or list too.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use leadstream_platform::segment::{ResolveError, resolve_with};
use leadstream_platform::store::{ObjectRow, SetMemberRow, Store};
use leadstream_schemas::Profile;
use leadstream_schemas::segment::Segment;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{Workspace, Writer};
use crate::error::QueryError;
use crate::export::{self, ExportQuery};
use crate::extract::Params;
use crate::extract::parse;
use crate::objects::{self, SEGMENTS, check_description, check_name};
use crate::router::AppState;

const MAX_SAMPLE: usize = 1000;
const MAX_PAGE: usize = 1000;
pub const SNAPSHOT: &str = "snapshot";

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub segment: Value,
    #[serde(default)]
    pub sample: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Preview {
    pub count: usize,
    /// The first members by id.
    pub sample: Vec<String>,
    /// The moment the behaviour windows were counted back from (ms since the epoch).
    pub as_of_ms: i64,
}

/// Reads a definition, naming the offending node as `<field>.<path>`.
fn parse_definition(field: &str, value: &Value) -> Result<Segment, QueryError> {
    Segment::parse(value).map_err(|e| QueryError::InvalidField {
        field: format!("{field}{}", e.path.trim_start_matches('$')),
        problem: e.problem,
    })
}

/// Parses and resolves a definition (saved segments inlined, lists checked), as if `pending`
/// were saved.
pub async fn definition(
    state: &AppState,
    workspace: &str,
    field: &str,
    value: &Value,
    pending: Option<&ObjectRow>,
) -> Result<Segment, QueryError> {
    let segment = parse_definition(field, value)?;
    resolve_with(
        &*state.store,
        workspace,
        segment,
        pending,
        &state.segment_limits,
    )
    .await
    .map_err(|e| match e {
        ResolveError::Segment(e) => QueryError::InvalidField {
            field: format!("{field}{}", e.path.trim_start_matches('$')),
            problem: e.problem,
        },
        ResolveError::Store(e) => e.into(),
    })
}

fn sample_size(sample: Option<usize>) -> Result<usize, QueryError> {
    crate::extract::limit(sample, 20, MAX_SAMPLE).map_err(|_| QueryError::InvalidField {
        field: "sample".into(),
        problem: format!("must be 1 to {MAX_SAMPLE}"),
    })
}

async fn preview_of(
    store: &dyn Store,
    workspace: &str,
    segment: &Segment,
    sample: usize,
) -> Result<Preview, QueryError> {
    let now_ms = objects::now_ms();
    let (count, sample) = store
        .segment_preview(workspace, segment, now_ms, sample)
        .await?;
    Ok(Preview {
        count: usize::try_from(count).unwrap_or(usize::MAX),
        sample,
        as_of_ms: now_ms,
    })
}

pub async fn preview(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    body: Bytes,
) -> Result<Json<Preview>, QueryError> {
    let req: PreviewRequest = parse(&body)?;
    let sample = sample_size(req.sample)?;
    let segment = definition(&state, &workspace, "segment", &req.segment, None).await?;
    Ok(Json(
        preview_of(&*state.store, &workspace, &segment, sample).await?,
    ))
}

/// A saved segment as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SavedSegment {
    pub id: String,
    pub name: String,
    pub description: String,
    pub definition: Value,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl From<&ObjectRow> for SavedSegment {
    fn from(r: &ObjectRow) -> Self {
        SavedSegment {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            definition: serde_json::from_str(&r.definition).unwrap_or(Value::Null),
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSegment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub definition: Value,
}

pub async fn create(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    body: Bytes,
) -> Result<(StatusCode, Json<SavedSegment>), QueryError> {
    let req: CreateSegment = parse(&body)?;
    let name = check_name("name", &req.name)?;
    check_description(&req.description)?;
    definition(&state, &workspace, "definition", &req.definition, None).await?;
    let row = SEGMENTS
        .create(
            &*state.store,
            &workspace,
            name,
            req.description,
            req.definition.to_string(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(SavedSegment::from(&row))))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SegmentList {
    pub segments: Vec<SavedSegment>,
}

pub async fn list(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
) -> Result<Json<SegmentList>, QueryError> {
    let rows = SEGMENTS.all(&*state.store, &workspace).await?;
    Ok(Json(SegmentList {
        segments: rows.iter().map(SavedSegment::from).collect(),
    }))
}

async fn load(state: &AppState, workspace: &str, id: &str) -> Result<ObjectRow, QueryError> {
    SEGMENTS.get(&*state.store, workspace, id).await
}

pub async fn get_segment(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<SavedSegment>, QueryError> {
    Ok(Json(SavedSegment::from(
        &load(&state, &workspace, &id).await?,
    )))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSegment {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub definition: Option<Value>,
}

pub async fn update(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SavedSegment>, QueryError> {
    let req: UpdateSegment = parse(&body)?;
    let mut row = load(&state, &workspace, &id).await?;
    objects::rename(
        &*state.store,
        &mut row,
        req.name.as_deref(),
        req.description,
    )
    .await?;
    if let Some(def) = &req.definition {
        row.definition = def.to_string();
        // Checked as if saved, so a change that closes a cycle of references is refused.
        definition(&state, &workspace, "definition", def, Some(&row)).await?;
    }
    SEGMENTS.save(&*state.store, &mut row).await?;
    Ok(Json(SavedSegment::from(&row)))
}

pub async fn delete(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, QueryError> {
    let uses = |s: &Segment| matches!(s, Segment::InSegment(x) if *x == id);
    SEGMENTS
        .delete(&*state.store, &workspace, &id, Some(&uses))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The saved segment's definition, resolved as of now.
async fn resolved(
    state: &AppState,
    workspace: &str,
    row: &ObjectRow,
) -> Result<Segment, QueryError> {
    let value: Value = serde_json::from_str(&row.definition)
        .map_err(|e| QueryError::Internal(format!("segment {}: {e}", row.id)))?;
    definition(state, workspace, "definition", &value, None).await
}

pub async fn members_now(
    state: &AppState,
    workspace: &str,
    id: &str,
) -> Result<Vec<String>, QueryError> {
    let row = load(state, workspace, id).await?;
    let segment = resolved(state, workspace, &row).await?;
    Ok(state
        .store
        .segment_members(workspace, &segment, objects::now_ms())
        .await?)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleQuery {
    #[serde(default)]
    pub sample: Option<usize>,
}

pub async fn saved_preview(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<SampleQuery>,
) -> Result<Json<Preview>, QueryError> {
    let sample = sample_size(q.sample)?;
    let row = load(&state, &workspace, &id).await?;
    let segment = resolved(&state, &workspace, &row).await?;
    Ok(Json(
        preview_of(&*state.store, &workspace, &segment, sample).await?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The last id of the previous page.
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MembersPage {
    /// Members in all (not only on this page).
    pub count: usize,
    pub members: Vec<Profile>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// One page of `ids` (ordered): those after `after`, at most `limit`.
pub fn page<'a>(ids: &'a [String], after: Option<&str>, limit: usize) -> (&'a [String], bool) {
    let start = match after {
        Some(a) => ids.partition_point(|id| id.as_str() <= a),
        None => 0,
    };
    let end = (start + limit).min(ids.len());
    (&ids[start..end], end < ids.len())
}

pub async fn members(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<MembersPage>, QueryError> {
    let limit = crate::extract::limit(q.limit, 100, MAX_PAGE)?;
    let ids = members_now(&state, &workspace, &id).await?;
    let (ids_page, more) = page(&ids, q.after.as_deref(), limit);
    let profiles = export::profiles(&*state.store, &workspace, ids_page).await?;
    Ok(Json(MembersPage {
        count: ids.len(),
        next_after: more.then(|| ids_page.last().cloned()).flatten(),
        members: profiles,
    }))
}

pub async fn export(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<ExportQuery>,
) -> Result<Response, QueryError> {
    let row = load(&state, &workspace, &id).await?;
    let segment = resolved(&state, &workspace, &row).await?;
    let ids = state
        .store
        .segment_members(&workspace, &segment, objects::now_ms())
        .await?;
    export::people_file(
        state.store.clone(),
        workspace,
        ids,
        q.format,
        &format!("segment-{id}"),
    )
    .await
}

/// A kept copy of a segment's members at one moment.
#[derive(Debug, Serialize, Deserialize, Clone, schemars::JsonSchema)]
pub struct Snapshot {
    pub id: String,
    pub segment_id: String,
    pub taken_ms: i64,
    pub count: usize,
    /// The definition the members were counted with.
    pub definition: Value,
}

fn snapshot_of(row: &ObjectRow) -> Option<Snapshot> {
    serde_json::from_str(&row.definition).ok()
}

pub async fn take_snapshot(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Snapshot>), QueryError> {
    let row = load(&state, &workspace, &id).await?;
    let segment = resolved(&state, &workspace, &row).await?;
    let taken_ms = objects::now_ms();
    let ids = state
        .store
        .segment_members(&workspace, &segment, taken_ms)
        .await?;
    let snapshot = Snapshot {
        id: objects::new_id("snap"),
        segment_id: id,
        taken_ms,
        count: ids.len(),
        definition: serde_json::from_str(&row.definition).unwrap_or(Value::Null),
    };
    // Members first: a snapshot is listed only once all of it is stored.
    let version = objects::version();
    let rows: Vec<SetMemberRow> = ids
        .into_iter()
        .map(|m| SetMemberRow {
            workspace: workspace.clone(),
            set_id: snapshot.id.clone(),
            member_id: m,
            version,
            removed: 0,
        })
        .collect();
    for chunk in rows.chunks(50_000) {
        state.store.write_set_members(chunk).await?;
    }
    state
        .store
        .write_object(&ObjectRow {
            workspace,
            kind: SNAPSHOT.into(),
            id: snapshot.id.clone(),
            name: format!("{} @ {taken_ms}", row.name),
            description: String::new(),
            definition: objects::definition(&snapshot)?,
            created_ms: taken_ms,
            updated_ms: taken_ms,
            version,
            deleted: 0,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(snapshot)))
}

/// A segment's snapshots, oldest first.
pub async fn snapshots_of(
    store: &dyn Store,
    workspace: &str,
    segment_id: &str,
) -> Result<Vec<Snapshot>, QueryError> {
    let mut out: Vec<Snapshot> = store
        .objects(workspace, SNAPSHOT)
        .await?
        .iter()
        .filter_map(snapshot_of)
        .filter(|s| s.segment_id == segment_id)
        .collect();
    out.sort_by(|a, b| a.taken_ms.cmp(&b.taken_ms).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SnapshotList {
    pub snapshots: Vec<Snapshot>,
}

pub async fn list_snapshots(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<SnapshotList>, QueryError> {
    load(&state, &workspace, &id).await?;
    Ok(Json(SnapshotList {
        snapshots: snapshots_of(&*state.store, &workspace, &id).await?,
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    pub from: String,
    /// A snapshot id, or `now` (the default) for the members at this moment.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub sample: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Side {
    /// The snapshot id, or `now`.
    pub id: String,
    pub taken_ms: i64,
    pub count: usize,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Comparison {
    pub from: Side,
    pub to: Side,
    pub stayed: usize,
    pub joined: usize,
    pub left: usize,
    /// The first ids (by id) of those who joined and who left.
    pub joined_sample: Vec<String>,
    pub left_sample: Vec<String>,
}

pub async fn compare(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<CompareQuery>,
) -> Result<Json<Comparison>, QueryError> {
    let sample = sample_size(q.sample)?;
    let snapshots = snapshots_of(&*state.store, &workspace, &id).await?;
    let side = |field: &str, sid: &str| {
        snapshots
            .iter()
            .find(|s| s.id == sid)
            .cloned()
            .ok_or_else(|| QueryError::InvalidField {
                field: field.into(),
                problem: format!("no snapshot `{sid}` of segment `{id}`"),
            })
    };
    let from = side("from", &q.from)?;
    let from_ids = state.store.set_members(&workspace, &from.id).await?;
    let (to, to_ids) = match q.to.as_deref() {
        None | Some("now") => {
            let ids = members_now(&state, &workspace, &id).await?;
            (
                Side {
                    id: "now".into(),
                    taken_ms: objects::now_ms(),
                    count: ids.len(),
                },
                ids,
            )
        }
        Some(sid) => {
            let s = side("to", sid)?;
            let ids = state.store.set_members(&workspace, &s.id).await?;
            (
                Side {
                    id: s.id,
                    taken_ms: s.taken_ms,
                    count: ids.len(),
                },
                ids,
            )
        }
    };
    let before: std::collections::HashSet<&String> = from_ids.iter().collect();
    let after: std::collections::HashSet<&String> = to_ids.iter().collect();
    let joined: Vec<String> = to_ids
        .iter()
        .filter(|m| !before.contains(m))
        .cloned()
        .collect();
    let left: Vec<String> = from_ids
        .iter()
        .filter(|m| !after.contains(m))
        .cloned()
        .collect();
    Ok(Json(Comparison {
        from: Side {
            id: from.id,
            taken_ms: from.taken_ms,
            count: from_ids.len(),
        },
        stayed: to_ids.len() - joined.len(),
        joined: joined.len(),
        left: left.len(),
        joined_sample: joined.into_iter().take(sample).collect(),
        left_sample: left.into_iter().take(sample).collect(),
        to,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_by_id() {
        let ids: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(page(&ids, None, 2), (&ids[0..2], true));
        assert_eq!(page(&ids, Some("b"), 2), (&ids[2..4], true));
        assert_eq!(page(&ids, Some("d"), 2), (&ids[4..5], false));
        // A cursor between ids (a member left since) still continues in order.
        assert_eq!(page(&ids, Some("bb"), 10), (&ids[2..5], false));
        assert_eq!(page(&ids, Some("z"), 10).0.len(), 0);
    }
}
