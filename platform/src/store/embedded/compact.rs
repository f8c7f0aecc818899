//! Compaction: a table's small files merged into larger ones, in the background.
//!
//! Every store write adds one file per table it touches (the scorer writes about once a second
//! while events arrive), and every read scans all of a table's files: without merging, a day of
//! steady traffic leaves hundreds of thousands of files and a profile lookup reads the footer of
//! each. Files are merged by size tier (a tier is a power of ten of bytes): once a tier holds
//! [`FANIN`] files, its oldest [`FANIN`] become one file (in the table's key order, as every
//! written file is). A file is rewritten about once per tier it passes through, so the bytes
//! written grow with the logarithm of the table, and the number of files with its size, not its
//! age. Files of [`LARGEST`] bytes or more are left alone (a merge holds its inputs in memory).
//! In `profiles`, a merge keeps only the newest version of each profile among its inputs: every
//! read takes the newest version anyway (as ClickHouse's `ReplacingMergeTree` merges do).
//!
//! Atomicity: the merged file is written under a `.tmp` name and fsynced; a `<name>.merged` file
//! listing the inputs is written and fsynced; then, while no read is running (the store's files
//! lock), the merged file is renamed into place and the inputs removed. A read sees the inputs or
//! the merged file, never both. After a crash, [`recover`] (run at open) finishes what a
//! `.merged` file names: the inputs go when the merged file is in place; otherwise the merge never
//! happened.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{EmbeddedStore, Order, codec, newest_profiles, scan_files, sync_dir, unavailable};
use crate::store::StoreError;

/// Files of one tier merged at once.
pub const FANIN: usize = 10;
/// Files this large or larger are not merged again.
pub const LARGEST: u64 = 16 << 20;

/// A table's data file: its path and size.
struct DataFile {
    path: PathBuf,
    bytes: u64,
}

/// The size tier: 0 below 10 KB, then one per power of ten.
fn tier(bytes: u64) -> u32 {
    bytes.max(1).ilog10().saturating_sub(3)
}

fn data_files(dir: &Path) -> Result<Vec<DataFile>, StoreError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unavailable)? {
        let entry = entry.map_err(unavailable)?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "parquet") {
            // A file removed meanwhile (by nothing else today) is simply not listed.
            if let Ok(meta) = entry.metadata() {
                files.push(DataFile {
                    path,
                    bytes: meta.len(),
                });
            }
        }
    }
    // UUIDv7 names: oldest first.
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The oldest [`FANIN`] files of the lowest tier that has that many, if any.
fn pick(files: Vec<DataFile>) -> Option<Vec<DataFile>> {
    let mut tiers: BTreeMap<u32, Vec<DataFile>> = BTreeMap::new();
    for f in files.into_iter().filter(|f| f.bytes < LARGEST) {
        tiers.entry(tier(f.bytes)).or_default().push(f);
    }
    tiers.into_values().find(|t| t.len() >= FANIN).map(|mut t| {
        t.truncate(FANIN);
        t
    })
}

impl EmbeddedStore {
    /// Merges `table`'s files until no tier holds [`FANIN`] of them; returns the merges done.
    pub fn compact(&self, table: &str) -> Result<usize, StoreError> {
        let dir = self.table_dir(table);
        let mut merges = 0;
        while let Some(inputs) = pick(data_files(&dir)?) {
            self.merge(table, &inputs)?;
            merges += 1;
        }
        Ok(merges)
    }

    fn merge(&self, table: &str, inputs: &[DataFile]) -> Result<(), StoreError> {
        let dir = self.table_dir(table);
        let paths = inputs
            .iter()
            .map(|f| PlRefPath::new(f.path.to_string_lossy().as_ref()));
        let mut merged = scan_files(table, paths)?;
        if table == <crate::store::ProfileRow as crate::store::Table>::TABLE {
            merged = newest_profiles(merged);
        }
        let df = merged.collect().map_err(unavailable)?;
        let name = uuid::Uuid::now_v7();
        let tmp = self.write_tmp(table, name, df, Order::Any)?;
        let names: Vec<String> = inputs
            .iter()
            .filter_map(|f| f.path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        let plan = dir.join(format!("{name}.merged"));
        let mut file = File::create(&plan).map_err(unavailable)?;
        file.write_all(names.join("\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(unavailable)?;
        sync_dir(&dir)?;
        {
            // No read sees the merged file beside its inputs.
            let _no_reads = self.files.write().unwrap_or_else(|e| e.into_inner());
            std::fs::rename(&tmp, dir.join(format!("{name}.parquet"))).map_err(unavailable)?;
            for f in inputs {
                std::fs::remove_file(&f.path).map_err(unavailable)?;
            }
            sync_dir(&dir)?;
        }
        std::fs::remove_file(&plan).map_err(unavailable)?;
        tracing::debug!(table, inputs = inputs.len(), "store files merged");
        Ok(())
    }

    /// Starts merging every table's files on a blocking thread, unless a merge is running.
    pub(super) fn compact_in_background(&self) {
        use std::sync::atomic::Ordering;
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        /// Lets the next merge start however this one ends (a panic included).
        struct Done(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let _done = Done(store.compacting.clone());
            for table in codec::TABLES {
                if let Err(e) = store.compact(table) {
                    tracing::warn!(table, error = %e, "merging the store's files failed; they stay as they are");
                }
            }
        });
    }
}

/// Finishes or forgets the merges a crash interrupted in `dir` (see the module's comment).
pub fn recover(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(unavailable)? {
        let plan = entry.map_err(unavailable)?.path();
        if plan.extension().is_none_or(|e| e != "merged") {
            continue;
        }
        if plan.with_extension("parquet").exists() {
            let names = std::fs::read_to_string(&plan).map_err(unavailable)?;
            for name in names.lines().filter(|n| n.ends_with(".parquet")) {
                match std::fs::remove_file(dir.join(name)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(unavailable(e)),
                }
            }
            sync_dir(dir)?;
        }
        std::fs::remove_file(&plan).map_err(unavailable)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventRow, ProfileReads, ProfileRow, ScorerWrites, WriteBatch};
    use leadstream_schemas::Profile;

    fn profile(id: &str, version: u64) -> ProfileRow {
        ProfileRow::from(&Profile {
            version,
            score: version as f64,
            ..Profile::new("w", id)
        })
    }

    fn event(person: &str, message_id: &str, at_ms: i64) -> EventRow {
        EventRow {
            workspace: "w".into(),
            message_id: message_id.into(),
            profile_id: person.into(),
            anonymous_id: String::new(),
            user_id: person.into(),
            event_type: "track".into(),
            kind: "page_viewed".into(),
            event: "Page Viewed".into(),
            properties: "{}".into(),
            traits: "{}".into(),
            context: "{}".into(),
            timestamp_ms: at_ms,
            received_at_ms: at_ms,
            group_id: String::new(),
            previous_id: String::new(),
            enrichment: "{}".into(),
            campaign: String::new(),
            promo_code: String::new(),
            revenue: 0.0,
        }
    }

    /// `codec::frame` puts rows in the table's key order itself (so appends skip polars' sort):
    /// the order polars' stable sort gives, rows with equal keys in their given order.
    #[test]
    fn frames_are_in_key_order_as_polars_sorts_them() {
        let rows: Vec<EventRow> = (0..200)
            .map(|i: i64| event(&format!("p{}", (i * 7) % 13), &format!("m{i}"), (i * 5) % 3))
            .collect();
        let df = codec::frame(&rows).expect("frame");
        let sorted = df
            .sort(
                codec::order_by("events").to_vec(),
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .expect("sort");
        assert!(df.equals(&sorted), "frame {df} vs polars {sorted}");
        let ids = |df: &DataFrame| -> Vec<String> {
            df.column("message_id")
                .expect("ids")
                .str()
                .expect("text")
                .iter()
                .map(|m| m.expect("id").to_string())
                .collect()
        };
        assert_ne!(
            ids(&df),
            rows.iter()
                .map(|r| r.message_id.clone())
                .collect::<Vec<_>>(),
            "the input was not in key order"
        );
        // Equal keys (same person, same time) keep their input order.
        let p0: Vec<String> = ids(&df)
            .into_iter()
            .filter(|m| {
                let i: i64 = m[1..].parse().expect("number");
                (i * 7) % 13 == 0 && (i * 5) % 3 == 0
            })
            .collect();
        let mut by_input = p0.clone();
        by_input.sort_by_key(|m| m[1..].parse::<i64>().expect("number"));
        assert_eq!(p0, by_input);
        // Already sorted rows come out unchanged.
        let again = codec::rows::<EventRow>(&df).expect("rows");
        assert!(codec::frame(&again).expect("frame").equals(&df));
    }

    fn count(dir: &Path) -> usize {
        data_files(dir).expect("list").len()
    }

    #[test]
    fn tiers_are_powers_of_ten() {
        assert_eq!(tier(0), 0);
        assert_eq!(tier(9_999), 0);
        assert_eq!(tier(10_000), 1);
        assert_eq!(tier(99_999), 1);
        assert_eq!(tier(1_000_000), 3);
    }

    /// Many small writes end as few files; every profile keeps its newest version and every event
    /// is there once.
    #[tokio::test(flavor = "multi_thread")]
    async fn small_files_merge_and_nothing_is_lost_or_doubled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let writes: u32 = 95;
        for i in 0..writes {
            let events = (0..3)
                .map(|j| {
                    event(
                        &format!("p{}", (i + j) % 7),
                        &format!("m{i}-{j}"),
                        i64::from(i),
                    )
                })
                .collect();
            let profiles = (0..7)
                .map(|p| profile(&format!("p{p}"), u64::from(i) + 1))
                .collect();
            // The table written directly: the background merge is checked by the store's own
            // call below, deterministically.
            store
                .write_file(
                    "events",
                    codec::frame(&events as &Vec<EventRow>).expect("frame"),
                    Order::Key,
                )
                .expect("events");
            store
                .write_file(
                    "profiles",
                    codec::frame(&profiles as &Vec<ProfileRow>).expect("frame"),
                    Order::Key,
                )
                .expect("profiles");
        }
        let events_dir = store.table_dir("events");
        let profiles_dir = store.table_dir("profiles");
        assert_eq!(count(&events_dir), writes as usize);
        assert!(store.compact("events").expect("compact") >= 9);
        assert!(store.compact("profiles").expect("compact") >= 9);
        // Every tier holds fewer than FANIN files: at most a few per tier in use.
        for dir in [&events_dir, &profiles_dir] {
            assert!(pick(data_files(dir).expect("list")).is_none());
            assert!(count(dir) < 30, "{} files in {dir:?}", count(dir));
        }
        // Nothing left over from the merges.
        for entry in std::fs::read_dir(&events_dir).expect("dir") {
            let path = entry.expect("entry").path();
            assert_eq!(
                path.extension().and_then(|e| e.to_str()),
                Some("parquet"),
                "{path:?}"
            );
        }
        let events = store.select::<EventRow>(|scan| scan).await.expect("events");
        assert_eq!(events.len(), writes as usize * 3);
        let mut ids: Vec<_> = events.iter().map(|e| e.message_id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), writes as usize * 3, "an event doubled");
        for p in 0..7 {
            let got = store
                .profile("w", &format!("p{p}"))
                .await
                .expect("read")
                .expect("found");
            assert_eq!(got.version, u64::from(writes));
        }
        // Older versions were dropped in the merges: at most one row per profile per file left.
        let rows = store.select::<ProfileRow>(|scan| scan).await.expect("rows");
        assert!(
            rows.len() <= 7 * count(&profiles_dir),
            "{} profile rows",
            rows.len()
        );

        // The store's writes start merges by themselves.
        let before = count(&profiles_dir);
        for i in 0..30 {
            store
                .write(&WriteBatch {
                    profiles: vec![profile("q", 1000 + i)],
                    ..WriteBatch::default()
                })
                .await
                .expect("write");
        }
        for _ in 0..200 {
            if !store.compacting.load(std::sync::atomic::Ordering::Acquire) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            count(&profiles_dir) <= before + 30 - FANIN + 1,
            "{} profile files after 30 writes onto {before}",
            count(&profiles_dir)
        );
        let q = store.profile("w", "q").await.expect("read").expect("found");
        assert_eq!(q.version, 1029);
    }

    /// A merge interrupted after its merged file was in place is finished at open; one
    /// interrupted before is forgotten (its inputs stay).
    #[test]
    fn an_interrupted_merge_is_finished_or_forgotten_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let table = store.table_dir("profiles");
        for v in 1..=3 {
            store
                .write_file(
                    "profiles",
                    codec::frame(&[profile("p", v)]).expect("frame"),
                    Order::Key,
                )
                .expect("write");
        }
        let inputs: Vec<String> = data_files(&table)
            .expect("list")
            .iter()
            .map(|f| {
                f.path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        // Interrupted before the rename: the plan is there, the merged file is not.
        std::fs::write(table.join("aaaa.merged"), inputs[..2].join("\n")).expect("plan");
        let store = EmbeddedStore::open(dir.path()).expect("reopen");
        assert_eq!(count(&table), 3);
        assert!(!table.join("aaaa.merged").exists());
        // Interrupted after the rename, one input already removed.
        store
            .write_file(
                "profiles",
                codec::frame(&[profile("p", 2)]).expect("frame"),
                Order::Key,
            )
            .expect("merged");
        let merged = data_files(&table)
            .expect("list")
            .into_iter()
            .map(|f| f.path)
            .find(|p| !inputs.iter().any(|i| p.ends_with(i)))
            .expect("the merged file");
        let stem = merged
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        std::fs::write(table.join(format!("{stem}.merged")), inputs[..2].join("\n")).expect("plan");
        std::fs::remove_file(table.join(&inputs[0])).expect("first input gone");
        EmbeddedStore::open(dir.path()).expect("reopen");
        let left: Vec<PathBuf> = data_files(&table)
            .expect("list")
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().any(|p| p.ends_with(&inputs[2])));
        assert!(left.contains(&merged));
        assert!(!table.join(format!("{stem}.merged")).exists());
    }
}
