//! Saved objects (segments, lists, snapshots, campaigns, API tokens): one create / list / get /
//! save / delete for every kind ([`Kind`]), with ids, versions, checked and unique names. Rows
//! live in the store's objects table ([`leadstream_platform::store::ObjectRow`]); the newest
//! version of an id is the object. The routes of each kind only check and show their own
//! definition.

use std::sync::atomic::{AtomicU64, Ordering};

use leadstream_platform::segment::{LIST, SEGMENT};
use leadstream_platform::store::{ObjectRow, SavedObjects};
use leadstream_schemas::segment::Segment;

use crate::error::QueryError;

/// One kind of saved object: its `kind` column, the prefix of its ids and the word a 404 uses.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub what: &'static str,
}

pub const SEGMENTS: Kind = Kind {
    kind: SEGMENT,
    prefix: "seg",
    what: "segment",
};
pub const LISTS: Kind = Kind {
    kind: LIST,
    prefix: "lst",
    what: "list",
};
pub const CAMPAIGNS: Kind = Kind {
    kind: crate::routes::campaigns::CAMPAIGN,
    prefix: "cmp",
    what: "campaign",
};
pub const TOKENS: Kind = Kind {
    kind: leadstream_platform::auth::TOKEN,
    prefix: "tok",
    what: "token",
};

impl Kind {
    /// The workspace's objects of this kind (newest versions, deleted ones left out), by name.
    pub async fn all(
        &self,
        store: &dyn SavedObjects,
        workspace: &str,
    ) -> Result<Vec<ObjectRow>, QueryError> {
        Ok(store.objects(workspace, self.kind).await?)
    }

    /// One object by id, or 404 naming the kind.
    pub async fn get(
        &self,
        store: &dyn SavedObjects,
        workspace: &str,
        id: &str,
    ) -> Result<ObjectRow, QueryError> {
        load(store, workspace, self.kind, self.what, id).await
    }

    /// Writes the first version of a new object under a fresh id. `name` is the caller's checked
    /// name (the kind's own rules); it must be unique among the kind (409 otherwise).
    pub async fn create(
        &self,
        store: &dyn SavedObjects,
        workspace: &str,
        name: String,
        description: String,
        definition: String,
    ) -> Result<ObjectRow, QueryError> {
        check_unique(&self.all(store, workspace).await?, &name, None)?;
        let row = new_row(
            workspace.to_string(),
            self.kind,
            self.prefix,
            name,
            description,
            definition,
        );
        store.write_object(&row).await?;
        Ok(row)
    }

    /// Writes `row` (changed by the caller) as its next version.
    pub async fn save(
        &self,
        store: &dyn SavedObjects,
        row: &mut ObjectRow,
    ) -> Result<(), QueryError> {
        row.version = version();
        row.updated_ms = now_ms();
        Ok(store.write_object(row).await?)
    }

    /// Deletes an object (404 when there is none), refused (409) while a saved segment has a
    /// node `used_by` picks out; returns what was deleted.
    pub async fn delete(
        &self,
        store: &dyn SavedObjects,
        workspace: &str,
        id: &str,
        used_by: Option<&(dyn Fn(&Segment) -> bool + Sync)>,
    ) -> Result<ObjectRow, QueryError> {
        let row = self.get(store, workspace, id).await?;
        if let Some(uses) = used_by {
            check_unused(store, workspace, id, uses).await?;
        }
        store.write_object(&deleted(&row)).await?;
        Ok(row)
    }
}

pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 4000;

/// A new object id: `prefix` and a time-ordered UUID (`seg_0193…`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// A version for the next write: nanoseconds since the epoch, strictly increasing in this
/// process (so a quick update still supersedes what it replaces).
pub fn version() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
        .unwrap_or_default();
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A name: not blank, at most [`MAX_NAME`] bytes.
pub fn check_name(field: &str, name: &str) -> Result<String, QueryError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(QueryError::InvalidField {
            field: field.into(),
            problem: format!("must be 1 to {MAX_NAME} bytes, not blank"),
        });
    }
    Ok(name.to_string())
}

pub fn check_description(description: &str) -> Result<(), QueryError> {
    if description.len() > MAX_DESCRIPTION {
        return Err(QueryError::InvalidField {
            field: "description".into(),
            problem: format!("must be at most {MAX_DESCRIPTION} bytes"),
        });
    }
    Ok(())
}

/// Refuses a name another object of the kind already has (case-insensitive).
pub fn check_unique(
    rows: &[ObjectRow],
    name: &str,
    except: Option<&str>,
) -> Result<(), QueryError> {
    let taken = rows
        .iter()
        .any(|r| Some(r.id.as_str()) != except && r.name.eq_ignore_ascii_case(name));
    if taken {
        return Err(QueryError::Conflict {
            field: "name".into(),
            problem: format!("`{name}` is taken in this workspace"),
        });
    }
    Ok(())
}

/// An object of `kind` by id, or 404 naming `what`.
pub async fn load(
    store: &dyn SavedObjects,
    workspace: &str,
    kind: &str,
    what: &'static str,
    id: &str,
) -> Result<ObjectRow, QueryError> {
    store
        .objects(workspace, kind)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| QueryError::NotFound {
            what,
            id: id.to_string(),
        })
}

/// The first version of a new object of `kind`: a fresh id (`<prefix>_…`), created now.
pub fn new_row(
    workspace: String,
    kind: &str,
    prefix: &str,
    name: String,
    description: String,
    definition: String,
) -> ObjectRow {
    let now = now_ms();
    ObjectRow {
        workspace,
        kind: kind.into(),
        id: new_id(prefix),
        name,
        description,
        definition,
        created_ms: now,
        updated_ms: now,
        version: version(),
        deleted: 0,
    }
}

/// A definition as the objects table keeps it: the value's JSON text.
pub fn definition(value: &impl serde::Serialize) -> Result<String, QueryError> {
    serde_json::to_string(value).map_err(|e| QueryError::Internal(e.to_string()))
}

/// The tombstone that deletes `row`.
pub fn deleted(row: &ObjectRow) -> ObjectRow {
    ObjectRow {
        version: version(),
        updated_ms: now_ms(),
        deleted: 1,
        ..row.clone()
    }
}

/// Applies a new name and description to `row` (checked; the name unique among its kind).
pub async fn rename(
    store: &dyn SavedObjects,
    row: &mut ObjectRow,
    name: Option<&str>,
    description: Option<String>,
) -> Result<(), QueryError> {
    if let Some(name) = name {
        let name = check_name("name", name)?;
        let existing = store.objects(&row.workspace, &row.kind).await?;
        check_unique(&existing, &name, Some(&row.id))?;
        row.name = name;
    }
    if let Some(description) = description {
        check_description(&description)?;
        row.description = description;
    }
    Ok(())
}

/// Refuses (409) while a saved segment other than `id` has a node `uses` picks out.
pub async fn check_unused(
    store: &dyn SavedObjects,
    workspace: &str,
    id: &str,
    uses: impl Fn(&Segment) -> bool,
) -> Result<(), QueryError> {
    let users: Vec<String> = store
        .objects(workspace, SEGMENT)
        .await?
        .into_iter()
        .filter(|r| r.id != id && refers(&r.definition, &uses))
        .map(|r| r.name)
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    Err(QueryError::Conflict {
        field: "id".into(),
        problem: format!("segments refer to it: {}", users.join(", ")),
    })
}

/// Whether a stored definition has a node `uses` picks out.
pub fn refers(definition: &str, uses: &impl Fn(&Segment) -> bool) -> bool {
    let Some(segment) = serde_json::from_str::<serde_json::Value>(definition)
        .ok()
        .and_then(|v| Segment::parse(&v).ok())
    else {
        return false;
    };
    let mut found = false;
    segment.walk(&mut |s| found |= uses(s));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references() {
        let to =
            |id: &'static str| move |s: &Segment| matches!(s, Segment::InSegment(x) if x == id);
        assert!(refers(r#"{"or": [{"in_segment": "s1"}]}"#, &to("s1")));
        assert!(!refers(r#"{"or": [{"in_segment": "s12"}]}"#, &to("s1")));
        assert!(!refers("not json", &to("s1")));
        let list = |s: &Segment| matches!(s, Segment::InList { id, .. } if id == "l1");
        assert!(refers(r#"{"not": {"in_list": "l1"}}"#, &list));
        assert!(!refers(r#"{"in_list": "l2"}"#, &list));
    }

    #[test]
    fn versions_increase() {
        let (a, b) = (version(), version());
        assert!(b > a);
    }
}
