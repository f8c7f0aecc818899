//! Static marketing lists, as marketers know them from CRM systems. A list holds one entity type
//! only, people or accounts, fixed when it is created; anything of the other type is refused.
//!
//! | call | what |
//! |---|---|
//! | `POST /v1/lists` `{"name", "entity": "people"\|"accounts", "description"}` | create (201) |
//! | `GET /v1/lists`, `GET /v1/lists/{id}` | lists (one with its member count) |
//! | `PATCH /v1/lists/{id}` `{"name"?, "description"?}` | rename |
//! | `DELETE /v1/lists/{id}` | delete (409 while a segment refers to it) |
//! | `POST /v1/lists/{id}/members` `{"add": [ids], "remove": [ids]}` | change members; unknown ids are reported, not added |
//! | `POST /v1/lists/{id}/members/from-segment` `{"segment": ID}` or `{"definition": {…}}` | add a segment's people (to a list of accounts: their accounts) |
//! | `POST /v1/lists/{id}/import?match=email\|user_id\|account_id` (CSV body with a header row) | add the rows' matches; report the rest ([`super::list_import`]) |
//! | `POST /v1/lists/{id}/copy` `{"to": ID}` or `{"name": NEW}` | copy members into another list of the same entity |
//! | `POST /v1/lists/combine` `{"op": "union"\|"intersection"\|"difference", "lists": [ids], "name"}` | a new list from others |
//! | `GET /v1/lists/{id}/members?after=&limit=` | members (profiles or account roll-ups), paged by id |
//! | `GET /v1/lists/{id}/export?format=csv\|jsonl\|parquet` | every member |

use std::collections::{BTreeSet, HashSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use leadstream_platform::segment::{Entity, list_entity};
use leadstream_platform::store::{ObjectRow, SetMemberRow, Store};
use leadstream_schemas::segment::Segment;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{Workspace, Writer};
use crate::error::QueryError;
use crate::export::{self, ExportQuery};
use crate::extract::Params;
use crate::extract::{MAX_ID_LEN, parse};
use crate::objects::{self, LISTS, check_description, check_name};
use crate::router::AppState;
use crate::routes::segments::{self as segments_routes, PageQuery};

/// Most ids one `members` call may add plus remove.
pub const MAX_IDS: usize = 10_000;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct List {
    pub id: String,
    pub name: String,
    pub description: String,
    pub entity: Entity,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Members now (on single-list answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

fn shown(row: &ObjectRow, count: Option<usize>) -> List {
    List {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        entity: list_entity(row).unwrap_or(Entity::People),
        created_ms: row.created_ms,
        updated_ms: row.updated_ms,
        count,
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateList {
    pub name: String,
    pub entity: Entity,
    #[serde(default)]
    pub description: String,
}

async fn new_list(
    store: &dyn Store,
    workspace: &str,
    name: &str,
    entity: Entity,
    description: String,
) -> Result<ObjectRow, QueryError> {
    let name = check_name("name", name)?;
    check_description(&description)?;
    LISTS
        .create(
            store,
            workspace,
            name,
            description,
            serde_json::json!({ "entity": entity }).to_string(),
        )
        .await
}

pub async fn create(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    body: Bytes,
) -> Result<(StatusCode, Json<List>), QueryError> {
    let req: CreateList = parse(&body)?;
    let row = new_list(
        &*state.store,
        &workspace,
        &req.name,
        req.entity,
        req.description,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(shown(&row, Some(0)))))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Lists {
    pub lists: Vec<List>,
}

pub async fn list(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
) -> Result<Json<Lists>, QueryError> {
    let rows = LISTS.all(&*state.store, &workspace).await?;
    Ok(Json(Lists {
        lists: rows.iter().map(|r| shown(r, None)).collect(),
    }))
}

pub(super) async fn load(
    store: &dyn Store,
    workspace: &str,
    id: &str,
) -> Result<(ObjectRow, Entity), QueryError> {
    let row = LISTS.get(store, workspace, id).await?;
    let entity = list_entity(&row)
        .ok_or_else(|| QueryError::Internal(format!("list {id} has no entity")))?;
    Ok((row, entity))
}

pub async fn get_list(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<List>, QueryError> {
    let (row, _) = load(&*state.store, &workspace, &id).await?;
    let count = state.store.set_members(&workspace, &id).await?.len();
    Ok(Json(shown(&row, Some(count))))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameList {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

pub async fn rename(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<List>, QueryError> {
    let req: RenameList = parse(&body)?;
    let (mut row, _) = load(&*state.store, &workspace, &id).await?;
    objects::rename(
        &*state.store,
        &mut row,
        req.name.as_deref(),
        req.description,
    )
    .await?;
    LISTS.save(&*state.store, &mut row).await?;
    Ok(Json(shown(&row, None)))
}

pub async fn delete(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, QueryError> {
    let uses = |s: &Segment| matches!(s, Segment::InList { id: x, .. } if *x == id);
    LISTS
        .delete(&*state.store, &workspace, &id, Some(&uses))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Writes adds (`removed = false`) or removals of `ids` to list `id`.
async fn write_members(
    store: &dyn Store,
    workspace: &str,
    id: &str,
    ids: impl IntoIterator<Item = String>,
    removed: bool,
) -> Result<(), QueryError> {
    let version = objects::version();
    let rows: Vec<SetMemberRow> = ids
        .into_iter()
        .map(|m| SetMemberRow {
            workspace: workspace.to_string(),
            set_id: id.to_string(),
            member_id: m,
            version,
            removed: u8::from(removed),
        })
        .collect();
    for chunk in rows.chunks(50_000) {
        store.write_set_members(chunk).await?;
    }
    Ok(())
}

/// Which of `ids` exist as current entities of `entity` (people not merged away; accounts with
/// at least one member).
pub(super) async fn existing(
    store: &dyn Store,
    workspace: &str,
    entity: Entity,
    ids: &[String],
) -> Result<HashSet<String>, QueryError> {
    match entity {
        Entity::People => Ok(export::profiles(store, workspace, ids)
            .await?
            .into_iter()
            .map(|p| p.profile_id)
            .collect()),
        Entity::Accounts => {
            let mut out = HashSet::new();
            for id in ids {
                if !store.account_members(workspace, id).await?.is_empty() {
                    out.insert(id.clone());
                }
            }
            Ok(out)
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeMembers {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Changed {
    pub added: usize,
    pub removed: usize,
    /// Ids to add that are no current person (or account) of the workspace: not added.
    pub unknown: Vec<String>,
    pub count: usize,
}

fn check_ids(field: &str, ids: &[String]) -> Result<(), QueryError> {
    for (i, id) in ids.iter().enumerate() {
        if id.trim().is_empty() || id.len() > MAX_ID_LEN {
            return Err(QueryError::InvalidField {
                field: format!("{field}[{i}]"),
                problem: format!("must be an id of 1 to {MAX_ID_LEN} bytes"),
            });
        }
    }
    Ok(())
}

pub async fn change_members(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Changed>, QueryError> {
    let req: ChangeMembers = parse(&body)?;
    if req.add.len() + req.remove.len() > MAX_IDS {
        return Err(QueryError::Unprocessable {
            field: "add".into(),
            problem: format!("at most {MAX_IDS} ids per call (add and remove together)"),
        });
    }
    check_ids("add", &req.add)?;
    check_ids("remove", &req.remove)?;
    let (_, entity) = load(&*state.store, &workspace, &id).await?;
    let before: HashSet<String> = state
        .store
        .set_members(&workspace, &id)
        .await?
        .into_iter()
        .collect();
    let wanted: BTreeSet<String> = req.add.into_iter().collect();
    let found = existing(
        &*state.store,
        &workspace,
        entity,
        &wanted.iter().cloned().collect::<Vec<_>>(),
    )
    .await?;
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|w| !found.contains(*w))
        .cloned()
        .collect();
    let adds: Vec<String> = wanted
        .into_iter()
        .filter(|w| found.contains(w) && !before.contains(w))
        .collect();
    let removes: BTreeSet<String> = req
        .remove
        .into_iter()
        .filter(|r| before.contains(r))
        .collect();
    write_members(&*state.store, &workspace, &id, adds.clone(), false).await?;
    write_members(&*state.store, &workspace, &id, removes.clone(), true).await?;
    Ok(Json(Changed {
        added: adds.len(),
        removed: removes.len(),
        unknown,
        count: before.len() + adds.len() - removes.len(),
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FromSegment {
    /// A saved segment's id.
    #[serde(default)]
    pub segment: Option<String>,
    /// Or a definition, as in `POST /v1/segments/preview`.
    #[serde(default)]
    pub definition: Option<Value>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Added {
    pub added: usize,
    /// Already on the list.
    pub already: usize,
    pub count: usize,
}

pub async fn add_from_segment(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Added>, QueryError> {
    let req: FromSegment = parse(&body)?;
    let (_, entity) = load(&*state.store, &workspace, &id).await?;
    let people = match (&req.segment, &req.definition) {
        (Some(sid), None) => segments_routes::members_now(&state, &workspace, sid).await?,
        (None, Some(def)) => {
            let segment =
                segments_routes::definition(&state, &workspace, "definition", def, None).await?;
            state
                .store
                .segment_members(&workspace, &segment, objects::now_ms())
                .await?
        }
        _ => {
            return Err(QueryError::InvalidField {
                field: "segment".into(),
                problem: "give either `segment` (a saved segment's id) or `definition`".into(),
            });
        }
    };
    let ids: BTreeSet<String> = match entity {
        Entity::People => people.into_iter().collect(),
        // A list of accounts takes the segment's people's accounts.
        Entity::Accounts => export::profiles(&*state.store, &workspace, &people)
            .await?
            .into_iter()
            .filter_map(|p| p.account)
            .collect(),
    };
    add_all(&*state.store, &workspace, &id, ids).await.map(Json)
}

pub(super) async fn add_all(
    store: &dyn Store,
    workspace: &str,
    id: &str,
    ids: BTreeSet<String>,
) -> Result<Added, QueryError> {
    let before: HashSet<String> = store
        .set_members(workspace, id)
        .await?
        .into_iter()
        .collect();
    let (already, adds): (Vec<String>, Vec<String>) =
        ids.into_iter().partition(|m| before.contains(m));
    write_members(store, workspace, id, adds.clone(), false).await?;
    Ok(Added {
        added: adds.len(),
        already: already.len(),
        count: before.len() + adds.len(),
    })
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyTo {
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Copied {
    pub to: List,
    pub added: usize,
    pub already: usize,
}

pub async fn copy(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Copied>, QueryError> {
    let req: CopyTo = parse(&body)?;
    let (_, entity) = load(&*state.store, &workspace, &id).await?;
    let target = match (req.to, req.name) {
        (Some(to), None) => {
            let (row, to_entity) = load(&*state.store, &workspace, &to).await?;
            if to_entity != entity {
                return Err(mixed("to"));
            }
            row
        }
        (None, Some(name)) => {
            new_list(&*state.store, &workspace, &name, entity, String::new()).await?
        }
        _ => {
            return Err(QueryError::InvalidField {
                field: "to".into(),
                problem: "give either `to` (a list's id) or `name` (for a new list)".into(),
            });
        }
    };
    let members: BTreeSet<String> = state
        .store
        .set_members(&workspace, &id)
        .await?
        .into_iter()
        .collect();
    let added = add_all(&*state.store, &workspace, &target.id, members).await?;
    Ok(Json(Copied {
        to: shown(&target, Some(added.count)),
        added: added.added,
        already: added.already,
    }))
}

fn mixed(field: &str) -> QueryError {
    QueryError::InvalidField {
        field: field.into(),
        problem: "a list holds one entity type: people and accounts do not mix".into(),
    }
}

#[derive(Debug, Deserialize, Clone, Copy, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SetOp {
    Union,
    Intersection,
    Difference,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Combine {
    pub op: SetOp,
    /// Two or more lists; `difference` keeps the first's members that are on none of the others.
    pub lists: Vec<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

pub async fn combine(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    body: Bytes,
) -> Result<(StatusCode, Json<List>), QueryError> {
    let req: Combine = parse(&body)?;
    if req.lists.len() < 2 || req.lists.len() > 32 {
        return Err(QueryError::InvalidField {
            field: "lists".into(),
            problem: "must name 2 to 32 lists".into(),
        });
    }
    let mut entity = None;
    let mut sets = Vec::new();
    for (i, lid) in req.lists.iter().enumerate() {
        let (_, e) = load(&*state.store, &workspace, lid)
            .await
            .map_err(|err| match err {
                QueryError::NotFound { .. } => QueryError::InvalidField {
                    field: format!("lists[{i}]"),
                    problem: format!("no list `{lid}`"),
                },
                other => other,
            })?;
        if entity.is_some_and(|x| x != e) {
            return Err(mixed(&format!("lists[{i}]")));
        }
        entity = Some(e);
        sets.push(
            state
                .store
                .set_members(&workspace, lid)
                .await?
                .into_iter()
                .collect::<BTreeSet<String>>(),
        );
    }
    let result = combine_sets(req.op, sets);
    let row = new_list(
        &*state.store,
        &workspace,
        &req.name,
        entity.unwrap_or(Entity::People),
        req.description,
    )
    .await?;
    let added = add_all(&*state.store, &workspace, &row.id, result).await?;
    Ok((StatusCode::CREATED, Json(shown(&row, Some(added.count)))))
}

pub fn combine_sets(op: SetOp, sets: Vec<BTreeSet<String>>) -> BTreeSet<String> {
    let mut it = sets.into_iter();
    let first = it.next().unwrap_or_default();
    it.fold(first, |acc, s| match op {
        SetOp::Union => acc.union(&s).cloned().collect(),
        SetOp::Intersection => acc.intersection(&s).cloned().collect(),
        SetOp::Difference => acc.difference(&s).cloned().collect(),
    })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MembersPage {
    pub count: usize,
    pub entity: Entity,
    /// Profiles (a list of people) or account roll-ups (a list of accounts).
    pub members: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

pub async fn members(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<MembersPage>, QueryError> {
    let (_, entity) = load(&*state.store, &workspace, &id).await?;
    let max = match entity {
        Entity::People => 1000,
        Entity::Accounts => 200,
    };
    let limit = crate::extract::limit(q.limit, 100, max)?;
    let ids = state.store.set_members(&workspace, &id).await?;
    let (ids_page, more) = segments_routes::page(&ids, q.after.as_deref(), limit);
    let members = match entity {
        Entity::People => to_values(export::profiles(&*state.store, &workspace, ids_page).await?)?,
        Entity::Accounts => {
            to_values(export::accounts(&*state.store, &workspace, ids_page).await?)?
        }
    };
    Ok(Json(MembersPage {
        count: ids.len(),
        entity,
        members,
        next_after: more.then(|| ids_page.last().cloned()).flatten(),
    }))
}

fn to_values<T: Serialize>(rows: Vec<T>) -> Result<Vec<Value>, QueryError> {
    rows.into_iter()
        .map(|r| serde_json::to_value(r).map_err(|e| QueryError::Internal(e.to_string())))
        .collect()
}

pub async fn export(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<ExportQuery>,
) -> Result<Response, QueryError> {
    let (_, entity) = load(&*state.store, &workspace, &id).await?;
    let ids = state.store.set_members(&workspace, &id).await?;
    let name = format!("list-{id}");
    match entity {
        Entity::People => {
            export::people_file(state.store.clone(), workspace, ids, q.format, &name).await
        }
        Entity::Accounts => {
            let rows = export::accounts(&*state.store, &workspace, &ids).await?;
            export::file(q.format, &name, export::ACCOUNTS, &rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(xs: &[&str]) -> BTreeSet<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn combines() {
        let sets = || {
            vec![
                set(&["a", "b", "c"]),
                set(&["b", "c", "d"]),
                set(&["c", "e"]),
            ]
        };
        assert_eq!(
            combine_sets(SetOp::Union, sets()),
            set(&["a", "b", "c", "d", "e"])
        );
        assert_eq!(combine_sets(SetOp::Intersection, sets()), set(&["c"]));
        assert_eq!(combine_sets(SetOp::Difference, sets()), set(&["a"]));
    }
}
