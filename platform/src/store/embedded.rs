//! The embedded store: Parquet files under `<data_dir>/store/`, queried with polars.
//!
//! Layout: `events/*.parquet`, `score_changes/*.parquet` and `profiles/*.parquet`, one file per
//! table per write, named by a
//! UUIDv7 so names sort by time. Columns are those of [`EventRow`] and [`ProfileRow`]. Every file is
//! written to a `.tmp` name, fsynced and renamed, so a reader never sees half a file and a crash
//! leaves at most an orphaned `.tmp` (removed at open). `profiles` keeps every version; a read takes
//! the highest `version`, as ClickHouse's `ReplacingMergeTree` does.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use leadstream_schemas::rfm::{Move, RfmPerson, RfmReport, RfmSpec};
use leadstream_schemas::{AccountSummary, Profile};
use polars::prelude::*;

use super::{
    AccountSummaryRow, DeliveryRow, EventRow, HandoffRow, IdentityRow, ObjectRow, ProfileRow,
    ScoreChangeRow, SetMemberRow, Store, StoreError, WriteBatch, distinct_changes,
    distinct_handoffs, distinct_identities, latest_deliveries, latest_objects, latest_versions,
    members,
};

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[derive(Clone)]
pub struct EmbeddedStore {
    root: PathBuf,
}

impl EmbeddedStore {
    pub fn open(root: &Path) -> Result<EmbeddedStore, StoreError> {
        for table in [
            "events",
            "profiles",
            "score_changes",
            "webhook_deliveries",
            "handoffs",
            "identities",
            "objects",
            "set_members",
        ] {
            let dir = root.join(table);
            std::fs::create_dir_all(&dir).map_err(unavailable)?;
            for entry in std::fs::read_dir(&dir).map_err(unavailable)? {
                let path = entry.map_err(unavailable)?.path();
                if path.extension().is_some_and(|e| e == "tmp") {
                    std::fs::remove_file(&path).map_err(unavailable)?;
                }
            }
        }
        Ok(EmbeddedStore {
            root: root.to_path_buf(),
        })
    }

    fn table_dir(&self, table: &str) -> PathBuf {
        self.root.join(table)
    }

    fn has_files(&self, table: &str) -> Result<bool, StoreError> {
        Ok(std::fs::read_dir(self.table_dir(table))
            .map_err(unavailable)?
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "parquet")))
    }

    /// A lazy scan over every Parquet file of `table`; `None` while the table has no file. The
    /// scan reads with the table's current columns: files written before a column existed read
    /// it as null (so a data directory survives upgrades).
    pub fn scan(&self, table: &str) -> Result<Option<LazyFrame>, StoreError> {
        if !self.has_files(table)? {
            return Ok(None);
        }
        let empty = match table {
            "events" => events_frame(&[]),
            "profiles" => profiles_frame(&[]),
            "score_changes" => changes_frame(&[]),
            "webhook_deliveries" => deliveries_frame(&[]),
            "handoffs" => handoffs_frame(&[]),
            "identities" => identities_frame(&[]),
            "objects" => objects_frame(&[]),
            "set_members" => set_members_frame(&[]),
            other => return Err(StoreError::Invalid(format!("no table {other}"))),
        }
        .map_err(unavailable)?;
        let glob = format!("{}/*.parquet", self.table_dir(table).display());
        let args = ScanArgsParquet {
            schema: Some(Arc::new(empty.schema().as_ref().clone())),
            allow_missing_columns: true,
            ..ScanArgsParquet::default()
        };
        LazyFrame::scan_parquet(PlRefPath::new(glob), args)
            .map(Some)
            .map_err(unavailable)
    }

    fn write_file(&self, table: &str, mut df: DataFrame) -> Result<(), StoreError> {
        let dir = self.table_dir(table);
        let name = uuid::Uuid::now_v7();
        let tmp = dir.join(format!("{name}.parquet.tmp"));
        let mut file = File::create(&tmp).map_err(unavailable)?;
        ParquetWriter::new(&mut file)
            .finish(&mut df)
            .map_err(unavailable)?;
        file.sync_all().map_err(unavailable)?;
        std::fs::rename(&tmp, dir.join(format!("{name}.parquet"))).map_err(unavailable)?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(unavailable)
    }
}

fn events_frame(rows: &[EventRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&EventRow) -> &String| rows.iter().map(|r| f(r).as_str()).collect::<Vec<_>>();
    df!(
        "workspace" => s(|r| &r.workspace),
        "message_id" => s(|r| &r.message_id),
        "profile_id" => s(|r| &r.profile_id),
        "anonymous_id" => s(|r| &r.anonymous_id),
        "user_id" => s(|r| &r.user_id),
        "event_type" => s(|r| &r.event_type),
        "kind" => s(|r| &r.kind),
        "event" => s(|r| &r.event),
        "properties" => s(|r| &r.properties),
        "traits" => s(|r| &r.traits),
        "context" => s(|r| &r.context),
        "timestamp_ms" => rows.iter().map(|r| r.timestamp_ms).collect::<Vec<_>>(),
        "received_at_ms" => rows.iter().map(|r| r.received_at_ms).collect::<Vec<_>>(),
        "group_id" => s(|r| &r.group_id),
        "previous_id" => s(|r| &r.previous_id),
        "enrichment" => s(|r| &r.enrichment),
        "campaign" => s(|r| &r.campaign),
        "promo_code" => s(|r| &r.promo_code),
        "revenue" => rows.iter().map(|r| r.revenue).collect::<Vec<_>>(),
    )
}

fn profiles_frame(rows: &[ProfileRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&ProfileRow) -> &String| rows.iter().map(|r| f(r).as_str()).collect::<Vec<_>>();
    df!(
        "workspace" => s(|r| &r.workspace),
        "profile_id" => s(|r| &r.profile_id),
        "version" => rows.iter().map(|r| r.version).collect::<Vec<_>>(),
        "traits" => s(|r| &r.traits),
        "counts" => s(|r| &r.counts),
        "event_count" => rows.iter().map(|r| r.event_count).collect::<Vec<_>>(),
        "score" => rows.iter().map(|r| r.score).collect::<Vec<_>>(),
        "lifecycle_stage" => s(|r| &r.lifecycle_stage),
        "first_seen_ms" => rows.iter().map(|r| r.first_seen_ms).collect::<Vec<_>>(),
        "last_seen_ms" => rows.iter().map(|r| r.last_seen_ms).collect::<Vec<_>>(),
        "updated_at_ms" => rows.iter().map(|r| r.updated_at_ms).collect::<Vec<_>>(),
        "grade" => s(|r| &r.grade),
        "purchase_count" => rows.iter().map(|r| r.purchase_count).collect::<Vec<_>>(),
        "revenue" => rows.iter().map(|r| r.revenue).collect::<Vec<_>>(),
        "last_purchase_ms" => rows.iter().map(|r| r.last_purchase_ms).collect::<Vec<_>>(),
        "doc" => s(|r| &r.doc),
        "state" => s(|r| &r.state),
        "account" => s(|r| &r.account),
        "account_traits" => s(|r| &r.account_traits),
        "account_at_ms" => rows.iter().map(|r| r.account_at_ms).collect::<Vec<_>>(),
        "merged_into" => s(|r| &r.merged_into),
    )
}

fn event_rows(df: &DataFrame) -> PolarsResult<Vec<EventRow>> {
    let c = Columns(df);
    let text = |name: &str| c.text(name);
    let (workspace, message_id, profile_id, anonymous_id, user_id, event_type, kind, event) = (
        text("workspace")?,
        text("message_id")?,
        text("profile_id")?,
        text("anonymous_id")?,
        text("user_id")?,
        text("event_type")?,
        text("kind")?,
        text("event")?,
    );
    let (properties, traits, context, group_id, previous_id, enrichment) = (
        text("properties")?,
        text("traits")?,
        text("context")?,
        text("group_id")?,
        text("previous_id")?,
        text("enrichment")?,
    );
    let (campaign, promo_code) = (text("campaign")?, text("promo_code")?);
    let revenue = c.num::<Float64Type>("revenue")?;
    let (timestamp, received) = (
        c.num::<Int64Type>("timestamp_ms")?,
        c.num::<Int64Type>("received_at_ms")?,
    );
    Ok((0..df.height())
        .map(|i| EventRow {
            workspace: workspace[i].clone(),
            message_id: message_id[i].clone(),
            profile_id: profile_id[i].clone(),
            anonymous_id: anonymous_id[i].clone(),
            user_id: user_id[i].clone(),
            event_type: event_type[i].clone(),
            kind: kind[i].clone(),
            event: event[i].clone(),
            properties: properties[i].clone(),
            traits: traits[i].clone(),
            context: context[i].clone(),
            timestamp_ms: timestamp[i],
            received_at_ms: received[i],
            group_id: group_id[i].clone(),
            previous_id: previous_id[i].clone(),
            enrichment: enrichment[i].clone(),
            campaign: campaign[i].clone(),
            promo_code: promo_code[i].clone(),
            revenue: revenue[i],
        })
        .collect())
}

fn objects_frame(rows: &[ObjectRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&ObjectRow) -> &String| rows.iter().map(|r| f(r).as_str()).collect::<Vec<_>>();
    df!(
        "workspace" => s(|r| &r.workspace),
        "kind" => s(|r| &r.kind),
        "id" => s(|r| &r.id),
        "name" => s(|r| &r.name),
        "description" => s(|r| &r.description),
        "definition" => s(|r| &r.definition),
        "created_ms" => rows.iter().map(|r| r.created_ms).collect::<Vec<_>>(),
        "updated_ms" => rows.iter().map(|r| r.updated_ms).collect::<Vec<_>>(),
        "version" => rows.iter().map(|r| r.version).collect::<Vec<_>>(),
        "deleted" => rows.iter().map(|r| u32::from(r.deleted)).collect::<Vec<_>>(),
    )
}

fn object_rows(df: &DataFrame) -> PolarsResult<Vec<ObjectRow>> {
    let c = Columns(df);
    let (workspace, kind, id, name, description, definition) = (
        c.text("workspace")?,
        c.text("kind")?,
        c.text("id")?,
        c.text("name")?,
        c.text("description")?,
        c.text("definition")?,
    );
    let (created, updated) = (
        c.num::<Int64Type>("created_ms")?,
        c.num::<Int64Type>("updated_ms")?,
    );
    let (version, deleted) = (
        c.num::<UInt64Type>("version")?,
        c.num::<UInt32Type>("deleted")?,
    );
    Ok((0..df.height())
        .map(|i| ObjectRow {
            workspace: workspace[i].clone(),
            kind: kind[i].clone(),
            id: id[i].clone(),
            name: name[i].clone(),
            description: description[i].clone(),
            definition: definition[i].clone(),
            created_ms: created[i],
            updated_ms: updated[i],
            version: version[i],
            deleted: u8::from(deleted[i] > 0),
        })
        .collect())
}

fn set_members_frame(rows: &[SetMemberRow]) -> PolarsResult<DataFrame> {
    let s =
        |f: fn(&SetMemberRow) -> &String| rows.iter().map(|r| f(r).as_str()).collect::<Vec<_>>();
    df!(
        "workspace" => s(|r| &r.workspace),
        "set_id" => s(|r| &r.set_id),
        "member_id" => s(|r| &r.member_id),
        "version" => rows.iter().map(|r| r.version).collect::<Vec<_>>(),
        "removed" => rows.iter().map(|r| u32::from(r.removed)).collect::<Vec<_>>(),
    )
}

fn handoffs_frame(rows: &[HandoffRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&HandoffRow) -> &String| rows.iter().map(|r| f(r).as_str()).collect::<Vec<_>>();
    df!(
        "workspace" => s(|r| &r.workspace),
        "profile_id" => s(|r| &r.profile_id),
        "crossing" => rows.iter().map(|r| r.crossing).collect::<Vec<_>>(),
        "qualified_at_ms" => rows.iter().map(|r| r.qualified_at_ms).collect::<Vec<_>>(),
        "score_name" => s(|r| &r.score_name),
        "score" => rows.iter().map(|r| r.score).collect::<Vec<_>>(),
        "threshold" => rows.iter().map(|r| r.threshold).collect::<Vec<_>>(),
        "grade" => s(|r| &r.grade),
        "model" => s(|r| &r.model),
        "record" => s(|r| &r.record),
    )
}

fn handoff_rows(df: &DataFrame) -> PolarsResult<Vec<HandoffRow>> {
    let c = Columns(df);
    let (workspace, profile_id, score_name, grade, model, record) = (
        c.text("workspace")?,
        c.text("profile_id")?,
        c.text("score_name")?,
        c.text("grade")?,
        c.text("model")?,
        c.text("record")?,
    );
    let (crossing, at) = (
        c.num::<UInt32Type>("crossing")?,
        c.num::<Int64Type>("qualified_at_ms")?,
    );
    let (score, threshold) = (
        c.num::<Float64Type>("score")?,
        c.num::<Float64Type>("threshold")?,
    );
    Ok((0..df.height())
        .map(|i| HandoffRow {
            workspace: workspace[i].clone(),
            profile_id: profile_id[i].clone(),
            crossing: crossing[i],
            qualified_at_ms: at[i],
            score_name: score_name[i].clone(),
            score: score[i],
            threshold: threshold[i],
            grade: grade[i].clone(),
            model: model[i].clone(),
            record: record[i].clone(),
        })
        .collect())
}

fn identities_frame(rows: &[IdentityRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&IdentityRow) -> &String| rows.iter().map(|r| f(r).as_str()).collect::<Vec<_>>();
    df!(
        "workspace" => s(|r| &r.workspace),
        "id" => s(|r| &r.id),
        "profile_id" => s(|r| &r.profile_id),
        "merged_at_ms" => rows.iter().map(|r| r.merged_at_ms).collect::<Vec<_>>(),
    )
}

fn identity_rows(df: &DataFrame) -> PolarsResult<Vec<IdentityRow>> {
    let c = Columns(df);
    let (workspace, id, profile_id, at) = (
        c.text("workspace")?,
        c.text("id")?,
        c.text("profile_id")?,
        c.num::<Int64Type>("merged_at_ms")?,
    );
    Ok((0..df.height())
        .map(|i| IdentityRow {
            workspace: workspace[i].clone(),
            id: id[i].clone(),
            profile_id: profile_id[i].clone(),
            merged_at_ms: at[i],
        })
        .collect())
}

fn changes_frame(rows: &[ScoreChangeRow]) -> PolarsResult<DataFrame> {
    let s =
        |f: fn(&ScoreChangeRow) -> &String| rows.iter().map(|r| f(r).as_str()).collect::<Vec<_>>();
    let f = |f: fn(&ScoreChangeRow) -> f64| rows.iter().map(f).collect::<Vec<_>>();
    df!(
        "workspace" => s(|r| &r.workspace),
        "profile_id" => s(|r| &r.profile_id),
        "at_ms" => rows.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
        "message_id" => s(|r| &r.message_id),
        "seq" => rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        "kind" => s(|r| &r.kind),
        "event" => s(|r| &r.event),
        "score" => s(|r| &r.score),
        "rule" => s(|r| &r.rule),
        "points" => f(|r| r.points),
        "before" => f(|r| r.before),
        "after" => f(|r| r.after),
        "model" => s(|r| &r.model),
    )
}

fn deliveries_frame(rows: &[DeliveryRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&DeliveryRow) -> &String| rows.iter().map(|r| f(r).as_str()).collect::<Vec<_>>();
    df!(
        "workspace" => s(|r| &r.workspace),
        "id" => s(|r| &r.id),
        "webhook" => s(|r| &r.webhook),
        "kind" => s(|r| &r.kind),
        "profile_id" => s(|r| &r.profile_id),
        "idempotency_key" => s(|r| &r.idempotency_key),
        "body" => s(|r| &r.body),
        "attempts" => rows.iter().map(|r| r.attempts).collect::<Vec<_>>(),
        "status" => s(|r| &r.status),
        "last_error" => s(|r| &r.last_error),
        "created_ms" => rows.iter().map(|r| r.created_ms).collect::<Vec<_>>(),
        "updated_ms" => rows.iter().map(|r| r.updated_ms).collect::<Vec<_>>(),
        "version" => rows.iter().map(|r| r.version).collect::<Vec<_>>(),
    )
}

fn delivery_rows(df: &DataFrame) -> PolarsResult<Vec<DeliveryRow>> {
    let c = Columns(df);
    let (workspace, id, webhook, kind, profile_id, key, body, status, error) = (
        c.text("workspace")?,
        c.text("id")?,
        c.text("webhook")?,
        c.text("kind")?,
        c.text("profile_id")?,
        c.text("idempotency_key")?,
        c.text("body")?,
        c.text("status")?,
        c.text("last_error")?,
    );
    let attempts = c.num::<UInt32Type>("attempts")?;
    let created = c.num::<Int64Type>("created_ms")?;
    let updated = c.num::<Int64Type>("updated_ms")?;
    let version = c.num::<UInt64Type>("version")?;
    Ok((0..df.height())
        .map(|i| DeliveryRow {
            workspace: workspace[i].clone(),
            id: id[i].clone(),
            webhook: webhook[i].clone(),
            kind: kind[i].clone(),
            profile_id: profile_id[i].clone(),
            idempotency_key: key[i].clone(),
            body: body[i].clone(),
            attempts: attempts[i],
            status: status[i].clone(),
            last_error: error[i].clone(),
            created_ms: created[i],
            updated_ms: updated[i],
            version: version[i],
        })
        .collect())
}

impl EmbeddedStore {
    /// Runs `f` over the tables a segment reads (`None`: no profiles yet), off the async runtime.
    async fn run_segment<T: Send + 'static>(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        f: impl FnOnce(
            &crate::segment::polars::Tables,
            LazyFrame,
            &str,
            &leadstream_schemas::segment::Segment,
        ) -> PolarsResult<T>
        + Send
        + 'static,
    ) -> Result<Option<T>, StoreError> {
        crate::segment::require_resolved(segment)?;
        let store = self.clone();
        let (workspace, segment) = (workspace.to_string(), segment.clone());
        tokio::task::spawn_blocking(move || {
            let Some(profiles) = store.scan("profiles")? else {
                return Ok(None);
            };
            let tables = crate::segment::polars::Tables {
                profiles: Some(profiles.clone()),
                events: store.scan("events")?,
                identities: store.scan("identities")?,
                set_members: store.scan("set_members")?,
            };
            let current = current_profiles(profiles, &workspace);
            f(&tables, current, &workspace, &segment)
                .map(Some)
                .map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }
}

/// The newest version of each profile of `workspace`.
fn current_profiles(scan: LazyFrame, workspace: &str) -> LazyFrame {
    scan.filter(col("workspace").eq(lit(workspace.to_string())))
        .sort(
            ["version"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .unique_stable_generic(Some(vec![col("profile_id")]), UniqueKeepStrategy::First)
}

/// Typed column access; a column a file does not have (written before it existed) reads as
/// defaults.
struct Columns<'a>(&'a DataFrame);

impl Columns<'_> {
    fn text(&self, name: &str) -> PolarsResult<Vec<String>> {
        let Ok(c) = self.0.column(name) else {
            return Ok(vec![String::new(); self.0.height()]);
        };
        Ok(c.as_materialized_series()
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    }

    fn num<T: PolarsNumericType>(&self, name: &str) -> PolarsResult<Vec<T::Native>>
    where
        T::Native: Default,
    {
        let Ok(c) = self.0.column(name) else {
            return Ok(vec![T::Native::default(); self.0.height()]);
        };
        let s = c.as_materialized_series().cast(&T::get_static_dtype())?;
        Ok(s.unpack::<T>()?
            .iter()
            .map(Option::unwrap_or_default)
            .collect())
    }
}

/// Reads [`ProfileRow`]s back out of a frame with the `profiles` columns.
pub fn profile_rows(df: &DataFrame) -> PolarsResult<Vec<ProfileRow>> {
    let c = Columns(df);
    let (account, account_traits, account_at, merged_into) = (
        c.text("account")?,
        c.text("account_traits")?,
        c.num::<Int64Type>("account_at_ms")?,
        c.text("merged_into")?,
    );
    let (workspace, profile_id, traits, counts, stage, grade, doc, state) = (
        c.text("workspace")?,
        c.text("profile_id")?,
        c.text("traits")?,
        c.text("counts")?,
        c.text("lifecycle_stage")?,
        c.text("grade")?,
        c.text("doc")?,
        c.text("state")?,
    );
    let (version, event_count, purchases) = (
        c.num::<UInt64Type>("version")?,
        c.num::<UInt64Type>("event_count")?,
        c.num::<UInt64Type>("purchase_count")?,
    );
    let (score, revenue) = (
        c.num::<Float64Type>("score")?,
        c.num::<Float64Type>("revenue")?,
    );
    let (first, last, updated, last_purchase) = (
        c.num::<Int64Type>("first_seen_ms")?,
        c.num::<Int64Type>("last_seen_ms")?,
        c.num::<Int64Type>("updated_at_ms")?,
        c.num::<Int64Type>("last_purchase_ms")?,
    );
    Ok((0..df.height())
        .map(|i| ProfileRow {
            workspace: workspace[i].clone(),
            profile_id: profile_id[i].clone(),
            version: version[i],
            traits: traits[i].clone(),
            counts: counts[i].clone(),
            event_count: event_count[i],
            score: score[i],
            lifecycle_stage: stage[i].clone(),
            first_seen_ms: first[i],
            last_seen_ms: last[i],
            updated_at_ms: updated[i],
            grade: grade[i].clone(),
            purchase_count: purchases[i],
            revenue: revenue[i],
            last_purchase_ms: last_purchase[i],
            doc: doc[i].clone(),
            state: state[i].clone(),
            account: account[i].clone(),
            account_traits: account_traits[i].clone(),
            account_at_ms: account_at[i],
            merged_into: merged_into[i].clone(),
        })
        .collect())
}

/// Reads [`ScoreChangeRow`]s out of a frame with the `score_changes` columns.
pub fn change_rows(df: &DataFrame) -> PolarsResult<Vec<ScoreChangeRow>> {
    let c = Columns(df);
    let (workspace, profile_id, message_id, kind, event, score, rule, model) = (
        c.text("workspace")?,
        c.text("profile_id")?,
        c.text("message_id")?,
        c.text("kind")?,
        c.text("event")?,
        c.text("score")?,
        c.text("rule")?,
        c.text("model")?,
    );
    let (at, seq) = (c.num::<Int64Type>("at_ms")?, c.num::<UInt32Type>("seq")?);
    let (points, before, after) = (
        c.num::<Float64Type>("points")?,
        c.num::<Float64Type>("before")?,
        c.num::<Float64Type>("after")?,
    );
    Ok((0..df.height())
        .map(|i| ScoreChangeRow {
            workspace: workspace[i].clone(),
            profile_id: profile_id[i].clone(),
            at_ms: at[i],
            message_id: message_id[i].clone(),
            seq: seq[i],
            kind: kind[i].clone(),
            event: event[i].clone(),
            score: score[i].clone(),
            rule: rule[i].clone(),
            points: points[i],
            before: before[i],
            after: after[i],
            model: model[i].clone(),
        })
        .collect())
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let store = self.clone();
        let invalid = |e: PolarsError| StoreError::Invalid(e.to_string());
        let frames = (
            (!batch.events.is_empty())
                .then(|| events_frame(&batch.events))
                .transpose()
                .map_err(invalid)?,
            (!batch.score_changes.is_empty())
                .then(|| changes_frame(&batch.score_changes))
                .transpose()
                .map_err(invalid)?,
            (!batch.profiles.is_empty())
                .then(|| profiles_frame(&batch.profiles))
                .transpose()
                .map_err(invalid)?,
            (!batch.handoffs.is_empty())
                .then(|| handoffs_frame(&batch.handoffs))
                .transpose()
                .map_err(invalid)?,
            (!batch.identities.is_empty())
                .then(|| identities_frame(&batch.identities))
                .transpose()
                .map_err(invalid)?,
        );
        tokio::task::spawn_blocking(move || {
            let (events, changes, profiles, handoffs, identities) = frames;
            if let Some(df) = events {
                store.write_file("events", df)?;
            }
            if let Some(df) = changes {
                store.write_file("score_changes", df)?;
            }
            if let Some(df) = handoffs {
                store.write_file("handoffs", df)?;
            }
            if let Some(df) = identities {
                store.write_file("identities", df)?;
            }
            if let Some(df) = profiles {
                store.write_file("profiles", df)?;
            }
            Ok(())
        })
        .await
        .map_err(unavailable)?
    }

    async fn profile(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Option<Profile>, StoreError> {
        let store = self.clone();
        let (workspace, profile_id) = (workspace.to_string(), profile_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(None);
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("profile_id").eq(lit(profile_id))),
                )
                .sort(
                    ["version"],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .limit(1)
                .collect()
                .map_err(unavailable)?;
            profile_rows(&df)
                .map_err(unavailable)?
                .into_iter()
                .next()
                .map(Profile::try_from)
                .transpose()
        })
        .await
        .map_err(unavailable)?
    }

    async fn load_profiles(&self) -> Result<Vec<ProfileRow>, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let df = scan.collect().map_err(unavailable)?;
            Ok(latest_versions(profile_rows(&df).map_err(unavailable)?))
        })
        .await
        .map_err(unavailable)?
    }

    async fn score_changes(
        &self,
        workspace: &str,
        profile_id: &str,
        limit: usize,
    ) -> Result<Vec<ScoreChangeRow>, StoreError> {
        let store = self.clone();
        let (workspace, profile_id) = (workspace.to_string(), profile_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("score_changes")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("profile_id").eq(lit(profile_id))),
                )
                .collect()
                .map_err(unavailable)?;
            Ok(distinct_changes(
                change_rows(&df).map_err(unavailable)?,
                limit,
            ))
        })
        .await
        .map_err(unavailable)?
    }

    async fn workspace_profiles(&self, workspace: &str) -> Result<Vec<Profile>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let df = current_profiles(scan, &workspace)
                .collect()
                .map_err(unavailable)?;
            profile_rows(&df)
                .map_err(unavailable)?
                .into_iter()
                .map(Profile::try_from)
                .collect()
        })
        .await
        .map_err(unavailable)?
    }

    async fn segment_members(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.run_segment(workspace, segment, move |tables, current, ws, seg| {
            crate::segment::polars::members(tables, current, ws, seg, now_ms)
        })
        .await
        .map(Option::unwrap_or_default)
    }

    async fn segment_preview(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
        sample: usize,
    ) -> Result<(u64, Vec<String>), StoreError> {
        self.run_segment(workspace, segment, move |tables, current, ws, seg| {
            crate::segment::polars::preview(tables, current, ws, seg, now_ms, sample)
        })
        .await
        .map(Option::unwrap_or_default)
    }

    async fn write_object(&self, row: &ObjectRow) -> Result<(), StoreError> {
        let store = self.clone();
        let df = objects_frame(std::slice::from_ref(row))
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        tokio::task::spawn_blocking(move || store.write_file("objects", df))
            .await
            .map_err(unavailable)?
    }

    async fn objects(&self, workspace: &str, kind: &str) -> Result<Vec<ObjectRow>, StoreError> {
        let store = self.clone();
        let (workspace, kind) = (workspace.to_string(), kind.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("objects")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("kind").eq(lit(kind))),
                )
                .collect()
                .map_err(unavailable)?;
            Ok(latest_objects(object_rows(&df).map_err(unavailable)?))
        })
        .await
        .map_err(unavailable)?
    }

    async fn write_set_members(&self, rows: &[SetMemberRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let store = self.clone();
        let df = set_members_frame(rows).map_err(|e| StoreError::Invalid(e.to_string()))?;
        tokio::task::spawn_blocking(move || store.write_file("set_members", df))
            .await
            .map_err(unavailable)?
    }

    async fn set_members(&self, workspace: &str, set_id: &str) -> Result<Vec<String>, StoreError> {
        let store = self.clone();
        let (workspace, set_id) = (workspace.to_string(), set_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("set_members")? else {
                return Ok(Vec::new());
            };
            crate::segment::polars::set_members(scan, &workspace, &set_id).map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    async fn campaign_responders(
        &self,
        workspace: &str,
        query: &crate::campaign::ResponderQuery,
    ) -> Result<Vec<leadstream_schemas::campaign::Responder>, StoreError> {
        let store = self.clone();
        let (workspace, query) = (workspace.to_string(), query.clone());
        tokio::task::spawn_blocking(move || {
            crate::campaign::polars::responders(
                store.scan("events")?,
                store.scan("identities")?,
                store.scan("handoffs")?,
                &workspace,
                &query,
            )
            .map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    async fn rfm(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        as_of_ms: i64,
    ) -> Result<RfmReport, StoreError> {
        let store = self.clone();
        let (workspace, spec) = (workspace.to_string(), spec.clone());
        tokio::task::spawn_blocking(move || {
            let (rows, cuts) = crate::rfm::polars::summary(
                store.scan("events")?,
                store.scan("identities")?,
                &workspace,
                &spec,
                as_of_ms,
            )
            .map_err(unavailable)?;
            Ok(RfmReport::from_sums(as_of_ms, spec, cuts, &rows))
        })
        .await
        .map_err(unavailable)?
    }

    async fn rfm_people(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        as_of_ms: i64,
    ) -> Result<Vec<RfmPerson>, StoreError> {
        let store = self.clone();
        let (workspace, spec) = (workspace.to_string(), spec.clone());
        tokio::task::spawn_blocking(move || {
            let (scored, _) = crate::rfm::polars::scored(
                store.scan("events")?,
                store.scan("identities")?,
                &workspace,
                &spec,
                as_of_ms,
            )
            .map_err(unavailable)?;
            let df = scored
                .sort(["person"], SortMultipleOptions::default())
                .collect()
                .map_err(unavailable)?;
            let c = Columns(&df);
            let text = |n: &str| c.text(n).map_err(unavailable);
            let float = |n: &str| c.num::<Float64Type>(n).map_err(unavailable);
            let score = |n: &str| c.num::<Int32Type>(n).map_err(unavailable);
            let (person, segment) = (text("person")?, text("segment")?);
            let (r, f, m) = (float("r")?, float("f")?, float("m")?);
            let (rs, fs, ms) = (score("rs")?, score("fs")?, score("ms")?);
            Ok((0..df.height())
                .map(|i| RfmPerson {
                    profile_id: person[i].clone(),
                    recency_days: r[i],
                    frequency: f[i],
                    monetary: m[i],
                    r: u8::try_from(rs[i]).unwrap_or_default(),
                    f: u8::try_from(fs[i]).unwrap_or_default(),
                    m: u8::try_from(ms[i]).unwrap_or_default(),
                    segment: segment[i].clone(),
                })
                .collect())
        })
        .await
        .map_err(unavailable)?
    }

    async fn rfm_migration(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Move>, StoreError> {
        let store = self.clone();
        let (workspace, spec) = (workspace.to_string(), spec.clone());
        tokio::task::spawn_blocking(move || {
            let rows = crate::rfm::polars::migration(
                store.scan("events")?,
                store.scan("identities")?,
                &workspace,
                &spec,
                from_ms,
                to_ms,
            )
            .map_err(unavailable)?;
            Ok(super::moves(rows))
        })
        .await
        .map_err(unavailable)?
    }

    async fn ids_by_email(
        &self,
        workspace: &str,
        emails: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.clone();
        let workspace = workspace.to_string();
        let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let wanted = lit(Series::new("emails".into(), lower)).implode(false);
            let df = current_profiles(scan, &workspace)
                .filter(col("merged_into").eq(lit("")))
                .select([
                    col("traits")
                        .str()
                        .json_path_match(lit("$.email"))
                        .str()
                        .to_lowercase()
                        .alias("e"),
                    col("profile_id"),
                ])
                .filter(col("e").is_in(wanted, false).fill_null(lit(false)))
                .sort(["e", "profile_id"], SortMultipleOptions::default())
                .collect()
                .map_err(unavailable)?;
            let c = Columns(&df);
            let (e, id) = (
                c.text("e").map_err(unavailable)?,
                c.text("profile_id").map_err(unavailable)?,
            );
            Ok(e.into_iter().zip(id).collect())
        })
        .await
        .map_err(unavailable)?
    }

    async fn profiles_by_ids(
        &self,
        workspace: &str,
        ids: &[String],
    ) -> Result<Vec<Profile>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.clone();
        let (workspace, ids) = (workspace.to_string(), ids.to_vec());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let wanted = lit(Series::new("ids".into(), ids)).implode(false);
            let df = current_profiles(scan, &workspace)
                .filter(col("profile_id").is_in(wanted, false))
                .collect()
                .map_err(unavailable)?;
            profile_rows(&df)
                .map_err(unavailable)?
                .into_iter()
                .map(Profile::try_from)
                .collect()
        })
        .await
        .map_err(unavailable)?
    }

    async fn account_members(
        &self,
        workspace: &str,
        account_id: &str,
    ) -> Result<Vec<Profile>, StoreError> {
        let store = self.clone();
        let (workspace, account_id) = (workspace.to_string(), account_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let df = current_profiles(scan, &workspace)
                .filter(col("account").eq(lit(account_id.clone())))
                .collect()
                .map_err(unavailable)?;
            members(profile_rows(&df).map_err(unavailable)?, &account_id)
        })
        .await
        .map_err(unavailable)?
    }

    async fn accounts(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let stage = col("lifecycle_stage");
            let df = current_profiles(scan, &workspace)
                .filter(
                    col("account")
                        .neq(lit(""))
                        .and(col("merged_into").eq(lit(""))),
                )
                .group_by([col("account")])
                .agg([
                    col("account_traits")
                        .sort_by(
                            [col("account_at_ms")],
                            SortMultipleOptions::default().with_order_descending(true),
                        )
                        .first()
                        .alias("traits"),
                    len().cast(DataType::UInt64).alias("people"),
                    col("score").sum().alias("score"),
                    col("score").max().alias("max_score"),
                    stage
                        .clone()
                        .eq(lit("mql"))
                        .or(stage.eq(lit("sales_accepted")))
                        .cast(DataType::UInt64)
                        .sum()
                        .alias("qualified_people"),
                    col("event_count").sum().alias("event_count"),
                    col("revenue").sum().alias("revenue"),
                    col("last_seen_ms").max().alias("last_seen_ms"),
                ])
                .sort_by_exprs(
                    [col("score"), col("account")],
                    SortMultipleOptions::default().with_order_descending_multi([true, false]),
                )
                .limit(limit as IdxSize)
                .collect()
                .map_err(unavailable)?;
            let c = Columns(&df);
            let (ids, traits) = (
                c.text("account").map_err(unavailable)?,
                c.text("traits").map_err(unavailable)?,
            );
            let (people, qualified, events) = (
                c.num::<UInt64Type>("people").map_err(unavailable)?,
                c.num::<UInt64Type>("qualified_people")
                    .map_err(unavailable)?,
                c.num::<UInt64Type>("event_count").map_err(unavailable)?,
            );
            let (score, max_score, revenue) = (
                c.num::<Float64Type>("score").map_err(unavailable)?,
                c.num::<Float64Type>("max_score").map_err(unavailable)?,
                c.num::<Float64Type>("revenue").map_err(unavailable)?,
            );
            let last_seen = c.num::<Int64Type>("last_seen_ms").map_err(unavailable)?;
            Ok((0..df.height())
                .map(|i| {
                    AccountSummary::from(AccountSummaryRow {
                        account_id: ids[i].clone(),
                        traits: traits[i].clone(),
                        people: people[i],
                        score: score[i],
                        max_score: max_score[i],
                        qualified_people: qualified[i],
                        event_count: events[i],
                        revenue: revenue[i],
                        last_seen_ms: last_seen[i],
                    })
                })
                .collect())
        })
        .await
        .map_err(unavailable)?
    }

    async fn events(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("events")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("timestamp_ms").gt_eq(lit(from_ms)))
                        .and(col("timestamp_ms").lt(lit(to_ms))),
                )
                .sort(
                    ["timestamp_ms", "message_id"],
                    SortMultipleOptions::default().with_maintain_order(true),
                )
                .limit(limit as IdxSize)
                .collect()
                .map_err(unavailable)?;
            event_rows(&df).map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    async fn person_events(
        &self,
        workspace: &str,
        ids: &[String],
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let store = self.clone();
        let (workspace, ids) = (workspace.to_string(), ids.to_vec());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("events")? else {
                return Ok(Vec::new());
            };
            let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
            let wanted = lit(Series::new("ids".into(), ids)).implode(false);
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("profile_id").is_in(wanted, false))
                        .and(
                            col("timestamp_ms")
                                .lt(lit(before_ms))
                                .or(col("timestamp_ms")
                                    .eq(lit(before_ms))
                                    .and(col("message_id").lt(lit(before_id)))),
                        ),
                )
                .sort(
                    ["timestamp_ms", "message_id"],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .limit((limit + 16) as IdxSize)
                .collect()
                .map_err(unavailable)?;
            Ok(super::distinct_messages(
                event_rows(&df).map_err(unavailable)?,
                limit,
            ))
        })
        .await
        .map_err(unavailable)?
    }

    async fn sets_of(&self, workspace: &str, member_id: &str) -> Result<Vec<String>, StoreError> {
        let store = self.clone();
        let (workspace, member_id) = (workspace.to_string(), member_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("set_members")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("member_id").eq(lit(member_id))),
                )
                .sort(
                    ["version"],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .unique_stable_generic(Some(vec![col("set_id")]), UniqueKeepStrategy::First)
                .filter(col("removed").eq(lit(0u32)))
                .select([col("set_id")])
                .sort(["set_id"], SortMultipleOptions::default())
                .collect()
                .map_err(unavailable)?;
            Columns(&df).text("set_id").map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    async fn handoffs(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Vec<HandoffRow>, StoreError> {
        let store = self.clone();
        let (workspace, profile_id) = (workspace.to_string(), profile_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("handoffs")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("profile_id").eq(lit(profile_id))),
                )
                .collect()
                .map_err(unavailable)?;
            Ok(distinct_handoffs(handoff_rows(&df).map_err(unavailable)?))
        })
        .await
        .map_err(unavailable)?
    }

    async fn identities(&self, workspace: &str) -> Result<Vec<IdentityRow>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("identities")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(col("workspace").eq(lit(workspace)))
                .collect()
                .map_err(unavailable)?;
            Ok(distinct_identities(
                identity_rows(&df).map_err(unavailable)?,
            ))
        })
        .await
        .map_err(unavailable)?
    }

    async fn write_deliveries(&self, rows: &[DeliveryRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let df = deliveries_frame(rows).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_file("webhook_deliveries", df))
            .await
            .map_err(unavailable)?
    }

    async fn deliveries(
        &self,
        workspace: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        let status = status.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("webhook_deliveries")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(col("workspace").eq(lit(workspace)))
                .collect()
                .map_err(unavailable)?;
            let mut rows = latest_deliveries(delivery_rows(&df).map_err(unavailable)?);
            rows.retain(|r| status.as_deref().is_none_or(|s| r.status == s));
            rows.truncate(limit);
            Ok(rows)
        })
        .await
        .map_err(unavailable)?
    }

    async fn check(&self) -> Result<(), StoreError> {
        std::fs::metadata(self.table_dir("profiles"))
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ws: &str, id: &str, version: u64, score: f64) -> ProfileRow {
        ProfileRow::from(&Profile {
            version,
            score,
            ..Profile::new(ws, id)
        })
    }

    #[tokio::test]
    async fn files_written_before_a_column_existed_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        // A profiles file as the first release wrote it: without grade, doc, state, ….
        let old = df!(
            "workspace" => ["w"],
            "profile_id" => ["p"],
            "version" => [1u64],
            "traits" => ["{}"],
            "counts" => ["{}"],
            "event_count" => [1u64],
            "score" => [4.0f64],
            "lifecycle_stage" => ["name"],
            "first_seen_ms" => [1i64],
            "last_seen_ms" => [1i64],
            "updated_at_ms" => [1i64],
        )
        .expect("frame");
        store.write_file("profiles", old).expect("old file");
        store
            .write(&WriteBatch {
                profiles: vec![row("w", "q", 1, 2.0)],
                ..WriteBatch::default()
            })
            .await
            .expect("new file");
        let p = store.profile("w", "p").await.expect("read").expect("found");
        assert_eq!(p.score, 4.0);
        assert_eq!(store.load_profiles().await.expect("load").len(), 2);
    }

    #[tokio::test]
    async fn newest_version_wins_and_workspaces_stay_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        assert!(store.profile("w", "p").await.expect("read").is_none());
        let profiles = |rows: Vec<ProfileRow>| WriteBatch {
            profiles: rows,
            ..WriteBatch::default()
        };
        store
            .write(&profiles(vec![
                row("w", "p", 1, 1.0),
                row("w", "q", 1, 5.0),
            ]))
            .await
            .expect("write");
        store
            .write(&profiles(vec![
                row("w", "p", 3, 3.0),
                row("other", "p", 9, 9.0),
            ]))
            .await
            .expect("write");
        store
            .write(&profiles(vec![row("w", "p", 2, 2.0)]))
            .await
            .expect("write");
        let p = store.profile("w", "p").await.expect("read").expect("found");
        assert_eq!((p.version, p.score), (3, 3.0));
        assert!(store.profile("w", "nobody").await.expect("read").is_none());
        let mut all = store.load_profiles().await.expect("load");
        all.sort_by(|a, b| (&a.workspace, &a.profile_id).cmp(&(&b.workspace, &b.profile_id)));
        let got: Vec<_> = all
            .iter()
            .map(|p| (p.workspace.as_str(), p.profile_id.as_str(), p.version))
            .collect();
        assert_eq!(got, vec![("other", "p", 9), ("w", "p", 3), ("w", "q", 1)]);

        // Score changes come back newest first, replayed duplicates once.
        let change = |at_ms: i64, seq: u32, rule: &str| ScoreChangeRow {
            workspace: "w".into(),
            profile_id: "p".into(),
            at_ms,
            message_id: format!("m{at_ms}"),
            seq,
            kind: "page_viewed".into(),
            event: String::new(),
            score: "engagement".into(),
            rule: rule.into(),
            points: 1.0,
            before: 0.0,
            after: 1.0,
            model: "d".into(),
        };
        let changes = |rows| WriteBatch {
            score_changes: rows,
            ..WriteBatch::default()
        };
        store
            .write(&changes(vec![
                change(1, 0, "a"),
                change(2, 0, "decay"),
                change(2, 1, "b"),
            ]))
            .await
            .expect("write");
        store
            .write(&changes(vec![change(1, 0, "a")]))
            .await
            .expect("write");
        let got = store.score_changes("w", "p", 10).await.expect("changes");
        assert_eq!(
            got.iter().map(|c| (c.at_ms, c.seq)).collect::<Vec<_>>(),
            vec![(2, 1), (2, 0), (1, 0)]
        );
        assert!(
            store
                .score_changes("w", "q", 10)
                .await
                .expect("changes")
                .is_empty()
        );
    }
}
