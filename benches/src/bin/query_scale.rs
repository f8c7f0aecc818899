//! The query API at scale: generates a workspace of `--profiles` people (default one million)
//! and `--events` events (default ten million), deterministically (seeded), loads it into the
//! ClickHouse store (database `leadstream_bench` on 127.0.0.1:8123, dropped and recreated) and
//! into an embedded store (`--dir`, default `/var/tmp/leadstream-bench`), then times, beside each
//! other in the same run:
//!
//! - an RFM analysis: `Store::rfm` (what `POST /v1/rfm` runs) against the same computation written
//!   directly as one ClickHouse SQL query, and directly with polars over the same Parquet files;
//! - a segment count: `Store::segment_preview` (what `POST /v1/segments/preview` runs) for
//!   `country = DE and score ≥ 30 and downloaded at least twice in 90 days`, against one bare SQL
//!   query and one bare polars query.
//!
//! Each figure is the median of `--runs` (default 5) after one warm-up; the bare and our
//! answers must agree (the program stops otherwise).
//!
//! ```sh
//! bash scripts/services.sh   # ClickHouse on loopback
//! cargo run --release -p leadstream-benches --bin query-scale -- --profiles 1000000 --events 10000000
//! cargo run --release -p leadstream-benches --bin query-scale -- --skip-load   # measure again
//! cargo run --release -p leadstream-benches --bin query-scale -- --reload-embedded  # after a change to its files
//! cargo run --release -p leadstream-benches --bin query-scale -- --skip-load --only rfm-embedded  # one row
//! ```
//!
//! The data: people `p0000000…` with a country (10), a title (8), a company size and a score /
//! grade / stage; events over the 730 days before 2026-06-01: 55 % page views, 15 % email opens,
//! 10 % downloads, 10 % purchases (revenue 5–500), 5 % form fills, 5 % email clicks, each person
//! picked with a skew (a quarter of the people make most of the events).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use leadstream_platform::config::ClickhouseConfig;
use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::store::embedded::EmbeddedStore;
use leadstream_platform::store::{Analytics, EventRow, ProfileRow, Store, WriteBatch};
use leadstream_schemas::rfm::{RfmSpec, SEGMENTS, grid_by_index, quintile_cuts};
use leadstream_schemas::segment::Segment;
use leadstream_schemas::{LifecycleStage, Profile};
use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WS: &str = "bench";
const DAY: i64 = 86_400_000;
/// 2026-06-01T00:00:00Z: the analyses' "now".
const AS_OF: i64 = 1_780_272_000_000;
const CHUNK: usize = 1_000_000;

struct Args {
    profiles: usize,
    events: usize,
    runs: usize,
    dir: PathBuf,
    skip_load: bool,
    /// Load only the embedded store again (ClickHouse keeps what it has).
    reload_embedded: bool,
    /// Which of the four rows to measure (`--only rfm-embedded,segment-clickhouse`; all without).
    only: Option<Vec<String>>,
}

impl Args {
    fn wants(&self, row: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|r| r == row))
    }
}

/// The rows `--only` names.
const ROWS: [&str; 4] = [
    "rfm-clickhouse",
    "rfm-embedded",
    "segment-clickhouse",
    "segment-embedded",
];

fn args() -> Args {
    let mut a = Args {
        profiles: 1_000_000,
        events: 10_000_000,
        runs: 5,
        dir: PathBuf::from("/var/tmp/leadstream-bench"),
        skip_load: false,
        reload_embedded: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match flag.as_str() {
            "--profiles" => a.profiles = value().parse().expect("a number"),
            "--events" => a.events = value().parse().expect("a number"),
            "--runs" => a.runs = value().parse().expect("a number"),
            "--dir" => a.dir = PathBuf::from(value()),
            "--skip-load" => a.skip_load = true,
            "--reload-embedded" => a.reload_embedded = true,
            "--only" => {
                let rows: Vec<String> = value().split(',').map(str::to_string).collect();
                for r in &rows {
                    assert!(ROWS.contains(&r.as_str()), "--only takes {ROWS:?}, not {r}");
                }
                a.only = Some(rows);
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn clickhouse_config() -> ClickhouseConfig {
    ClickhouseConfig {
        database: "leadstream_bench".into(),
        ..ClickhouseConfig::default()
    }
}

fn profiles(from: usize, to: usize) -> Vec<ProfileRow> {
    const COUNTRIES: [&str; 10] = ["DE", "FR", "GB", "US", "ES", "IT", "NL", "SE", "PL", "AT"];
    const TITLES: [&str; 8] = [
        "VP Sales",
        "Engineer",
        "Director Marketing",
        "CFO",
        "Analyst",
        "Intern",
        "Head of Growth",
        "Consultant",
    ];
    let mut rng = StdRng::seed_from_u64(from as u64);
    (from..to)
        .map(|i| {
            let mut p = Profile::new(WS, format!("p{i:07}"));
            p.version = 1;
            let traits = json!({
                "country": COUNTRIES[rng.random_range(0..COUNTRIES.len())],
                "title": TITLES[rng.random_range(0..TITLES.len())],
                "company_size": rng.random_range(1..5000),
            });
            p.traits = traits.as_object().cloned().unwrap_or_default();
            p.score = f64::from(rng.random_range(0..100u32));
            p.grade = Some(["A", "B", "C", "D", "E", "F"][rng.random_range(0..6)].to_string());
            p.lifecycle_stage = [
                LifecycleStage::Name,
                LifecycleStage::Mql,
                LifecycleStage::Customer,
            ][rng.random_range(0..3)];
            ProfileRow::from(&p)
        })
        .collect()
}

fn events(from: usize, to: usize, people: usize) -> Vec<EventRow> {
    let mut rng = StdRng::seed_from_u64(1_000_000_007 + from as u64);
    (from..to)
        .map(|j| {
            // Skewed: 3 in 4 events come from the first quarter of the people.
            let who = if rng.random_bool(0.75) {
                rng.random_range(0..people.div_ceil(4))
            } else {
                rng.random_range(0..people)
            };
            let roll = rng.random_range(0..100);
            let (kind, properties, revenue) = match roll {
                0..55 => ("page_viewed", "{}".to_string(), 0.0),
                55..70 => ("email_opened", r#"{"email_id":"e1"}"#.to_string(), 0.0),
                70..80 => (
                    "file_downloaded",
                    r#"{"file_name":"guide.pdf"}"#.to_string(),
                    0.0,
                ),
                80..90 => {
                    let revenue = rng.random_range(5..=500);
                    (
                        "purchase_completed",
                        json!({"order_id": format!("o{j}"), "revenue": revenue, "currency": "EUR"})
                            .to_string(),
                        f64::from(revenue),
                    )
                }
                90..95 => ("form_submitted", r#"{"form_id":"demo"}"#.to_string(), 0.0),
                _ => (
                    "email_clicked",
                    r#"{"email_id":"e1","link_url":"https://acme.io"}"#.to_string(),
                    0.0,
                ),
            };
            let ts = AS_OF - rng.random_range(0..730 * DAY);
            EventRow {
                workspace: WS.into(),
                message_id: format!("e{j:08}"),
                profile_id: format!("p{who:07}"),
                anonymous_id: String::new(),
                user_id: format!("p{who:07}"),
                event_type: "track".into(),
                kind: kind.into(),
                event: kind.into(),
                properties,
                traits: "{}".into(),
                context: "{}".into(),
                timestamp_ms: ts,
                received_at_ms: ts,
                group_id: String::new(),
                previous_id: String::new(),
                enrichment: String::new(),
                campaign: String::new(),
                promo_code: String::new(),
                // What the scorer stores for the event (`EventKind::money`): the order's value.
                revenue,
            }
        })
        .collect()
}

async fn load(a: &Args, stores: &[(&str, &dyn Store)]) {
    let started = Instant::now();
    for from in (0..a.profiles).step_by(CHUNK) {
        let batch = WriteBatch {
            profiles: profiles(from, (from + CHUNK).min(a.profiles)),
            ..WriteBatch::default()
        };
        for (_, s) in stores {
            s.write(&batch).await.expect("write profiles");
        }
    }
    for from in (0..a.events).step_by(CHUNK) {
        let batch = WriteBatch {
            events: events(from, (from + CHUNK).min(a.events), a.profiles),
            ..WriteBatch::default()
        };
        for (_, s) in stores {
            s.write(&batch).await.expect("write events");
        }
        eprintln!("loaded {} events", (from + CHUNK).min(a.events));
    }
    eprintln!("loaded in {:.1?}", started.elapsed());
}

/// The same RFM summary as `Store::rfm`, written directly as one ClickHouse query: one pass over
/// the purchases, the customers gathered with their sorted measures for the quintiles and unfolded.
fn bare_rfm_sql() -> String {
    let since = AS_OF - 365 * DAY;
    let grid = grid_by_index()
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(", ");
    let base = format!(
        "SELECT person, toFloat64(intDiv({AS_OF} - max(ts), 86400000)) AS r, toFloat64(count()) AS f, sum(rev) AS m \
         FROM (SELECT person, message_id, any(ts) AS ts, any(rev) AS rev FROM \
         (SELECT if(ip = '', src, ip) AS person, message_id, ts, rev FROM \
         (SELECT profile_id AS src, message_id, timestamp_ms AS ts, visitParamExtractFloat(properties, 'revenue') AS rev \
         FROM events WHERE workspace = '{WS}' AND kind = 'purchase_completed' AND timestamp_ms >= {since} AND timestamp_ms <= {AS_OF}) \
         ANY LEFT JOIN (SELECT id AS src, profile_id AS ip FROM identities WHERE workspace = '{WS}') USING src) \
         GROUP BY person, message_id) GROUP BY person"
    );
    let at = |a: &str, k: u32| format!("{a}[intDiv({k} * length({a}) + 4, 5)]");
    let cuts = |a: &str| format!("[{}, {}, {}, {}]", at(a, 1), at(a, 2), at(a, 3), at(a, 4));
    let above = |v: &str, c: &str| {
        (1..=4)
            .map(|k| format!("({v} > {c}[{k}])"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    format!(
        "SELECT segment, count(), sum(m), sum(r), sum(f) FROM (\
         SELECT r, f, m, 5 - ({ar}) AS rs, 1 + {af} AS fs, 1 + {am} AS ms, \
         [{grid}][(rs - 1) * 5 + intDiv(fs + ms + 1, 2)] AS segment FROM (\
         SELECT tupleElement(c, 2) AS r, tupleElement(c, 3) AS f, tupleElement(c, 4) AS m, cr, cf, cm FROM \
         (SELECT customers, {cr} AS cr, {cf} AS cf, {cm} AS cm FROM (SELECT groupArray(tuple(person, r, f, m)) AS customers, \
         arraySort(groupArray(r)) AS sr, arraySort(groupArray(f)) AS sf, arraySort(groupArray(m)) AS sm FROM ({base}))) \
         ARRAY JOIN customers AS c)) GROUP BY segment",
        ar = above("r", "cr"),
        af = above("f", "cf"),
        am = above("m", "cm"),
        cr = cuts("sr"),
        cf = cuts("sf"),
        cm = cuts("sm"),
    )
}

/// The segment count written directly as one ClickHouse query.
fn bare_segment_sql() -> String {
    let since = AS_OF - 90 * DAY;
    format!(
        "SELECT count() FROM (SELECT profile_id AS pid, argMax(traits, version) AS t, argMax(score, version) AS sc, \
         argMax(merged_into, version) AS mi FROM profiles WHERE workspace = '{WS}' GROUP BY profile_id) \
         WHERE mi = '' AND visitParamExtractString(t, 'country') = 'DE' AND sc >= 30 AND pid IN \
         (SELECT person FROM (SELECT if(ip = '', src, ip) AS person, message_id FROM \
         (SELECT profile_id AS src, message_id FROM events WHERE workspace = '{WS}' AND kind = 'file_downloaded' \
         AND timestamp_ms >= {since}) ANY LEFT JOIN (SELECT id AS src, profile_id AS ip FROM identities \
         WHERE workspace = '{WS}') USING src) GROUP BY person HAVING uniqExact(message_id) >= 2)"
    )
}

fn scan(dir: &std::path::Path, table: &str) -> LazyFrame {
    let glob = format!("{}/{table}/*.parquet", dir.display());
    LazyFrame::scan_parquet(PlRefPath::new(glob), ScanArgsParquet::default()).expect("scan")
}

/// The same RFM summary, written directly with polars: `(segment, people, revenue)` rows.
fn bare_rfm_polars(dir: &std::path::Path) -> Vec<(String, u64, f64)> {
    let since = AS_OF - 365 * DAY;
    let ids = scan(dir, "identities")
        .filter(col("workspace").eq(lit(WS)))
        .select([col("id").alias("src"), col("profile_id").alias("ip")]);
    let per_person = scan(dir, "events")
        .filter(
            col("workspace")
                .eq(lit(WS))
                .and(col("kind").eq(lit("purchase_completed")))
                .and(col("timestamp_ms").gt_eq(lit(since)))
                .and(col("timestamp_ms").lt_eq(lit(AS_OF))),
        )
        .select([
            col("profile_id").alias("src"),
            col("message_id"),
            col("timestamp_ms").alias("ts"),
            col("properties")
                .str()
                .json_path_match(lit("$.revenue"))
                .cast(DataType::Float64)
                .fill_null(lit(0.0))
                .alias("rev"),
        ])
        .join(
            ids,
            [col("src")],
            [col("src")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(
            when(col("ip").is_null())
                .then(col("src"))
                .otherwise(col("ip"))
                .alias("person"),
        )
        .unique_generic(
            Some(vec![col("person"), col("message_id")]),
            UniqueKeepStrategy::Any,
        )
        .group_by([col("person")])
        .agg([
            ((lit(AS_OF) - col("ts").max()) / lit(DAY))
                .cast(DataType::Int64)
                .cast(DataType::Float64)
                .alias("r"),
            col("message_id").count().cast(DataType::Float64).alias("f"),
            col("rev").sum().alias("m"),
        ])
        .collect()
        .expect("per person");
    let sorted = |c: &str| -> Vec<f64> {
        let mut v: Vec<f64> = per_person
            .column(c)
            .expect("column")
            .f64()
            .expect("f64")
            .iter()
            .map(Option::unwrap_or_default)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (cr, cf, cm) = (
        quintile_cuts(&sorted("r")),
        quintile_cuts(&sorted("f")),
        quintile_cuts(&sorted("m")),
    );
    let above = |c: &str, cuts: &[f64]| {
        cuts.iter().fold(lit(0i32), |e, x| {
            e + col(c).gt(lit(*x)).cast(DataType::Int32)
        })
    };
    let grid = df!("cell" => (0..25i32).collect::<Vec<_>>(), "segment" => grid_by_index())
        .expect("grid")
        .lazy();
    let df = per_person
        .lazy()
        .with_columns([
            (lit(5i32) - above("r", &cr)).alias("rs"),
            (lit(1i32) + above("f", &cf)).alias("fs"),
            (lit(1i32) + above("m", &cm)).alias("ms"),
        ])
        .with_column(
            ((col("rs") - lit(1i32)) * lit(5i32) + (col("fs") + col("ms") + lit(1i32)) / lit(2i32)
                - lit(1i32))
            .cast(DataType::Int32)
            .alias("cell"),
        )
        .join(
            grid,
            [col("cell")],
            [col("cell")],
            JoinArgs::new(JoinType::Left),
        )
        .group_by([col("segment")])
        .agg([len().alias("n"), col("m").sum().alias("rev")])
        .collect()
        .expect("summary");
    let seg = df
        .column("segment")
        .expect("segment")
        .str()
        .expect("str")
        .clone();
    let n = df
        .column("n")
        .expect("n")
        .cast(&DataType::UInt64)
        .expect("u64");
    let n = n.u64().expect("u64").clone();
    let rev = df.column("rev").expect("rev").f64().expect("f64").clone();
    (0..df.height())
        .map(|i| {
            (
                seg.get(i).unwrap_or_default().to_string(),
                n.get(i).unwrap_or_default(),
                rev.get(i).unwrap_or_default(),
            )
        })
        .collect()
}

/// The segment count, written directly with polars.
fn bare_segment_polars(dir: &std::path::Path) -> u64 {
    let since = AS_OF - 90 * DAY;
    let ids = scan(dir, "identities")
        .filter(col("workspace").eq(lit(WS)))
        .select([col("id").alias("src"), col("profile_id").alias("ip")]);
    let downloaders = scan(dir, "events")
        .filter(
            col("workspace")
                .eq(lit(WS))
                .and(col("kind").eq(lit("file_downloaded")))
                .and(col("timestamp_ms").gt_eq(lit(since))),
        )
        .select([col("profile_id").alias("src"), col("message_id")])
        .join(
            ids,
            [col("src")],
            [col("src")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(
            when(col("ip").is_null())
                .then(col("src"))
                .otherwise(col("ip"))
                .alias("profile_id"),
        )
        .group_by([col("profile_id")])
        .agg([col("message_id").n_unique().alias("n")])
        .filter(col("n").gt_eq(lit(2)))
        .select([col("profile_id")]);
    let df = scan(dir, "profiles")
        .filter(col("workspace").eq(lit(WS)))
        .sort(
            ["version"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .unique_stable_generic(Some(vec![col("profile_id")]), UniqueKeepStrategy::First)
        .filter(
            col("merged_into")
                .eq(lit(""))
                .and(
                    col("traits")
                        .str()
                        .json_path_match(lit("$.country"))
                        .eq(lit("DE")),
                )
                .and(col("score").gt_eq(lit(30.0))),
        )
        .join(
            downloaders,
            [col("profile_id")],
            [col("profile_id")],
            JoinArgs::new(JoinType::Semi),
        )
        .select([len().alias("n")])
        .collect()
        .expect("count");
    df.column("n")
        .expect("n")
        .cast(&DataType::UInt64)
        .expect("u64")
        .u64()
        .expect("u64")
        .get(0)
        .unwrap_or_default()
}

async fn median<T, F: std::future::Future<Output = T>>(
    runs: usize,
    mut f: impl FnMut() -> F,
) -> (Duration, T) {
    let mut last = f().await; // warm-up
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        last = f().await;
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], last)
}

/// [`median`] of a bare polars query over the files under `dir`, each run on a blocking thread.
async fn bare_polars_median<T: Send + 'static>(
    runs: usize,
    dir: &std::path::Path,
    query: fn(&std::path::Path) -> T,
) -> (Duration, T) {
    median(runs, || {
        let dir = dir.to_path_buf();
        async move {
            tokio::task::spawn_blocking(move || query(&dir))
                .await
                .expect("join")
        }
    })
    .await
}

fn row(what: &str, ours: Duration, bare: Duration) {
    let overhead = (ours.as_secs_f64() / bare.as_secs_f64() - 1.0) * 100.0;
    println!(
        "| {what} | {:.3} s | {:.3} s | {overhead:+.0} % |",
        ours.as_secs_f64(),
        bare.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let a = args();
    let config = clickhouse_config();
    if a.reload_embedded {
        let _ = std::fs::remove_dir_all(&a.dir);
    } else if !a.skip_load {
        let admin = clickhouse::Client::default().with_url(&config.url);
        admin
            .query("DROP DATABASE IF EXISTS leadstream_bench")
            .execute()
            .await
            .expect("drop");
        let _ = std::fs::remove_dir_all(&a.dir);
    }
    let ch = ClickhouseStore::connect(&config).await.expect("clickhouse");
    let embedded = EmbeddedStore::open(&a.dir).expect("embedded");
    if a.reload_embedded || !a.skip_load {
        let stores: &[(&str, &dyn Store)] = if a.reload_embedded {
            &[("embedded", &embedded)]
        } else {
            &[("clickhouse", &ch), ("embedded", &embedded)]
        };
        load(&a, stores).await;
        // One identity row, so that the identities table exists on both sides.
        let batch = WriteBatch {
            identities: vec![leadstream_platform::store::IdentityRow {
                workspace: WS.into(),
                id: "anon-1".into(),
                profile_id: "p0000001".into(),
                merged_at_ms: AS_OF,
            }],
            ..WriteBatch::default()
        };
        for (_, store) in stores {
            store.write(&batch).await.expect("identity");
        }
    }
    let spec = RfmSpec::default();
    let segment = Segment::parse(&json!({"and": [
        {"trait": "country", "eq": "DE"},
        {"score": {"gte": 30}},
        {"did": "file_downloaded", "at_least": 2, "within_days": 90}
    ]}))
    .expect("segment");
    let client = ch.client().clone();
    println!(
        "{} profiles, {} events; median of {} runs after a warm-up\n",
        a.profiles, a.events, a.runs
    );
    println!("| query | leadstream | bare engine | overhead |\n|---|---|---|---|");

    let mut report = None;
    if a.wants("rfm-clickhouse") {
        let (ours, r) = median(a.runs, || ch.rfm(WS, &spec, AS_OF)).await;
        let r = r.expect("rfm");
        let rfm_sql = bare_rfm_sql();
        let (bare, rows) = median(a.runs, || {
            client
                .query(&rfm_sql)
                .fetch_all::<(String, u64, f64, f64, f64)>()
        })
        .await;
        let rows = rows.expect("bare rfm");
        for s in &r.segments {
            let bare_people = rows.iter().find(|r| r.0 == s.segment).map_or(0, |r| r.1);
            assert_eq!(s.people, bare_people, "clickhouse {}", s.segment);
        }
        row("RFM, ClickHouse", ours, bare);
        report = Some(r);
    }

    if a.wants("rfm-embedded") {
        let (ours, e_report) = median(a.runs, || embedded.rfm(WS, &spec, AS_OF)).await;
        let e_report = e_report.expect("rfm");
        let (bare, rows) = bare_polars_median(a.runs, &a.dir, bare_rfm_polars).await;
        for s in &e_report.segments {
            let bare_people = rows.iter().find(|r| r.0 == s.segment).map_or(0, |r| r.1);
            assert_eq!(s.people, bare_people, "polars {}", s.segment);
        }
        if let Some(report) = &report {
            for (s, c) in e_report.segments.iter().zip(&report.segments) {
                assert_eq!(s.people, c.people, "the stores agree on {}", s.segment);
            }
        }
        row("RFM, embedded (polars)", ours, bare);
        report.get_or_insert(e_report);
    }

    let mut count = None;
    if a.wants("segment-clickhouse") {
        let (ours, preview) = median(a.runs, || ch.segment_preview(WS, &segment, AS_OF, 20)).await;
        let (c, _) = preview.expect("preview");
        let seg_sql = bare_segment_sql();
        let (bare, bare_count) = median(a.runs, || client.query(&seg_sql).fetch_one::<u64>()).await;
        assert_eq!(
            c,
            bare_count.expect("bare count"),
            "clickhouse segment count"
        );
        row("segment count + sample, ClickHouse", ours, bare);
        count = Some(c);
    }

    if a.wants("segment-embedded") {
        let (ours, preview) =
            median(a.runs, || embedded.segment_preview(WS, &segment, AS_OF, 20)).await;
        let (e_count, _) = preview.expect("preview");
        let (bare, bare_count) = bare_polars_median(a.runs, &a.dir, bare_segment_polars).await;
        assert_eq!(e_count, bare_count, "polars segment count");
        if let Some(count) = count {
            assert_eq!(e_count, count, "the stores agree on the segment");
        }
        row("segment count + sample, embedded (polars)", ours, bare);
        count.get_or_insert(e_count);
    }
    if let Some(report) = report {
        println!(
            "\nRFM: {} customers, {:.0} revenue, Champions {}",
            report.customers, report.revenue, report.segments[0].people
        );
    }
    if let Some(count) = count {
        println!("segment: {count} people");
    }
    let _ = SEGMENTS;
}
