//! The embedded store: Parquet files under `<data_dir>/store/`, queried with polars.
//!
//! Layout: `events/*.parquet` and `profiles/*.parquet`, one file per table per write, named by a
//! UUIDv7 so names sort by time. Columns are those of [`EventRow`] and [`ProfileRow`]. Every file is
//! written to a `.tmp` name, fsynced and renamed, so a reader never sees half a file and a crash
//! leaves at most an orphaned `.tmp` (removed at open). `profiles` keeps every version; a read takes
//! the highest `version`, as ClickHouse's `ReplacingMergeTree` does.

use std::fs::File;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use leadstream_schemas::Profile;
use polars::prelude::*;

use super::{EventRow, ProfileRow, Store, StoreError, latest_versions};

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[derive(Clone)]
pub struct EmbeddedStore {
    root: PathBuf,
}

impl EmbeddedStore {
    pub fn open(root: &Path) -> Result<EmbeddedStore, StoreError> {
        for table in ["events", "profiles"] {
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

    /// A lazy scan over every Parquet file of `table`; `None` while the table has no file.
    pub fn scan(&self, table: &str) -> Result<Option<LazyFrame>, StoreError> {
        if !self.has_files(table)? {
            return Ok(None);
        }
        let glob = format!("{}/*.parquet", self.table_dir(table).display());
        LazyFrame::scan_parquet(PlRefPath::new(glob), ScanArgsParquet::default())
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
    )
}

/// Reads [`ProfileRow`]s back out of a frame with the `profiles` columns.
pub fn profile_rows(df: &DataFrame) -> PolarsResult<Vec<ProfileRow>> {
    let text = |name: &str| -> PolarsResult<Vec<String>> {
        Ok(df
            .column(name)?
            .as_materialized_series()
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    };
    let i64s = |name: &str| -> PolarsResult<Vec<i64>> {
        Ok(df
            .column(name)?
            .as_materialized_series()
            .i64()?
            .iter()
            .map(Option::unwrap_or_default)
            .collect())
    };
    let u64s = |name: &str| -> PolarsResult<Vec<u64>> {
        Ok(df
            .column(name)?
            .as_materialized_series()
            .u64()?
            .iter()
            .map(Option::unwrap_or_default)
            .collect())
    };
    let (workspace, profile_id, traits, counts, stage) = (
        text("workspace")?,
        text("profile_id")?,
        text("traits")?,
        text("counts")?,
        text("lifecycle_stage")?,
    );
    let (version, event_count) = (u64s("version")?, u64s("event_count")?);
    let score: Vec<f64> = df
        .column("score")?
        .as_materialized_series()
        .f64()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect();
    let (first, last, updated) = (
        i64s("first_seen_ms")?,
        i64s("last_seen_ms")?,
        i64s("updated_at_ms")?,
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
        })
        .collect())
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn write(
        &self,
        events: Vec<EventRow>,
        profiles: Vec<ProfileRow>,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            if !events.is_empty() {
                store.write_file(
                    "events",
                    events_frame(&events).map_err(|e| StoreError::Invalid(e.to_string()))?,
                )?;
            }
            if !profiles.is_empty() {
                store.write_file(
                    "profiles",
                    profiles_frame(&profiles).map_err(|e| StoreError::Invalid(e.to_string()))?,
                )?;
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

    async fn load_profiles(&self) -> Result<Vec<Profile>, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let df = scan.collect().map_err(unavailable)?;
            latest_versions(profile_rows(&df).map_err(unavailable)?)
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
    async fn newest_version_wins_and_workspaces_stay_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        assert!(store.profile("w", "p").await.expect("read").is_none());
        store
            .write(vec![], vec![row("w", "p", 1, 1.0), row("w", "q", 1, 5.0)])
            .await
            .expect("write");
        store
            .write(
                vec![],
                vec![row("w", "p", 3, 3.0), row("other", "p", 9, 9.0)],
            )
            .await
            .expect("write");
        store
            .write(vec![], vec![row("w", "p", 2, 2.0)])
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
    }
}
