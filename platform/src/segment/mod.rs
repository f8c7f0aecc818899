//! One segment definition ([`leadstream_schemas::segment::Segment`]), two back ends that must
//! return the same members: [`clickhouse`] compiles it to one SQL query (every value bound, every
//! identifier a constant of this crate), [`polars`] to a lazy query over the embedded store's
//! Parquet files. `platform/tests/segments.rs` runs every documented example against both on
//! the same fixture data and requires the expected members from each.
//!
//! Shared semantics, spelled out once so both back ends follow them:
//! - members are people whose newest profile version is not merged into another;
//! - a trait's text is the JSON string's value, or the JSON text of any other value; a missing
//!   or `null` trait has no text;
//! - a number test holds when the text is a number ([`NUMBER`]) in range;
//! - behaviour counts distinct message ids of a kind since `now - days`, attributing an id that
//!   was merged (the identities table) to its person.

pub mod clickhouse;
pub mod polars;

/// What counts as a number in a trait's text (both back ends use this exact pattern).
pub const NUMBER: &str = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$";

pub const DAY_MS: i64 = 86_400_000;

/// The revenue key that means the event's money (the events' `revenue` column: an order's value by
/// Segment's fallbacks, a refund's as a negative amount) rather than one property's number.
pub const DEFAULT_REVENUE_KEY: &str = "revenue";

use std::collections::{HashMap, HashSet};

use leadstream_schemas::segment::{Segment, SegmentError};

use crate::store::{ObjectRow, Store, StoreError};

/// How many saved segments deep `in_segment` may reach.
pub const MAX_REFERENCE_DEPTH: usize = 8;

/// Object kinds of the saved-objects table.
pub const SEGMENT: &str = "segment";
pub const LIST: &str = "list";

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses a tree with an `in_segment` left in it (the back ends run resolved trees only).
pub fn require_resolved(segment: &Segment) -> Result<(), StoreError> {
    let mut ok = true;
    segment.walk(&mut |s| ok &= !matches!(s, Segment::InSegment(_)));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "in_segment must be resolved before the store runs a segment".into(),
        ))
    }
}

/// Replaces each `in_segment` by the saved segment's current definition (itself resolved; a
/// cycle or more than [`MAX_REFERENCE_DEPTH`] levels is refused) and marks each `in_list` with
/// its list's entity. An unknown id is an error at its node.
pub async fn resolve(
    store: &dyn Store,
    workspace: &str,
    segment: Segment,
) -> Result<Segment, ResolveError> {
    resolve_with(store, workspace, segment, None).await
}

/// [`resolve`], as if `pending` (a segment being saved) were already saved: so that saving a
/// segment that would close a cycle of references is refused.
pub async fn resolve_with(
    store: &dyn Store,
    workspace: &str,
    segment: Segment,
    pending: Option<&ObjectRow>,
) -> Result<Segment, ResolveError> {
    let mut needs = (false, false);
    segment.walk(&mut |s| match s {
        Segment::InSegment(_) => needs.0 = true,
        Segment::InList { .. } => needs.1 = true,
        _ => {}
    });
    if !needs.0 && !needs.1 {
        return Ok(segment);
    }
    let by_id = |rows: Vec<ObjectRow>| -> HashMap<String, ObjectRow> {
        rows.into_iter().map(|r| (r.id.clone(), r)).collect()
    };
    let mut segments = if needs.0 {
        by_id(store.objects(workspace, SEGMENT).await?)
    } else {
        HashMap::new()
    };
    let mut seen = HashSet::new();
    if let Some(p) = pending {
        segments.insert(p.id.clone(), p.clone());
        seen.insert(p.id.clone());
    }
    let lists = by_id(store.objects(workspace, LIST).await?);
    Ok(inline(segment, "$", &segments, &lists, &mut seen)?)
}

/// A workspace's saved segments and lists, read once, to resolve many trees with (asking which
/// segments one person is in resolves every saved segment).
pub struct Resolver {
    segments: HashMap<String, ObjectRow>,
    lists: HashMap<String, ObjectRow>,
}

impl Resolver {
    pub async fn load(store: &dyn Store, workspace: &str) -> Result<Resolver, StoreError> {
        let by_id = |rows: Vec<ObjectRow>| -> HashMap<String, ObjectRow> {
            rows.into_iter().map(|r| (r.id.clone(), r)).collect()
        };
        Ok(Resolver {
            segments: by_id(store.objects(workspace, SEGMENT).await?),
            lists: by_id(store.objects(workspace, LIST).await?),
        })
    }

    /// [`resolve`] against what was read.
    pub fn resolve(&self, segment: Segment) -> Result<Segment, SegmentError> {
        inline(
            segment,
            "$",
            &self.segments,
            &self.lists,
            &mut HashSet::new(),
        )
    }
}

fn inline(
    segment: Segment,
    path: &str,
    segments: &HashMap<String, ObjectRow>,
    lists: &HashMap<String, ObjectRow>,
    seen: &mut HashSet<String>,
) -> Result<Segment, SegmentError> {
    let fail = |at: &str, problem: String| SegmentError {
        path: at.to_string(),
        problem,
    };
    segment.try_map_leaves(path, &mut |leaf, at| match leaf {
        Segment::InSegment(id) => {
            let at = format!("{at}.in_segment");
            let Some(row) = segments.get(&id) else {
                return Err(fail(&at, format!("no saved segment `{id}`")));
            };
            if seen.contains(&id) {
                return Err(fail(&at, format!("segment `{id}` refers to itself")));
            }
            if seen.len() >= MAX_REFERENCE_DEPTH {
                return Err(fail(
                    &at,
                    format!("segments refer deeper than {MAX_REFERENCE_DEPTH} levels"),
                ));
            }
            let value: serde_json::Value = serde_json::from_str(&row.definition)
                .map_err(|e| fail(&at, format!("segment `{id}` is unreadable: {e}")))?;
            let inner =
                Segment::parse(&value).map_err(|e| fail(&at, format!("segment `{id}`: {e}")))?;
            seen.insert(id.clone());
            let out = inline(inner, &at, segments, lists, seen);
            seen.remove(&id);
            out
        }
        Segment::InList { id, .. } => match lists.get(&id) {
            Some(row) => Ok(Segment::InList {
                accounts: list_entity(row) == Some(Entity::Accounts),
                id,
            }),
            None => Err(fail(&format!("{at}.in_list"), format!("no list `{id}`"))),
        },
        other => Ok(other),
    })
}

/// What a list holds: one entity type per list.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    People,
    Accounts,
}

/// A list row's entity (its definition is `{"entity": "people" | "accounts"}`).
pub fn list_entity(row: &ObjectRow) -> Option<Entity> {
    #[derive(serde::Deserialize)]
    struct Def {
        entity: Entity,
    }
    serde_json::from_str::<Def>(&row.definition)
        .ok()
        .map(|d| d.entity)
}
