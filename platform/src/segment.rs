//! One segment definition ([`leadstream_schemas::segment::Segment`]), two back ends that must
//! return the same members: `store/clickhouse/segment.rs` compiles it to one SQL query (every value
//! bound, every identifier a constant of this crate), `store/embedded/segment.rs` to a lazy query
//! over the embedded store's Parquet files. This module holds what both share: the semantics
//! below, the limits, and resolving references to saved segments and lists before either runs.
//! `platform/tests/segments.rs` runs every documented example against both on the same fixture
//! data and requires the expected members from each.
//!
//! Shared semantics, spelled out once so both back ends follow them:
//! - members are people whose newest profile version is not merged into another;
//! - a trait's text is the JSON string's value, or the JSON text of any other value; a missing
//!   or `null` trait has no text;
//! - a number test holds when the text is a number ([`NUMBER`]) in range;
//! - behaviour counts distinct message ids of a kind since `now - days`, attributing an id that
//!   was merged (the identities table) to its person.

/// What counts as a number in a trait's text (both back ends use this exact pattern).
pub const NUMBER: &str = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$";

pub const DAY_MS: i64 = 86_400_000;

/// The revenue key that means the event's money (the events' `revenue` column: an order's value by
/// Segment's fallbacks, a refund's as a negative amount) rather than one property's number.
pub const DEFAULT_REVENUE_KEY: &str = "revenue";

use std::collections::{HashMap, HashSet};

use leadstream_schemas::segment::{Segment, SegmentError};

use crate::store::{ObjectRow, SavedObjects, StoreError};

/// How many saved segments deep `in_segment` may reach.
pub const MAX_REFERENCE_DEPTH: usize = 8;

/// How large a segment may be once its saved segments are inlined. A chain of `in_segment`
/// references multiplies (five levels of eight references are 32,768 leaves), and every node
/// costs compile and run time in both back ends: past these, a segment is refused (a preview, a
/// save, a use), naming the limit (`query.segment_max_nodes`, `query.segment_max_traits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentLimits {
    /// Nodes of the tree after inlining (every condition, `and`, `or`, `not`).
    pub max_nodes: usize,
    /// Distinct traits the tree tests.
    pub max_traits: usize,
}

impl Default for SegmentLimits {
    fn default() -> Self {
        SegmentLimits {
            max_nodes: 2_000,
            max_traits: 256,
        }
    }
}

fn nodes(segment: &Segment) -> usize {
    let mut n = 0;
    segment.walk(&mut |_| n += 1);
    n
}

fn over_nodes(limits: &SegmentLimits, at: &str) -> SegmentError {
    SegmentError {
        path: at.to_string(),
        problem: format!(
            "the segment has more than {} conditions once its saved segments are inlined (query.segment_max_nodes)",
            limits.max_nodes
        ),
    }
}

/// Refuses a tree over `limits` (nodes, distinct traits), naming the limit.
pub fn check_limits(segment: &Segment, limits: &SegmentLimits) -> Result<(), SegmentError> {
    if nodes(segment) > limits.max_nodes {
        return Err(over_nodes(limits, "$"));
    }
    let mut traits = HashSet::new();
    segment.walk(&mut |s| match s {
        Segment::Trait { key, .. } => {
            traits.insert((false, key.as_str()));
        }
        Segment::AccountTrait { key, .. } => {
            traits.insert((true, key.as_str()));
        }
        _ => {}
    });
    if traits.len() > limits.max_traits {
        return Err(SegmentError {
            path: "$".into(),
            problem: format!(
                "the segment tests more than {} distinct traits (query.segment_max_traits)",
                limits.max_traits
            ),
        });
    }
    Ok(())
}

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
    store: &dyn SavedObjects,
    workspace: &str,
    segment: Segment,
    limits: &SegmentLimits,
) -> Result<Segment, ResolveError> {
    resolve_with(store, workspace, segment, None, limits).await
}

/// [`resolve`], as if `pending` (a segment being saved) were already saved: so that saving a
/// segment that would close a cycle of references is refused.
pub async fn resolve_with(
    store: &dyn SavedObjects,
    workspace: &str,
    segment: Segment,
    pending: Option<&ObjectRow>,
    limits: &SegmentLimits,
) -> Result<Segment, ResolveError> {
    let mut needs = (false, false);
    segment.walk(&mut |s| match s {
        Segment::InSegment(_) => needs.0 = true,
        Segment::InList { .. } => needs.1 = true,
        _ => {}
    });
    if !needs.0 && !needs.1 {
        check_limits(&segment, limits)?;
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
    let resolved = inline(segment, "$", &segments, &lists, &mut seen, &mut 0, limits)?;
    check_limits(&resolved, limits)?;
    Ok(resolved)
}

/// A workspace's saved segments and lists, read once, to resolve many trees with (asking which
/// segments one person is in resolves every saved segment).
pub struct Resolver {
    segments: HashMap<String, ObjectRow>,
    lists: HashMap<String, ObjectRow>,
}

impl Resolver {
    pub async fn load(store: &dyn SavedObjects, workspace: &str) -> Result<Resolver, StoreError> {
        let by_id = |rows: Vec<ObjectRow>| -> HashMap<String, ObjectRow> {
            rows.into_iter().map(|r| (r.id.clone(), r)).collect()
        };
        Ok(Resolver {
            segments: by_id(store.objects(workspace, SEGMENT).await?),
            lists: by_id(store.objects(workspace, LIST).await?),
        })
    }

    /// [`resolve`] against what was read.
    pub fn resolve(
        &self,
        segment: Segment,
        limits: &SegmentLimits,
    ) -> Result<Segment, SegmentError> {
        let resolved = inline(
            segment,
            "$",
            &self.segments,
            &self.lists,
            &mut HashSet::new(),
            &mut 0,
            limits,
        )?;
        check_limits(&resolved, limits)?;
        Ok(resolved)
    }
}

/// Inlines `segment`'s references; `inlined` counts the nodes this tree's own references brought
/// in so far, so that a chain of references stops at the limit (at the first level past it)
/// instead of building the whole product first.
fn inline(
    segment: Segment,
    path: &str,
    segments: &HashMap<String, ObjectRow>,
    lists: &HashMap<String, ObjectRow>,
    seen: &mut HashSet<String>,
    inlined: &mut usize,
    limits: &SegmentLimits,
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
            // A reference's own references are counted in their own tree, not added again.
            let mut inner_inlined = 0;
            let out = inline(
                inner,
                &at,
                segments,
                lists,
                seen,
                &mut inner_inlined,
                limits,
            );
            seen.remove(&id);
            let out = out?;
            let n = nodes(&out);
            *inlined += n;
            if n > limits.max_nodes || *inlined > limits.max_nodes {
                return Err(over_nodes(limits, &at));
            }
            Ok(out)
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
