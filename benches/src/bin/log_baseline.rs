//! The baselines of the collector's batch load test: the log alone, without HTTP, validation or
//! enrichment, written the way the collector writes it (each of `concurrency` writers hands over
//! `batch` events and waits until all are durable, then the next batch).
//!
//! - `log-baseline kafka <brokers> <topic> <events> <batch> <concurrency>`: a bare rdkafka
//!   `FutureProducer` with exactly the collector's producer settings
//!   (`KafkaConfig::client_config(Producer)`: idempotent, `acks=all`, lz4, `linger.ms`).
//! - `log-baseline embedded <dir> <events> <batch> <concurrency>`: the embedded log (redb,
//!   group-committed fsync) written directly.
//!
//! `LOG_BASELINE_EVENT_BYTES=<n>` pads each event to about n bytes (the side-by-side run with
//! PostHog capture writes ~1 KB page views; the default is the ~280-byte event of `batch.lua`).
//!
//! Prints `events_per_second=<n>` and `cpu_us_per_event=<n>` (the process's user + system CPU
//! time over the writes, from `/proc/self/stat`). Bounded by `events`; loopback only.

/// mimalloc: the collector and scorer allocate per event; glibc malloc showed up as ~20 % of a
/// profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use leadstream_benches::arg;
use leadstream_platform::config::{KafkaConfig, KafkaRole};
use leadstream_platform::log::embedded::EmbeddedLog;
use leadstream_platform::log::{EventLog, LogMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// The same event the load generator posts (`benches/load/batch.lua`), as bytes.
fn event(i: u64, pad: &str) -> (String, Vec<u8>) {
    let user = i % 5000;
    let body = format!(
        r#"{{"type":"track","userId":"user-{user}","event":"Page Viewed","messageId":"base-{i}","properties":{{"path":"/pricing","plan":"pro"{pad}}},"context":{{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0","page":{{"url":"https://acme.io/pricing?utm_source=news"}}}}}}"#
    );
    (format!("bench/user-{user}"), body.into_bytes())
}

/// What pads an event to `LOG_BASELINE_EVENT_BYTES` (empty without it).
fn padding() -> String {
    let wanted: usize = std::env::var("LOG_BASELINE_EVENT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let plain = event(0, "").1.len() + r#","pad":"""#.len();
    if wanted <= plain {
        return String::new();
    }
    format!(r#","pad":"{}""#, "x".repeat(wanted - plain))
}

/// This process's user + system CPU time so far, in seconds (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; clock ticks
    // of 1/100 s (USER_HZ on Linux).
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or_default();
    let (events, batch, concurrency): (u64, u64, u64) = match mode {
        "kafka" => (
            arg(&args, 4, "events"),
            arg(&args, 5, "batch"),
            arg(&args, 6, "concurrency"),
        ),
        "embedded" => (
            arg(&args, 3, "events"),
            arg(&args, 4, "batch"),
            arg(&args, 5, "concurrency"),
        ),
        _ => panic!("usage: log-baseline kafka|embedded ..."),
    };
    let per_writer = events / concurrency / batch;
    let pad: Arc<str> = padding().into();
    let started;
    let cpu_before;
    match mode {
        "kafka" => {
            let config = KafkaConfig {
                brokers: args[2].clone(),
                events_topic: args[3].clone(),
                ..KafkaConfig::default()
            };
            let producer: Arc<FutureProducer> = Arc::new(
                config
                    .client_config(KafkaRole::Producer)
                    .create()
                    .expect("producer"),
            );
            let topic = Arc::new(config.events_topic.clone());
            started = Instant::now();
            cpu_before = cpu_seconds();
            let writers = (0..concurrency).map(|w| {
                let (producer, topic, pad) = (producer.clone(), topic.clone(), pad.clone());
                tokio::spawn(async move {
                    for b in 0..per_writer {
                        let messages: Vec<(String, Vec<u8>)> = (0..batch)
                            .map(|i| event((w * per_writer + b) * batch + i, &pad))
                            .collect();
                        let deliveries: Vec<_> = messages
                            .iter()
                            .map(|(key, payload)| {
                                producer
                                    .send_result(FutureRecord::to(&topic).key(key).payload(payload))
                                    .map_err(|(e, _)| e)
                                    .expect("queued")
                            })
                            .collect();
                        for d in join_all(deliveries).await {
                            d.expect("not cancelled")
                                .map_err(|(e, _)| e)
                                .expect("delivered");
                        }
                    }
                })
            });
            for w in join_all(writers).await {
                w.expect("writer");
            }
        }
        _ => {
            let log = EmbeddedLog::open(std::path::Path::new(&args[2])).expect("log");
            started = Instant::now();
            cpu_before = cpu_seconds();
            let writers = (0..concurrency).map(|w| {
                let (log, pad) = (log.clone(), pad.clone());
                tokio::spawn(async move {
                    for b in 0..per_writer {
                        let messages = (0..batch)
                            .map(|i| {
                                let (key, payload) = event((w * per_writer + b) * batch + i, &pad);
                                LogMessage { key, payload }
                            })
                            .collect();
                        log.append(messages).await.expect("appended");
                    }
                })
            });
            for w in join_all(writers).await {
                w.expect("writer");
            }
        }
    }
    let written = per_writer * concurrency * batch;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    println!("events={written} seconds={secs:.3}");
    println!("events_per_second={:.0}", written as f64 / secs);
    println!("cpu_us_per_event={:.1}", cpu * 1e6 / written.max(1) as f64);
}
