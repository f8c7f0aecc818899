//! `leadstream doctor`: can this config reach what it needs? Each check prints one line,
//! `ok`, `warn` or `FAIL`, with what it found; the command fails when any check failed.
//!
//! Distributed mode: the brokers (metadata of the events, failed-events, hand-off and
//! dead-letter topics: partitions, or missing), the scorers' consumer group (committed offset
//! and lag per partition of the events topic), ClickHouse (server version, database, applied
//! migrations against this build's), each CRM webhook (an HTTP answer at all, within its
//! timeout). Embedded mode: the data directory.

use std::time::Duration;

use leadstream_platform::config::{Config, KafkaRole, Mode};
use leadstream_platform::store::clickhouse::{MIGRATIONS, Migration, http, migrations};
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub status: Status,
    /// `kafka`, `topic`, `consumer-group`, `clickhouse`, `migrations`, `webhook`, `data-dir`.
    pub what: String,
    pub detail: String,
}

impl Check {
    fn new(status: Status, what: &str, detail: impl Into<String>) -> Check {
        Check {
            status,
            what: what.to_string(),
            detail: detail.into(),
        }
    }

    pub fn line(&self) -> String {
        let status = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        format!("{status}  {:<15} {}", self.what, self.detail)
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Every check for `config`, in order.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    match config.mode {
        Mode::Embedded => checks.push(data_dir(config)),
        Mode::Distributed => {
            let kafka = config.clone();
            match tokio::task::spawn_blocking(move || kafka_checks(&kafka)).await {
                Ok(found) => checks.extend(found),
                Err(e) => checks.push(Check::new(Status::Fail, "kafka", e.to_string())),
            }
            checks.extend(clickhouse_checks(config).await);
        }
    }
    checks.extend(webhook_checks(config).await);
    checks
}

fn data_dir(config: &Config) -> Check {
    let dir = &config.data_dir;
    if !dir.exists() {
        return Check::new(
            Status::Ok,
            "data-dir",
            format!(
                "{} does not exist yet (made at the first start)",
                dir.display()
            ),
        );
    }
    let probe = dir.join(".doctor-probe");
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Check::new(
                Status::Ok,
                "data-dir",
                format!("{} is writable", dir.display()),
            )
        }
        Err(e) => Check::new(
            Status::Fail,
            "data-dir",
            format!("{} is not writable: {e}", dir.display()),
        ),
    }
}

fn kafka_checks(config: &Config) -> Vec<Check> {
    let kafka = &config.kafka;
    let mut checks = Vec::new();
    let consumer: BaseConsumer = match kafka.client_config(KafkaRole::Consumer).create() {
        Ok(c) => c,
        Err(e) => return vec![Check::new(Status::Fail, "kafka", e.to_string())],
    };
    let metadata = match consumer.fetch_metadata(None, TIMEOUT) {
        Ok(m) => m,
        Err(e) => {
            return vec![Check::new(
                Status::Fail,
                "kafka",
                format!("{}: {e}", kafka.describe()),
            )];
        }
    };
    checks.push(Check::new(
        Status::Ok,
        "kafka",
        format!(
            "{}: {} broker(s), {} topic(s)",
            kafka.describe(),
            metadata.brokers().len(),
            metadata.topics().len()
        ),
    ));
    let topics = [
        ("events", kafka.events_topic.as_str()),
        ("failed events", config.ingest.failed_events_topic.as_str()),
        ("hand-offs", config.scorer.handoff_topic.as_str()),
        ("dead letters", config.scorer.dead_letter_topic.as_str()),
    ];
    let mut events_partitions = 0;
    for (role, name) in topics {
        match metadata.topics().iter().find(|t| t.name() == name) {
            Some(t) if t.error().is_none() => {
                if name == kafka.events_topic {
                    events_partitions = t.partitions().len();
                }
                checks.push(Check::new(
                    Status::Ok,
                    "topic",
                    format!("{name} ({role}): {} partition(s)", t.partitions().len()),
                ));
            }
            _ => checks.push(Check::new(
                if kafka.create_topics {
                    Status::Warn
                } else {
                    Status::Fail
                },
                "topic",
                format!(
                    "{name} ({role}) does not exist{}",
                    if kafka.create_topics {
                        " (made at the first start: kafka.create_topics)"
                    } else {
                        " and kafka.create_topics is off"
                    }
                ),
            )),
        }
    }
    if events_partitions > 0 {
        checks.push(group_lag(&consumer, config, events_partitions as i32));
    }
    checks
}

/// The scorers' committed offsets against the high watermarks of the events topic.
fn group_lag(consumer: &BaseConsumer, config: &Config, partitions: i32) -> Check {
    let topic = &config.kafka.events_topic;
    let mut list = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = match consumer.committed_offsets(list, TIMEOUT) {
        Ok(c) => c,
        Err(e) => {
            return Check::new(
                Status::Fail,
                "consumer-group",
                format!("{}: {e}", config.kafka.consumer_group),
            );
        }
    };
    let mut total_lag = 0i64;
    let mut parts = Vec::new();
    for p in 0..partitions {
        let high = match consumer.fetch_watermarks(topic, p, TIMEOUT) {
            Ok((_, high)) => high,
            Err(e) => {
                return Check::new(
                    Status::Fail,
                    "consumer-group",
                    format!("partition {p}: {e}"),
                );
            }
        };
        let at = committed
            .find_partition(topic, p)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        let lag = high - at.unwrap_or(0);
        total_lag += lag;
        parts.push(match at {
            Some(o) => format!("{p}:{o}/{high}"),
            None => format!("{p}:-/{high}"),
        });
    }
    Check::new(
        Status::Ok,
        "consumer-group",
        format!(
            "{}: lag {total_lag} (partition:committed/end {})",
            config.kafka.consumer_group,
            parts.join(" ")
        ),
    )
}

async fn clickhouse_checks(config: &Config) -> Vec<Check> {
    let ch = &config.clickhouse;
    let client = match http::client(ch) {
        Ok(c) => c.with_validation(false),
        Err(e) => return vec![Check::new(Status::Fail, "clickhouse", e.to_string())],
    };
    let version = tokio::time::timeout(
        TIMEOUT,
        client.query("SELECT version()").fetch_one::<String>(),
    )
    .await;
    let version = match version {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return vec![Check::new(
                Status::Fail,
                "clickhouse",
                format!("{}: {e}", ch.describe()),
            )];
        }
        Err(_) => {
            return vec![Check::new(
                Status::Fail,
                "clickhouse",
                format!("{}: no answer within {TIMEOUT:?}", ch.describe()),
            )];
        }
    };
    let mut checks = vec![Check::new(
        Status::Ok,
        "clickhouse",
        format!("{}: ClickHouse {version}", ch.describe()),
    )];
    let applied = client
        .query("SELECT count() FROM ?.schema_migrations")
        .bind(clickhouse::sql::Identifier(&ch.database))
        .fetch_one::<u64>()
        .await;
    // Those this server takes: the ones for newer servers do not apply to an older one.
    let major = migrations::major_version(&version).unwrap_or(0);
    let want = MIGRATIONS
        .iter()
        .filter(|(_, _, m)| match m {
            Migration::Current { min_major, .. } => major >= *min_major,
            _ => true,
        })
        .count() as u64;
    // Missing migrations are a warning when a service applies them at its start, else a failure.
    let missing = if ch.migrate {
        Status::Warn
    } else {
        Status::Fail
    };
    let then = if ch.migrate {
        "run `leadstream migrate` (or let a service apply them at start: clickhouse.migrate)"
    } else {
        "run `leadstream migrate`"
    };
    checks.push(match applied {
        Ok(n) if n >= want => {
            Check::new(Status::Ok, "migrations", format!("{n} of {want} applied"))
        }
        Ok(n) => Check::new(
            missing,
            "migrations",
            format!("{n} of {want} applied; {then}"),
        ),
        Err(_) => Check::new(
            missing,
            "migrations",
            format!("database {} has no schema yet; {then}", ch.database),
        ),
    });
    checks
}

async fn webhook_checks(config: &Config) -> Vec<Check> {
    let client = leadstream_platform::webhook::client();
    let mut checks = Vec::new();
    for w in &config.crm.webhooks {
        let origin = leadstream_platform::config::origin(&w.url);
        // Any HTTP answer means the endpoint is reachable (an unsigned probe is expected to be
        // refused); no answer, or a TLS failure, is what a delivery would meet.
        let answer = client
            .head(&w.url)
            .timeout(Duration::from_millis(w.timeout_ms))
            .send()
            .await;
        checks.push(match answer {
            Ok(r) => Check::new(
                Status::Ok,
                "webhook",
                format!(
                    "{} ({origin}) answers (HTTP {})",
                    w.name,
                    r.status().as_u16()
                ),
            ),
            Err(e) => Check::new(
                Status::Fail,
                "webhook",
                format!("{} ({origin}): {e}", w.name),
            ),
        });
    }
    checks
}
