//! The scorer from the real broker (issue 20, goal 4), the parts `benches/load/scorer.sh` runs
//! around a `leadstream-scorer` process. Loopback only; each part is bounded by an event count.
//!
//! - `scorer-broker fill <brokers> <topic> <events> <people>`: creates the topic (6 partitions)
//!   and writes a realistic stream (the scorer benchmarks': page views, pricing views, downloads,
//!   email opens and clicks, webinar registrations, identifies with traits) as the collector's
//!   log records, keyed as the collector keys them, with the collector's producer
//!   (`KafkaLog`: idempotent, `acks=all`, lz4).
//! - `scorer-broker drain <brokers> <topic> <events>`: the baseline: a bare rdkafka
//!   `BaseConsumer` with the scorer's consumer settings in a fresh group, which only reads the
//!   topic from the start until it has `events` records. Prints `events_per_second=` (from the
//!   first record to the last, as the scorer's rate is measured) and `total_seconds=`.
//! - `scorer-broker reinsert <clickhouse url> <from database> <to database>`: the baseline of the
//!   scorer's ClickHouse writes: reads back the rows the scorer wrote (events, score changes,
//!   profile versions) and inserts the same rows into a fresh, migrated database with the
//!   clickhouse crate's `Inserter` (RowBinary, 100,000 rows per INSERT), table after table.
//!   Prints `rows=` and `insert_seconds=` (the inserts alone).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use leadstream_platform::config::{ClickhouseConfig, KafkaConfig, KafkaRole};
use leadstream_platform::log::kafka::{KafkaLog, ensure_topic};
use leadstream_platform::log::{EventLog, LogMessage};
use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::store::{EventRow, ProfileRow, ScoreChangeRow, Table};
use rdkafka::consumer::{BaseConsumer, Consumer};

fn kafka(brokers: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_string(),
        partitions: 6,
        ..KafkaConfig::default()
    }
}

async fn fill(brokers: &str, topic: &str, events: usize, people: usize) {
    let config = kafka(brokers);
    ensure_topic(&config, topic).await.expect("topic");
    let log = KafkaLog::for_topic(&config, topic).expect("producer");
    let started = Instant::now();
    let chunk = 10_000;
    let mut done = 0;
    while done < events {
        let n = chunk.min(events - done);
        let records = leadstream_benches::scorer_stream_from(done, n, people, 1);
        // Appended as the collector does: batches of 100, a few in flight.
        let batches: Vec<Vec<LogMessage>> = records
            .chunks(100)
            .map(|c| {
                c.iter()
                    .map(|r| LogMessage {
                        key: r.key(),
                        payload: r.encode(),
                    })
                    .collect()
            })
            .collect();
        let appends = batches.into_iter().map(|b| log.append(b));
        for r in futures::future::join_all(appends).await {
            r.expect("append");
        }
        done += n;
    }
    println!("filled={events}");
    println!("fill_seconds={:.2}", started.elapsed().as_secs_f64());
}

fn drain(brokers: &str, topic: &str, events: usize) {
    let config = KafkaConfig {
        consumer_group: format!("drain-{}", std::process::id()),
        ..kafka(brokers)
    };
    let consumer: BaseConsumer = config
        .client_config(KafkaRole::Consumer)
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let mut first = None;
    let mut got = 0usize;
    let mut bytes = 0usize;
    while got < events && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                use rdkafka::Message;
                first.get_or_insert_with(Instant::now);
                got += 1;
                bytes += m.payload().map_or(0, <[u8]>::len);
            }
            Some(Err(e)) => eprintln!("poll: {e}"),
            None => {}
        }
    }
    let first = first.unwrap_or(started);
    let seconds = first.elapsed().as_secs_f64();
    assert_eq!(got, events, "drained {got} of {events} within 600 s");
    println!("drained={got}");
    println!("bytes={bytes}");
    println!("events_per_second={:.0}", got as f64 / seconds);
    println!("total_seconds={:.2}", started.elapsed().as_secs_f64());
}

async fn read_back<T>(client: &clickhouse::Client, database: &str) -> Vec<T>
where
    T: Table + clickhouse::RowOwned + clickhouse::RowRead,
{
    client
        .query(&format!("SELECT ?fields FROM {database}.{}", T::TABLE))
        .fetch_all::<T>()
        .await
        .expect("read back")
}

async fn insert<T>(client: &clickhouse::Client, rows: &[T]) -> f64
where
    T: Table + clickhouse::RowOwned + clickhouse::RowWrite,
{
    let started = Instant::now();
    let mut inserter = client.inserter::<T>(T::TABLE).with_max_rows(100_000);
    for row in rows {
        inserter.write(row).await.expect("write");
        inserter.commit().await.expect("commit");
    }
    inserter.end().await.expect("end");
    started.elapsed().as_secs_f64()
}

async fn reinsert(url: &str, from: &str, to: &str) {
    // The store's own client (its settings: no schema validation, for 18.16).
    let source = ClickhouseStore::connect(&ClickhouseConfig {
        url: url.to_string(),
        database: from.to_string(),
        ..ClickhouseConfig::default()
    })
    .await
    .expect("the scorer's database")
    .client()
    .clone();
    let events: Vec<EventRow> = read_back(&source, from).await;
    let changes: Vec<ScoreChangeRow> = read_back(&source, from).await;
    let profiles: Vec<ProfileRow> = read_back(&source, from).await;
    source
        .query(&format!("DROP DATABASE IF EXISTS {to}"))
        .execute()
        .await
        .expect("drop");
    let store = ClickhouseStore::connect(&ClickhouseConfig {
        url: url.to_string(),
        database: to.to_string(),
        ..ClickhouseConfig::default()
    })
    .await
    .expect("migrated database");
    let client = store.client().clone();
    let seconds = insert(&client, &events).await
        + insert(&client, &changes).await
        + insert(&client, &profiles).await;
    println!("events={}", events.len());
    println!("score_changes={}", changes.len());
    println!("profiles={}", profiles.len());
    println!("rows={}", events.len() + changes.len() + profiles.len());
    println!("insert_seconds={seconds:.3}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).expect("see the module doc");
    let num = |i: usize| arg(i).parse::<usize>().expect("a number");
    match arg(0) {
        "fill" => fill(arg(1), arg(2), num(3), num(4)).await,
        "drain" => drain(arg(1), arg(2), num(3)),
        "reinsert" => reinsert(arg(1), arg(2), arg(3)).await,
        other => panic!("unknown part {other}; see the module doc"),
    }
}
