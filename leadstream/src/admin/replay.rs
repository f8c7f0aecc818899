//! `leadstream replay --workspace W`: after the store lost rows (a ClickHouse volume restored
//! from an older backup, a database dropped by mistake, the embedded store's folder put back from
//! a copy), re-reads the workspace's records from the events log and writes what the store lacks,
//! through the scorer's own pipeline ([`leadstream_scorer::pipeline::Pipeline::start_restoring`]).
//!
//! What it reads ([`leadstream_platform::log::replay`]): every partition from the beginning of
//! what the log keeps (or, on Kafka, from `--since`) up to the scorers' committed position. The
//! scorers write before they commit, so that is what the store had; what follows is theirs to
//! apply when they resume. Each stored profile carries the position of the last record applied to
//! it, so what the store still has is skipped, and the replay can be stopped (Ctrl-C writes what
//! was read) and run again. It sends nothing: the hand-offs, identity merges and dead letters of
//! these records are in their logs already.
//!
//! The scorers must be stopped: distributed, the scorers' consumer group must have no member
//! (checked); embedded, `leadstream serve` holds the log's file, so the replay cannot open it.

use std::sync::Arc;
use std::time::Duration;

use leadstream_platform::Backends;
use leadstream_platform::config::{Config, Mode};
use leadstream_platform::log::embedded::EmbeddedLog;
use leadstream_platform::log::replay::{self, Plan};
use leadstream_platform::telemetry::Heartbeats;
use leadstream_platform::workspaces::RegistryFile;
use leadstream_scorer::metrics;
use leadstream_scoring::profile::ProfileBook;
use tokio_util::sync::CancellationToken;

/// What to replay.
pub struct Options<'a> {
    pub workspace: &'a str,
    /// Kafka only: start at the first record the broker stamped at or after this time.
    pub since_ms: Option<i64>,
    /// Say what would be read, read nothing.
    pub dry_run: bool,
    /// The operator says the scorers are stopped, for a broker that cannot describe the
    /// scorers' consumer group.
    pub scorers_stopped: bool,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// What a replay did.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub workspace: String,
    pub plan: Plan,
    /// Records read (of every workspace).
    pub read: u64,
    /// Events of the workspace applied and written again.
    pub applied: u64,
    /// Records of the workspace the store had already.
    pub skipped: u64,
    pub score_changes: u64,
    pub dry_run: bool,
    pub interrupted: bool,
}

fn delta(before: u64, after: u64) -> u64 {
    after.saturating_sub(before)
}

/// Runs the replay; `stop` (Ctrl-C) ends it after writing what was read.
pub async fn run(
    config: &Config,
    options: &Options<'_>,
    stop: CancellationToken,
) -> anyhow::Result<Report> {
    let backends = Backends::new(config.clone());
    let mut names: Vec<String> = config.workspaces.iter().map(|w| w.name.clone()).collect();
    if config.mode == Mode::Embedded {
        names.extend(
            RegistryFile::in_dir(&config.data_dir)
                .read()?
                .into_iter()
                .map(|w| w.name),
        );
    }
    if !names.iter().any(|n| n == options.workspace) {
        anyhow::bail!(
            "no workspace `{}` in this config (its workspaces: {}; see `leadstream workspace list`)",
            options.workspace,
            names.join(", ")
        );
    }
    let (plan, reader) = match config.mode {
        Mode::Embedded => {
            if options.since_ms.is_some() {
                anyhow::bail!(
                    "--since: the embedded log keeps no times of its own; replay it whole (what the store has is skipped)"
                );
            }
            let dir = config.data_dir.join("log");
            let log = EmbeddedLog::open(&dir).map_err(|e| {
                anyhow::anyhow!(
                    "opening the embedded log {}: {e} (a running `leadstream serve` holds it: stop it before replaying)",
                    dir.display()
                )
            })?;
            let plan =
                replay::embedded_plan(&log, leadstream_platform::backends::EMBEDDED_SCORER_GROUP)?;
            let reader = (!options.dry_run).then(|| replay::embedded_reader(&log, &plan));
            (plan, reader)
        }
        Mode::Distributed => {
            let kafka = config.kafka.clone();
            let since = options.since_ms;
            let plan =
                tokio::task::spawn_blocking(move || replay::kafka_plan(&kafka, since)).await??;
            if !plan.members.is_empty() {
                anyhow::bail!(
                    "the scorers' consumer group `{}` has {} member(s) ({}): stop every scorer before replaying, or their writes race the replay's",
                    plan.group,
                    plan.members.len(),
                    plan.members.join(", ")
                );
            }
            if let Some(why) = &plan.members_unknown {
                if !options.scorers_stopped {
                    anyhow::bail!(
                        "the broker did not describe the scorers' consumer group `{}` ({why}), so a running scorer cannot be ruled out: stop every scorer before replaying, then say so with --scorers-stopped",
                        plan.group
                    );
                }
                tracing::warn!(group = %plan.group, error = %why, "the broker did not describe the scorers' group; going on as --scorers-stopped says");
            }
            let reader = if options.dry_run {
                None
            } else {
                Some(replay::kafka_reader(&config.kafka, &plan)?)
            };
            (plan, reader)
        }
    };
    let mut report = Report {
        workspace: options.workspace.to_string(),
        read: 0,
        applied: 0,
        skipped: 0,
        score_changes: 0,
        dry_run: options.dry_run,
        interrupted: false,
        plan,
    };
    let Some((reader, progress)) = reader else {
        return Ok(report);
    };
    if report.plan.total() == 0 {
        return Ok(report);
    }
    let store = backends.store().await?;
    let model = leadstream_scorer::server::model(&backends, stop.clone())?;
    let book = Arc::new(ProfileBook::with_identity(config.identity.rules()));
    let pipeline = leadstream_scorer::pipeline::Pipeline::start_restoring(
        reader,
        store,
        options.workspace,
        book,
        model,
        config.scorer.clone(),
        Heartbeats::default(),
    )
    .await?;
    let before = counters();
    let bar = options.progress.then(|| bar(report.plan.total()));
    let ticker = bar.clone().map(|bar| {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(progress.read());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let result = pipeline.run(stop.clone()).await;
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result?;
    let after = counters();
    report.read = progress.read();
    report.applied = delta(before.0, after.0);
    report.skipped = delta(before.1, after.1);
    report.score_changes = delta(before.2, after.2);
    report.interrupted = stop.is_cancelled() && report.read < report.plan.total();
    Ok(report)
}

/// (events applied, records skipped as already applied, score changes), process-wide.
fn counters() -> (u64, u64, u64) {
    let skipped = ["offset", "message_id", "control"]
        .iter()
        .map(|why| metrics::DUPLICATES.with_label_values(&[why]).get())
        .sum();
    (metrics::EVENTS.get(), skipped, metrics::SCORE_CHANGES.get())
}

fn bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records ({per_sec}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The report for a person.
pub fn describe(report: &Report) -> String {
    let mut out = String::new();
    let spans: Vec<String> = report
        .plan
        .spans
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| format!("{}:{}..{}", s.partition, s.start, s.end))
        .collect();
    out.push_str(&format!(
        "{} record(s) to read up to the committed position of `{}` over {} partition(s){}\n",
        report.plan.total(),
        report.plan.group,
        report.plan.partitions(),
        if spans.is_empty() {
            String::new()
        } else {
            format!(" (partition:start..end {})", spans.join(" "))
        }
    ));
    if report.dry_run {
        out.push_str("dry run: nothing read\n");
        return out;
    }
    out.push_str(&format!(
        "{} read; workspace `{}`: {} event(s) written again, {} record(s) the store had, {} score change(s)\n",
        report.read, report.workspace, report.applied, report.skipped, report.score_changes
    ));
    if report.interrupted {
        out.push_str(
            "interrupted: what was read is written; run the same command again to go on\n",
        );
    }
    out
}
