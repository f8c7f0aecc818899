//! Start-up and memory of partition-owned scorers: generates `--profiles` people (default one
//! million), each with the state five events give them, stored in ClickHouse (database
//! `leadstream_scorer_bench` on 127.0.0.1:8123, or `LEADSTREAM_TEST_CLICKHOUSE`) over
//! `--partitions` log partitions (default 12, by the collector's partitioner), then measures what
//! an assignment costs a scorer: loading the rows of its partitions and putting their states in
//! its book (what `Pipeline` does on an assignment), for a single scorer owning every partition
//! and for one of `--scorers` (default 3) owning its share. Each measure runs in a fresh child
//! process (resident memory is per process), `--runs` times (default 3); the median is printed.
//!
//! ```sh
//! bash scripts/services.sh   # ClickHouse on loopback
//! cargo run --release -p leadstream-benches --bin scorer-scale -- --profiles 1000000
//! cargo run --release -p leadstream-benches --bin scorer-scale -- --skip-load   # measure again
//! ```

use std::time::Instant;

use leadstream_platform::config::ClickhouseConfig;
use leadstream_platform::log::kafka::partition_for;
use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::store::{ProfileRow, ScorerWrites, WriteBatch};
use leadstream_scoring::Model;
use leadstream_scoring::profile::{ProfileBook, Settings};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHUNK: usize = 100_000;

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn config() -> ClickhouseConfig {
    ClickhouseConfig {
        url: std::env::var("LEADSTREAM_TEST_CLICKHOUSE")
            .unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: "leadstream_scorer_bench".into(),
        ..ClickhouseConfig::default()
    }
}

struct Args {
    profiles: usize,
    partitions: i32,
    scorers: i32,
    runs: usize,
    skip_load: bool,
    measure: Option<Vec<i32>>,
}

fn args() -> Args {
    let mut a = Args {
        profiles: 1_000_000,
        partitions: 12,
        scorers: 3,
        runs: 3,
        skip_load: false,
        measure: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match flag.as_str() {
            "--profiles" => a.profiles = value().parse().expect("a number"),
            "--partitions" => a.partitions = value().parse().expect("a number"),
            "--scorers" => a.scorers = value().parse().expect("a number"),
            "--runs" => a.runs = value().parse().expect("a number"),
            "--skip-load" => a.skip_load = true,
            // Internal: the child process measuring one assignment.
            "--measure" => {
                a.measure = Some(
                    value()
                        .split(',')
                        .map(|p| p.parse().expect("a partition"))
                        .collect(),
                )
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

async fn load(store: &ClickhouseStore, profiles: usize, partitions: i32) {
    let model = Model::default_model();
    let settings = Settings::default();
    let started = Instant::now();
    let mut done = 0;
    while done < profiles {
        let n = CHUNK.min(profiles - done);
        let book = ProfileBook::new();
        // Five events each, as profile-memory applies them.
        for (i, r) in leadstream_benches::scorer_stream_from(0, n * 5, n, done as u64)
            .iter()
            .enumerate()
        {
            let mut r = r.clone();
            let person = r.event.user_id.take().expect("user");
            let n: usize = person["person-".len()..].parse().expect("number");
            r.event.user_id = Some(format!("person-{}", done + n));
            let _ = book.apply(&r, Some((0, i as i64)), &model, &settings, 0);
        }
        let mut rows = Vec::with_capacity(n);
        book.for_each(|key, state| {
            let profile = state.view(&key.workspace, &key.person, &model, 0);
            let partition = partition_for(&format!("{}/{}", key.workspace, key.person), partitions);
            rows.push(ProfileRow::new(
                &profile,
                serde_json::to_string(state).expect("state"),
                partition,
            ));
        });
        store
            .write(&WriteBatch {
                profiles: rows,
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        done += n;
        eprintln!("stored {done} profiles ({:.0?})", started.elapsed());
    }
}

/// One assignment, in this (fresh) process: prints `seconds profiles resident_bytes`.
async fn measure(partitions: &[i32], of: i32) {
    let store = ClickhouseStore::connect(&config()).await.expect("connect");
    let before = resident_bytes();
    let book = ProfileBook::new();
    let started = Instant::now();
    // As the scorer does on an assignment: the rows streamed into the book.
    let loaded = leadstream_scorer::pipeline::load_into(&book, &store, partitions, of)
        .await
        .expect("load");
    let seconds = started.elapsed().as_secs_f64();
    let resident = resident_bytes().saturating_sub(before);
    assert_eq!(loaded, book.len());
    println!("{seconds:.3} {loaded} {resident}");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let a = args();
    if let Some(partitions) = &a.measure {
        measure(partitions, a.partitions).await;
        return;
    }
    if !a.skip_load {
        let client = clickhouse::Client::default().with_url(config().url);
        client
            .query("DROP DATABASE IF EXISTS leadstream_scorer_bench")
            .execute()
            .await
            .expect("drop");
        let store = ClickhouseStore::connect(&config()).await.expect("connect");
        load(&store, a.profiles, a.partitions).await;
    }
    let share = a.partitions / a.scorers;
    let all: Vec<i32> = (0..a.partitions).collect();
    let one_of: Vec<i32> = (0..share).collect();
    println!(
        "| scorer | partitions | profiles loaded | start-up (load + restore), median of {} | resident memory after |",
        a.runs
    );
    println!("|---|---|---|---|---|");
    let mut results = Vec::new();
    for (name, partitions) in [
        ("single scorer".to_string(), &all),
        (format!("one of {}", a.scorers), &one_of),
    ] {
        let list = partitions
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut seconds = Vec::new();
        let mut resident = Vec::new();
        let mut loaded = 0;
        for _ in 0..a.runs {
            let out = std::process::Command::new(std::env::current_exe().expect("exe"))
                .args([
                    "--measure",
                    &list,
                    "--partitions",
                    &a.partitions.to_string(),
                ])
                .output()
                .expect("child");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let mut f = text.split_whitespace();
            seconds.push(f.next().and_then(|s| s.parse().ok()).expect("seconds"));
            loaded = f.next().and_then(|s| s.parse().ok()).expect("profiles");
            resident.push(f.next().and_then(|s| s.parse::<f64>().ok()).expect("bytes"));
        }
        let (s, r) = (median(seconds), median(resident));
        println!(
            "| {name} | {} of {} | {loaded} | {s:.2} s | {:.0} MiB |",
            partitions.len(),
            a.partitions,
            r / 1048576.0
        );
        results.push((s, r, loaded));
    }
    let (single, part) = (results[0], results[1]);
    println!(
        "\none of {} vs single: {:.2} of the profiles, {:.2} of the start-up time, {:.2} of the memory",
        a.scorers,
        part.2 as f64 / single.2 as f64,
        part.0 / single.0,
        part.1 / single.1
    );
}
