//! Event-to-visible-score latency (issue 20, goal 4), the load generator `benches/load/latency.sh`
//! runs against a running collector and query API. Loopback only; bounded in time and requests.
//!
//! `score-latency <collector url> <query url> <write key> <api token> <events/s> <seconds>`
//!
//! - Background load: `<events/s>` events (page views, pricing views, email opens and clicks,
//!   identifies) for `PEOPLE` people, sent as `POST /v1/batch` of `BATCH` events by `SENDERS`
//!   tasks, each on its own fixed schedule (open loop: a sender that falls behind sends its
//!   late batches at once, and the achieved rate is printed).
//! - Probes, `PROBES` per second while the load runs: a `POST /v1/track` for a person nobody has
//!   seen; from the collector's acknowledgement, `GET /v1/profiles/{id}` until the profile shows
//!   the event (`event_count` ≥ 1): every `POLL_MS` at first, then every 5 % of the time waited
//!   (at most 200 ms), so that the probes' own reads stay a small load when latencies are long.
//!   The latency is acknowledgement → first answer that shows it (resolution: the larger of
//!   `POLL_MS` and 5 %, plus one GET). A probe not visible within 30 s counts as timed out.
//! - `<events/s>` 0: the maximum sustained rate instead. `SENDERS` tasks send batches back to back
//!   for `<seconds>`; then one probe; the rate is the events sent over the time from the start until
//!   that probe is visible (the whole pipeline, collector to store, has then absorbed the burst).
//!
//! Prints `key=value` lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Target {
    client: reqwest::Client,
    collector: String,
    query: String,
    write_auth: String,
    token: String,
    run: String,
    sent: AtomicU64,
    refused: AtomicU64,
}

const KINDS: [(&str, &str); 5] = [
    ("Page Viewed", "/blog/scoring"),
    ("Page Viewed", "/pricing"),
    ("Email Opened", ""),
    ("Email Link Clicked", ""),
    ("Product Viewed", "/product"),
];

impl Target {
    fn event(&self, n: u64, people: u64) -> serde_json::Value {
        let person = n.wrapping_mul(2_654_435_761) % people;
        let (event, path) = KINDS[(n % KINDS.len() as u64) as usize];
        if n.is_multiple_of(17) {
            return json!({
                "type": "identify",
                "userId": format!("lat-{person}"),
                "messageId": format!("{}-{n}", self.run),
                "traits": {"email": format!("lat-{person}@example.com"), "company": "Acme", "title": "VP Marketing"},
            });
        }
        json!({
            "type": "track",
            "userId": format!("lat-{person}"),
            "event": event,
            "messageId": format!("{}-{n}", self.run),
            "properties": {"path": path, "campaign_id": "c-1"},
            "context": {
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                "page": {"url": format!("https://acme.io{path}?utm_source=news&utm_campaign=q4"), "path": path, "title": "Acme"},
                "locale": "en-US",
                "library": {"name": "analytics.js", "version": "4.1.0"}
            }
        })
    }

    async fn send_batch(&self, first: u64, size: u64, people: u64) {
        let batch: Vec<_> = (first..first + size)
            .map(|n| self.event(n, people))
            .collect();
        let ok = self
            .client
            .post(format!("{}/v1/batch", self.collector))
            .header("Authorization", &self.write_auth)
            .json(&json!({ "batch": batch }))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            self.sent.fetch_add(size, Ordering::Relaxed);
        } else {
            self.refused.fetch_add(size, Ordering::Relaxed);
        }
    }

    /// Sends one event for a new person; from its acknowledgement, polls the profile until it
    /// shows the event. The latency, or `None` when the event was refused or not visible in 30 s.
    async fn probe(&self, n: u64, poll: Duration) -> Option<Duration> {
        let id = format!("probe-{}-{n}", self.run);
        let sent = self
            .client
            .post(format!("{}/v1/track", self.collector))
            .header("Authorization", &self.write_auth)
            .json(&json!({
                "userId": id,
                "event": "Pricing Viewed",
                "messageId": format!("{}-probe-{n}", self.run),
                "properties": {"plan": "growth"},
            }))
            .send()
            .await
            .ok()?;
        if !sent.status().is_success() {
            return None;
        }
        let acked = Instant::now();
        let url = format!("{}/v1/profiles/{id}", self.query);
        while acked.elapsed() < Duration::from_secs(30) {
            if let Ok(r) = self.client.get(&url).bearer_auth(&self.token).send().await
                && r.status().is_success()
                && let Ok(profile) = r.json::<serde_json::Value>().await
                && profile["event_count"].as_u64().unwrap_or(0) >= 1
            {
                return Some(acked.elapsed());
            }
            // Every `poll` at first, then every 5 % of the time waited so far (at most 200 ms):
            // the reading stays within 5 % while the probes' own GETs stay a small load when
            // the latency is seconds.
            let every = (acked.elapsed() / 20).clamp(poll, Duration::from_millis(200).max(poll));
            tokio::time::sleep(every).await;
        }
        None
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!(
            "usage: score-latency <collector url> <query url> <write key> <api token> <events/s, 0 = max> <seconds>"
        );
        std::process::exit(2);
    }
    let rate: u64 = args[5].parse().expect("events/s");
    let seconds: u64 = args[6].parse().expect("seconds");
    assert!(seconds <= 600, "at most 600 s");
    let batch = env_or("BATCH", 20).max(1);
    let senders = env_or("SENDERS", 32).max(1);
    let people = env_or("PEOPLE", 10_000).max(1);
    let probes_per_s = env_or("PROBES", 5).max(1);
    let poll = Duration::from_millis(env_or("POLL_MS", 10));
    use base64::Engine;
    let target = Arc::new(Target {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("client"),
        collector: args[1].trim_end_matches('/').to_string(),
        query: args[2].trim_end_matches('/').to_string(),
        write_auth: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", args[3]))
        ),
        token: args[4].clone(),
        run: format!("{}{}", std::process::id(), chrono_ms() % 1_000_000),
        sent: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for s in 0..senders {
        let (target, next) = (target.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            if rate == 0 {
                while Instant::now() < until {
                    let first = next.fetch_add(batch, Ordering::Relaxed);
                    target.send_batch(first, batch, people).await;
                }
                return;
            }
            // Each sender's share of the rate, its batches evenly spaced and offset from the others'.
            let every = Duration::from_secs_f64((batch * senders) as f64 / rate as f64);
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + every.mul_f64(s as f64 / senders as f64),
                every,
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            loop {
                tick.tick().await;
                if Instant::now() >= until {
                    return;
                }
                let first = next.fetch_add(batch, Ordering::Relaxed);
                target.send_batch(first, batch, people).await;
            }
        }));
    }

    let mut probes = Vec::new();
    if rate > 0 {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / probes_per_s as f64));
        let mut n = 0u64;
        loop {
            tick.tick().await;
            if Instant::now() >= until {
                break;
            }
            let target = target.clone();
            probes.push(tokio::spawn(async move { target.probe(n, poll).await }));
            n += 1;
        }
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let load_seconds = started.elapsed().as_secs_f64();
    let sent = target.sent.load(Ordering::Relaxed);
    println!("events_sent={sent}");
    println!("events_refused={}", target.refused.load(Ordering::Relaxed));
    println!("load_seconds={load_seconds:.2}");
    println!("sent_events_per_second={:.0}", sent as f64 / load_seconds);

    if rate == 0 {
        let last = target.probe(u64::MAX, poll).await;
        match last {
            Some(_) => println!(
                "sustained_events_per_second={:.0}",
                sent as f64 / started.elapsed().as_secs_f64()
            ),
            None => println!("sustained_events_per_second=nan"),
        }
        println!("absorbed_seconds={:.2}", started.elapsed().as_secs_f64());
        return;
    }
    let mut seen = Vec::new();
    let mut lost = 0;
    for p in probes {
        match p.await.expect("probe") {
            Some(d) => seen.push(d),
            None => lost += 1,
        }
    }
    seen.sort();
    println!("probes={}", seen.len() + lost);
    println!("probes_not_visible={lost}");
    println!("p50_ms={:.0}", leadstream_benches::quantile_ms(&seen, 0.50));
    println!("p90_ms={:.0}", leadstream_benches::quantile_ms(&seen, 0.90));
    println!("p99_ms={:.0}", leadstream_benches::quantile_ms(&seen, 0.99));
    println!(
        "max_ms={:.0}",
        seen.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    );
}

fn chrono_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
