//! The embedded store: Parquet files under `<data_dir>/store/`, queried with polars.
//!
//! Layout: one directory per table (`events/`, `profiles/`, `score_changes/`, … : [`codec::TABLES`]),
//! one Parquet file per table per write, named by a UUIDv7 so names sort by time, with the columns
//! of the table's row (`store/rows.rs`). Every file is written to a `.tmp` name, fsynced and
//! renamed, so a reader never sees half a file and a crash leaves at most an orphaned `.tmp`
//! (removed at open). Small files are merged into larger ones in the background ([`compact`]).
//! Versioned tables (`profiles`, `objects`, …) keep every version; a read takes
//! the highest `version`, as ClickHouse's `ReplacingMergeTree` does.
//!
//! The folder, as `store/clickhouse/` is: this file (opening, scanning, writing files, the
//! scorer's writes), [`codec`] (rows ⇄ frames, generic over the table descriptions),
//! [`attribution`] (events attributed to people), `profiles`, `objects` and `analytics` (the
//! store's roles), whose lazy queries [`segment`], [`rfm`] and [`campaign`] build.

mod analytics;
pub mod attribution;
pub mod campaign;
pub mod codec;
mod compact;
mod objects;
mod overview;
mod profiles;
pub mod rfm;
pub mod segment;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use polars::prelude::*;

use super::{ScorerWrites, StateRow, Store, StoreError, Table, WriteBatch, latest_versions};

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[derive(Clone)]
pub struct EmbeddedStore {
    root: PathBuf,
    /// Held for reading while a read scans and for writing while a merge swaps its files in
    /// (`compact.rs`): a read never sees a merged file beside its inputs.
    files: Arc<std::sync::RwLock<()>>,
    /// A merge is running (one at a time).
    compacting: Arc<std::sync::atomic::AtomicBool>,
}

impl EmbeddedStore {
    pub fn open(root: &Path) -> Result<EmbeddedStore, StoreError> {
        for table in codec::TABLES {
            let dir = root.join(table);
            std::fs::create_dir_all(&dir).map_err(unavailable)?;
            for entry in std::fs::read_dir(&dir).map_err(unavailable)? {
                let path = entry.map_err(unavailable)?.path();
                if path.extension().is_some_and(|e| e == "tmp") {
                    std::fs::remove_file(&path).map_err(unavailable)?;
                }
            }
            compact::recover(&dir)?;
        }
        Ok(EmbeddedStore {
            root: root.to_path_buf(),
            files: Arc::default(),
            compacting: Arc::default(),
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
        let glob = format!("{}/*.parquet", self.table_dir(table).display());
        scan_files(table, [PlRefPath::new(glob)]).map(Some)
    }

    fn write_file(&self, table: &str, df: DataFrame, order: Order) -> Result<(), StoreError> {
        let dir = self.table_dir(table);
        let name = uuid::Uuid::now_v7();
        let tmp = self.write_tmp(table, name, df, order)?;
        std::fs::rename(&tmp, dir.join(format!("{name}.parquet"))).map_err(unavailable)?;
        sync_dir(&dir)
    }

    /// Writes `df` (in the table's key order: sorted here unless `order` says it is) to
    /// `<name>.parquet.tmp` in `table`'s folder and fsyncs it; returns its path.
    fn write_tmp(
        &self,
        table: &str,
        name: uuid::Uuid,
        mut df: DataFrame,
        order: Order,
    ) -> Result<PathBuf, StoreError> {
        let tmp = self.table_dir(table).join(format!("{name}.parquet.tmp"));
        let key: Vec<&str> = codec::order_by(table)
            .iter()
            .copied()
            .filter(|c| df.column(c).is_ok())
            .collect();
        if order == Order::Any && !key.is_empty() && df.height() > 1 {
            // On this thread too (see the encoding below): merges sort what they write.
            df = df
                .sort(
                    key,
                    SortMultipleOptions::default()
                        .with_maintain_order(true)
                        .with_multithreaded(false),
                )
                .map_err(unavailable)?;
        }
        let mut file = File::create(&tmp).map_err(unavailable)?;
        // Encoded on the calling thread, not on polars' shared pool: the scorer's and the merges'
        // threads run at a lower priority than the collector's (`leadstream::spawn_scorer`), the
        // shared pool at the normal one, so a parallel write would take the CPU the collector
        // needs during a burst.
        ParquetWriter::new(&mut file)
            .set_parallel(false)
            .with_row_group_size(Some(codec::ROW_GROUP))
            .finish(&mut df)
            .map_err(unavailable)?;
        file.sync_all().map_err(unavailable)?;
        Ok(tmp)
    }
}

/// The row order of a frame handed to [`EmbeddedStore::write_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Already in the table's key order ([`codec::frame`]'s frames).
    Key,
    /// Any order: sorted before it is written.
    Any,
}

impl EmbeddedStore {
    /// Runs `f` on a blocking thread (polars scans and file writes block), with no merge
    /// swapping files meanwhile.
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&EmbeddedStore) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let _files = store.files.read().unwrap_or_else(|e| e.into_inner());
            f(&store)
        })
        .await
        .map_err(unavailable)?
    }

    /// The frame `query` selects from `table`'s scan; `None` while the table has no file.
    async fn select_frame(
        &self,
        table: &'static str,
        query: impl FnOnce(LazyFrame) -> LazyFrame + Send + 'static,
    ) -> Result<Option<DataFrame>, StoreError> {
        self.blocking(move |store| match store.scan(table)? {
            Some(scan) => query(scan).collect().map(Some).map_err(unavailable),
            None => Ok(None),
        })
        .await
    }

    /// The rows of `T`'s table that `query` selects from its scan (none while it has no file).
    async fn select<T: Table>(
        &self,
        query: impl FnOnce(LazyFrame) -> LazyFrame + Send + 'static,
    ) -> Result<Vec<T>, StoreError> {
        match self.select_frame(T::TABLE, query).await? {
            Some(df) => codec::rows::<T>(&df).map_err(unavailable),
            None => Ok(Vec::new()),
        }
    }

    /// Appends `rows` to `T`'s table as one file (nothing for no rows).
    async fn append<T: Table>(&self, rows: &[T]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let df = codec::frame(rows).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.blocking(move |store| store.write_file(T::TABLE, df, Order::Key))
            .await?;
        self.compact_in_background();
        Ok(())
    }

    /// Runs `f` over the tables a segment reads (`None`: no profiles yet), off the async runtime.
    async fn run_segment<T: Send + 'static>(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        f: impl FnOnce(
            &segment::Tables,
            LazyFrame,
            &str,
            &leadstream_schemas::segment::Segment,
        ) -> PolarsResult<T>
        + Send
        + 'static,
    ) -> Result<Option<T>, StoreError> {
        crate::segment::require_resolved(segment)?;
        let (workspace, segment) = (workspace.to_string(), segment.clone());
        self.blocking(move |store| {
            let Some(profiles) = store.scan("profiles")? else {
                return Ok(None);
            };
            let tables = segment::Tables {
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
    }
}

/// A lazy scan of `table`'s files `paths` (or globs) with the table's current columns: files
/// written before a column existed read it as null (so a data directory survives upgrades).
fn scan_files(
    table: &str,
    paths: impl IntoIterator<Item = PlRefPath>,
) -> Result<LazyFrame, StoreError> {
    let args = ScanArgsParquet {
        schema: Some(Arc::new(codec::schema(table)?)),
        allow_missing_columns: true,
        ..ScanArgsParquet::default()
    };
    LazyFrame::scan_parquet_files(paths.into_iter().collect(), args).map_err(unavailable)
}

/// Makes the entries of `dir` (a renamed or removed file) durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(unavailable)
}

/// The newest version of each profile in `scan` (profile rows).
fn newest_profiles(scan: LazyFrame) -> LazyFrame {
    scan.sort(
        ["version"],
        SortMultipleOptions::default().with_order_descending(true),
    )
    .unique_stable_generic(
        Some(vec![col("workspace"), col("profile_id")]),
        UniqueKeepStrategy::First,
    )
}

/// The newest version of each profile of `workspace`.
fn current_profiles(scan: LazyFrame, workspace: &str) -> LazyFrame {
    newest_profiles(scan.filter(of_workspace(workspace)))
}

/// `column` is one of `values`, for a column that is never null (ids). Not wrapped in a
/// `fill_null` as other tests are: polars' row-group statistics skip a file's groups for a bare
/// `is_in` (a person's events among 10M: 8 ms) and read them all behind a `fill_null` (129 ms).
pub(crate) fn one_of(column: Expr, values: &[String]) -> Expr {
    if values.is_empty() {
        return lit(false);
    }
    column.is_in(
        lit(Series::new("values".into(), values.to_vec())).implode(false),
        false,
    )
}

/// Rows of `workspace`.
fn of_workspace(workspace: &str) -> Expr {
    col("workspace").eq(lit(workspace.to_string()))
}

/// Rows of one profile of `workspace`.
fn of_profile(workspace: &str, profile_id: &str) -> Expr {
    of_workspace(workspace).and(col("profile_id").eq(lit(profile_id.to_string())))
}

#[async_trait]
impl ScorerWrites for EmbeddedStore {
    async fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        // The tables' files at once (each on a blocking thread of its own), then the profiles:
        // a profile version is never visible before the events it counts.
        tokio::try_join!(
            self.append(&batch.events),
            self.append(&batch.score_changes),
            self.append(&batch.handoffs),
            self.append(&batch.identities),
        )?;
        self.append(&batch.profiles).await
    }

    /// Files written before rows carried their partition read it as 0, the embedded log's one.
    async fn load_profiles(&self, partitions: &[i32]) -> Result<Vec<StateRow>, StoreError> {
        self.load_profiles_where(None, partitions).await
    }

    async fn load_workspace_profiles(
        &self,
        workspace: &str,
        partitions: &[i32],
    ) -> Result<Vec<StateRow>, StoreError> {
        self.load_profiles_where(Some(workspace.to_string()), partitions)
            .await
    }
}

impl EmbeddedStore {
    async fn load_profiles_where(
        &self,
        workspace: Option<String>,
        partitions: &[i32],
    ) -> Result<Vec<StateRow>, StoreError> {
        let wanted: Vec<i64> = partitions.iter().map(|&p| i64::from(p)).collect();
        let wanted = lit(Series::new("partitions".into(), wanted)).implode(false);
        let rows = self
            .select::<StateRow>(move |scan| {
                let partition = col("log_partition").fill_null(lit(0i64));
                let on_partitions = partition
                    .clone()
                    .is_in(wanted, false)
                    .or(partition.lt(lit(0i64)));
                let scan = match workspace {
                    None => scan.filter(on_partitions),
                    Some(w) => scan.filter(col("workspace").eq(lit(w)).and(on_partitions)),
                };
                scan.select(
                    StateRow::COLUMNS
                        .iter()
                        .map(|c| col(c.name))
                        .collect::<Vec<_>>(),
                )
            })
            .await?;
        Ok(latest_versions(rows))
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn check(&self) -> Result<(), StoreError> {
        std::fs::metadata(self.table_dir("profiles"))
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ProfileReads, ProfileRow, ScoreChangeRow};
    use leadstream_schemas::Profile;

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
        store
            .write_file("profiles", old, Order::Any)
            .expect("old file");
        store
            .write(&WriteBatch {
                profiles: vec![row("w", "q", 1, 2.0)],
                ..WriteBatch::default()
            })
            .await
            .expect("new file");
        let p = store.profile("w", "p").await.expect("read").expect("found");
        assert_eq!(p.score, 4.0);
        assert_eq!(store.load_profiles(&[0]).await.expect("load").len(), 2);
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
        let mut all = store.load_profiles(&[0]).await.expect("load");
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

    #[test]
    fn files_are_written_in_key_order_in_row_groups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        // Rows arrive in no order: people interleaved, each person's newest first.
        let n = 3 * codec::ROW_GROUP + 5;
        let ids: Vec<String> = (0..n).map(|i| format!("p{:03}", (i * 7) % 997)).collect();
        let ts: Vec<i64> = (0..n as i64).rev().collect();
        let df = df!("workspace" => vec!["w"; n], "profile_id" => ids, "timestamp_ms" => ts)
            .expect("frame");
        store.write_file("events", df, Order::Any).expect("write");
        let path = std::fs::read_dir(store.table_dir("events"))
            .expect("dir")
            .next()
            .expect("one file")
            .expect("entry")
            .path();
        let mut reader = ParquetReader::new(File::open(&path).expect("open file"));
        let groups = reader.get_metadata().expect("metadata").row_groups.len();
        // polars splits a frame into height / size groups: here 3 of ~32.8k rows.
        assert_eq!(
            groups,
            n / codec::ROW_GROUP,
            "{n} rows in groups of ~{}",
            codec::ROW_GROUP
        );
        let back = reader.finish().expect("read");
        let keys: Vec<(String, i64)> = back
            .column("profile_id")
            .expect("ids")
            .str()
            .expect("text")
            .iter()
            .zip(
                back.column("timestamp_ms")
                    .expect("ts")
                    .i64()
                    .expect("int")
                    .iter(),
            )
            .map(|(p, t)| (p.expect("id").to_string(), t.expect("time")))
            .collect();
        assert_eq!(keys.len(), n);
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "sorted by person, then time"
        );
    }
}
