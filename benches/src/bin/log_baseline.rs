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
//! Prints `events_per_second=<n>`. Bounded by `events`; loopback only.

/// mimalloc: the collector and scorer allocate per event; glibc malloc showed up as ~20 % of a
/// profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use leadstream_platform::config::{KafkaConfig, KafkaRole};
use leadstream_platform::log::embedded::EmbeddedLog;
use leadstream_platform::log::{EventLog, LogMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// The same event the load generator posts (`benches/load/batch.lua`), as bytes.
fn event(i: u64) -> (String, Vec<u8>) {
    let user = i % 5000;
    let body = format!(
        r#"{{"type":"track","userId":"user-{user}","event":"Page Viewed","messageId":"base-{i}","properties":{{"path":"/pricing","plan":"pro"}},"context":{{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0","page":{{"url":"https://acme.io/pricing?utm_source=news"}}}}}}"#
    );
    (format!("bench/user-{user}"), body.into_bytes())
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} ({name}) missing or invalid"))
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
    let started;
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
            let writers = (0..concurrency).map(|w| {
                let (producer, topic) = (producer.clone(), topic.clone());
                tokio::spawn(async move {
                    for b in 0..per_writer {
                        let messages: Vec<(String, Vec<u8>)> = (0..batch)
                            .map(|i| event((w * per_writer + b) * batch + i))
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
            let writers = (0..concurrency).map(|w| {
                let log = log.clone();
                tokio::spawn(async move {
                    for b in 0..per_writer {
                        let messages = (0..batch)
                            .map(|i| {
                                let (key, payload) = event((w * per_writer + b) * batch + i);
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
    println!("events={written} seconds={secs:.3}");
    println!("events_per_second={:.0}", written as f64 / secs);
}
