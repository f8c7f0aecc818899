//! The embedded store after a long run of small writes, with its files as they were written
//! and after merging (issue 20, goal 5: growth with the work, not with time).
//!
//! `store-files <dir> <flushes> <events per flush> <people>`: writes `flushes` store writes as
//! the scorer makes them while events arrive (one file of events and one of profile versions per
//! write, rows in the table's key order, as the store writes every file; 3,600 writes are an hour
//! of steady traffic at the scorer's one flush a second) straight into `<dir>`, the way the store
//! left them before it merged files. Then, in the same run, it times reads on those files
//! (`profile` and `person_events` of 200 people, one at a time; a segment-style scan of every
//! current profile), merges them ([`EmbeddedStore::compact`]), and times the same reads again.
//! Prints `key=value` lines: files, bytes and read times before and after, and the merge time.
//! Bounded by its arguments; local files only.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::time::{Duration, Instant};

use leadstream_platform::store::embedded::EmbeddedStore;
use leadstream_platform::store::embedded::codec;
use leadstream_platform::store::{EventRow, ProfileReads, ProfileRow, Table};
use leadstream_schemas::Profile;
use polars::prelude::*;

fn write<T: Table>(dir: &Path, rows: &[T]) {
    let mut df = codec::frame(rows).expect("frame");
    let key: Vec<&str> = codec::order_by(T::TABLE).to_vec();
    df = df
        .sort(
            key,
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .expect("sort");
    let path = dir
        .join(T::TABLE)
        .join(format!("{}.parquet", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(path.parent().expect("table dir")).expect("table dir");
    let mut file = std::fs::File::create(&path).expect("file");
    ParquetWriter::new(&mut file)
        .with_row_group_size(Some(codec::ROW_GROUP))
        .finish(&mut df)
        .expect("write");
}

fn files(dir: &Path) -> (usize, u64) {
    let mut n = 0;
    let mut bytes = 0;
    for table in codec::TABLES {
        let Ok(entries) = std::fs::read_dir(dir.join(table)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "parquet") {
                n += 1;
                bytes += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    (n, bytes)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn reads(store: &EmbeddedStore, people: usize, label: &str) {
    let mut lookups = Vec::new();
    let mut timelines = Vec::new();
    for i in 0..200 {
        let id = format!("person-{}", (i * 7919) % people);
        let started = Instant::now();
        let p = store.profile("acme", &id).await.expect("profile");
        lookups.push(started.elapsed());
        assert!(p.is_some(), "{id} has a profile");
        let started = Instant::now();
        store
            .person_events("acme", &[id], None, 50)
            .await
            .expect("events");
        timelines.push(started.elapsed());
    }
    lookups.sort();
    timelines.sort();
    let started = Instant::now();
    let all = store.workspace_profiles("acme").await.expect("profiles");
    let scan = started.elapsed();
    assert_eq!(all.len(), people, "every person once");
    println!(
        "{label}_profile_p50_ms={:.2}",
        leadstream_benches::quantile_ms(&lookups, 0.5)
    );
    println!(
        "{label}_profile_p99_ms={:.2}",
        leadstream_benches::quantile_ms(&lookups, 0.99)
    );
    println!(
        "{label}_timeline_p50_ms={:.2}",
        leadstream_benches::quantile_ms(&timelines, 0.5)
    );
    println!("{label}_all_profiles_ms={:.0}", ms(scan));
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: store-files <dir> <flushes> <events per flush> <people>");
        std::process::exit(2);
    }
    let dir = Path::new(&args[1]);
    let flushes: usize = args[2].parse().expect("flushes");
    let per: usize = args[3].parse().expect("events per flush");
    let people: usize = args[4].parse().expect("people");
    assert!(flushes * per <= 20_000_000, "at most 20M events");
    let records = leadstream_benches::scorer_stream_from(0, flushes * per, people, 7);
    let started = Instant::now();
    for (f, chunk) in records.chunks(per).enumerate() {
        let events: Vec<EventRow> = chunk
            .iter()
            .map(|r| EventRow::from_record(r, &r.key().replace("acme/", "")))
            .collect();
        let mut touched: Vec<&str> = events.iter().map(|e| e.profile_id.as_str()).collect();
        touched.sort_unstable();
        touched.dedup();
        let profiles: Vec<ProfileRow> = touched
            .iter()
            .map(|id| {
                ProfileRow::from(&Profile {
                    version: f as u64 + 1,
                    event_count: f as u64 + 1,
                    score: (f % 97) as f64,
                    ..Profile::new("acme", *id)
                })
            })
            .collect();
        write(dir, &events);
        write(dir, &profiles);
    }
    // Every person has a profile (the stream may not reach all of them).
    let everyone: Vec<ProfileRow> = (0..people)
        .map(|p| ProfileRow::from(&Profile::new("acme", format!("person-{p}"))))
        .collect();
    write(dir, &everyone);
    println!("write_seconds={:.1}", started.elapsed().as_secs_f64());

    let store = EmbeddedStore::open(dir).expect("open");
    let (n, bytes) = files(dir);
    println!("written_files={n}");
    println!("written_mb={:.1}", bytes as f64 / 1e6);
    reads(&store, people, "written").await;

    let started = Instant::now();
    let mut merges = 0;
    for table in codec::TABLES {
        merges += store.compact(table).expect("compact");
    }
    println!("merge_seconds={:.1}", started.elapsed().as_secs_f64());
    println!("merges={merges}");
    let (n, bytes) = files(dir);
    println!("merged_files={n}");
    println!("merged_mb={:.1}", bytes as f64 / 1e6);
    reads(&store, people, "merged").await;
}
