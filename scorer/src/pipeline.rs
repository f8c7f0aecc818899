//! The scorer's loop: poll the log → apply each event to its profile → at each flush: hand
//! qualified leads to sales, park undecodable messages, write events, score changes and profile
//! versions to the store → commit the log position.
//!
//! Exactly once, across `kill -9`: a position is committed only after the store write that covers
//! it, and every profile carries the log position of the last event applied to it, so a replay
//! after a crash skips what the stored profile already has; events are also deduplicated by
//! `messageId`. Hand-offs are written before the store write: a crash in between repeats a
//! hand-off with the same idempotency key (the same crossing), never loses one.
//!
//! Partition-owned state: the scorer holds the profiles of the partitions it owns. An assignment
//! loads those partitions' profiles from the store before any of their events is applied (retried
//! while the store is down, `/ready` failing meanwhile); a revocation writes and commits what was
//! applied, then drops those profiles, before the partitions go to another scorer. Profile
//! versions come from log offsets ([`leadstream_scoring::profile::OFFSET_VERSIONS`]), so a
//! revoked owner's late write and the next owner's replay of the same events agree.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leadstream_platform::config::ScorerConfig;
use leadstream_platform::log::{Delivered, EventLog, LogConsumer, LogMessage, Ownership};
use leadstream_platform::store::{
    EventRow, HandoffRow, IdentityRow, ProfileRow, ScoreChangeRow, ScorerStore, WriteBatch,
};
use leadstream_platform::telemetry::Heartbeats;
use leadstream_schemas::{
    Contribution, Control, ControlRecord, Decoded, EventKind, LeadQualified, LogRecord,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics;
use leadstream_scoring::model::Model;
use leadstream_scoring::profile::{
    Applied, ControlOutcome, ProfileBook, ProfileKey, ProfileState, Settings, Skipped,
};

const HEARTBEAT: &str = "scorer_pipeline";
const HEARTBEAT_DEADLINE: Duration = Duration::from_secs(60);
/// How long shutdown may spend writing what is pending.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the consumer lag is measured.
const LAG_EVERY: Duration = Duration::from_secs(5);
/// How long polls may come back empty while the log says records wait before the pipeline
/// stops reporting in (then `/health` fails after [`HEARTBEAT_DEADLINE`]): longer than a
/// rebalance, and than the lag's own staleness (librdkafka's statistics, every 5 s).
const STALL_AFTER: Duration = Duration::from_secs(60);
/// How many contributions a hand-off lists.
const TOP_CONTRIBUTIONS: usize = 5;

/// Where the pipeline writes besides the store.
pub struct Outputs {
    /// The events log itself: identity merge records and forwarded events.
    pub events: Arc<dyn EventLog>,
    pub handoffs: Arc<dyn EventLog>,
    pub dead_letters: Arc<dyn EventLog>,
}

struct PendingHandoff {
    key: ProfileKey,
    crossing: u32,
    at_ms: i64,
    /// The profile as it was at the crossing (later events of the same flush may change it).
    profile: leadstream_schemas::Profile,
}

pub struct Pipeline {
    consumer: Box<dyn LogConsumer>,
    store: Arc<dyn ScorerStore>,
    /// None while restoring ([`Pipeline::start_restoring`]): what the log already holds is not
    /// sent again.
    outputs: Option<Outputs>,
    /// Restoring: the one workspace whose records are applied.
    scope: Option<String>,
    book: Arc<ProfileBook>,
    model: watch::Receiver<Arc<Model>>,
    settings: Settings,
    config: ScorerConfig,
    heartbeats: Heartbeats,
    pending: Vec<Delivered>,
    batch: WriteBatch,
    dirty: HashSet<ProfileKey>,
    handoffs: Vec<PendingHandoff>,
    dead: Vec<LogMessage>,
    /// Identity merge records and forwarded events, for the events log.
    outgoing: Vec<LogMessage>,
    /// `lead.activity` records of handed-over leads, for the hand-off log.
    activity: Vec<LogMessage>,
    /// The partitions whose profiles are loaded, of how many in the log.
    owned: Vec<i32>,
    of: i32,
    /// Whether every owned partition's profiles are loaded (`/ready`).
    loaded: Arc<AtomicBool>,
}

impl Pipeline {
    /// Prepares to consume into `book`. A log with fixed partitions (embedded) has them loaded
    /// here; otherwise each assignment loads its partitions' profiles.
    pub async fn start(
        consumer: Box<dyn LogConsumer>,
        store: Arc<dyn ScorerStore>,
        outputs: Outputs,
        book: Arc<ProfileBook>,
        model: watch::Receiver<Arc<Model>>,
        config: ScorerConfig,
        heartbeats: Heartbeats,
    ) -> anyhow::Result<Pipeline> {
        Pipeline::open(
            consumer,
            store,
            Some(outputs),
            None,
            book,
            model,
            config,
            heartbeats,
        )
        .await
    }

    /// A pipeline that restores `workspace`'s rows in the store from a bounded reader of the log
    /// ([`leadstream_platform::log::replay`]): it loads that workspace's stored profiles of every
    /// partition, applies that workspace's records the stored profiles do not have yet, writes
    /// events, score changes, hand-off rows, identities and profiles as the scorer did, and sends
    /// nothing (the hand-offs, identity merges and dead letters of those records are in the logs
    /// already), commits nothing, and [`Pipeline::run`] returns once the reader is finished.
    pub async fn start_restoring(
        consumer: Box<dyn LogConsumer>,
        store: Arc<dyn ScorerStore>,
        workspace: &str,
        book: Arc<ProfileBook>,
        model: watch::Receiver<Arc<Model>>,
        config: ScorerConfig,
        heartbeats: Heartbeats,
    ) -> anyhow::Result<Pipeline> {
        Pipeline::open(
            consumer,
            store,
            None,
            Some(workspace.to_string()),
            book,
            model,
            config,
            heartbeats,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn open(
        consumer: Box<dyn LogConsumer>,
        store: Arc<dyn ScorerStore>,
        outputs: Option<Outputs>,
        scope: Option<String>,
        book: Arc<ProfileBook>,
        model: watch::Receiver<Arc<Model>>,
        config: ScorerConfig,
        heartbeats: Heartbeats,
    ) -> anyhow::Result<Pipeline> {
        let fixed = consumer.fixed_assignment();
        let mut pipeline = Pipeline {
            consumer,
            store,
            outputs,
            scope,
            book,
            model,
            settings: Settings {
                pages: config.recent_pages,
            },
            config,
            heartbeats,
            pending: Vec::new(),
            batch: WriteBatch::default(),
            dirty: HashSet::new(),
            handoffs: Vec::new(),
            dead: Vec::new(),
            outgoing: Vec::new(),
            activity: Vec::new(),
            owned: Vec::new(),
            of: 0,
            loaded: Arc::new(AtomicBool::new(true)),
        };
        if let Some((partitions, of)) = fixed {
            match &pipeline.scope {
                None => {
                    let restored =
                        load_into(&pipeline.book, pipeline.store.as_ref(), &partitions, of).await?;
                    pipeline.owns(&partitions, of, restored);
                }
                Some(w) => {
                    let rows = pipeline
                        .store
                        .load_workspace_profiles(w, &partitions)
                        .await?;
                    pipeline.restore(&partitions, of, rows);
                }
            }
        }
        Ok(pipeline)
    }

    /// Whether the profiles of every partition this scorer owns are loaded: a scorer that could
    /// not load an assignment (store down) is not ready, and applies nothing of it.
    pub fn loaded(&self) -> Arc<AtomicBool> {
        self.loaded.clone()
    }

    /// Puts the stored profiles of `partitions` (of `of`) into the book ([`restore`]) and
    /// records the partitions as owned.
    fn restore(
        &mut self,
        partitions: &[i32],
        of: i32,
        rows: Vec<leadstream_platform::store::StateRow>,
    ) -> usize {
        let restored = restore(&self.book, partitions, of, rows);
        self.owns(partitions, of, restored);
        restored
    }

    /// Records `partitions` (of `of`) as owned once `restored` of their profiles are in the book.
    fn owns(&mut self, partitions: &[i32], of: i32, restored: usize) {
        self.owned.extend_from_slice(partitions);
        self.owned.sort_unstable();
        self.owned.dedup();
        self.of = of;
        tracing::info!(
            profiles = restored,
            ?partitions,
            of,
            "loaded the stored profiles of assigned partitions"
        );
        metrics::PROFILES_LOADED.inc_by(restored as u64);
        metrics::PROFILES_LOADED_LAST.set(restored as i64);
        metrics::PARTITIONS_OWNED.set(self.owned.len() as i64);
        metrics::PROFILES_UNREADABLE.set(self.book.quarantined() as i64);
        metrics::PROFILES_IN_MEMORY.set(self.book.len() as i64);
    }

    /// Handles a change of the partitions this scorer owns (see the module's docs).
    async fn own(&mut self, change: Ownership, shutdown: &CancellationToken) -> anyhow::Result<()> {
        match change {
            Ownership::Assigned { partitions, of } => {
                self.loaded.store(false, Ordering::Relaxed);
                let started = Instant::now();
                let mut backoff = Duration::from_millis(200);
                let restored = loop {
                    self.heartbeats.beat(HEARTBEAT, HEARTBEAT_DEADLINE);
                    match load_into(&self.book, self.store.as_ref(), &partitions, of).await {
                        Ok(restored) => break restored,
                        Err(e) => {
                            metrics::ERRORS.with_label_values(&["load"]).inc();
                            tracing::warn!(error = %e, ?partitions, "loading the assigned partitions' profiles failed; retrying, consuming none of them meanwhile");
                            tokio::select! {
                                _ = shutdown.cancelled() => return Ok(()),
                                _ = tokio::time::sleep(backoff) => {}
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(10));
                        }
                    }
                };
                self.owns(&partitions, of, restored);
                metrics::LOAD_SECONDS.observe(started.elapsed().as_secs_f64());
                self.loaded.store(true, Ordering::Relaxed);
            }
            Ownership::Revoked { partitions, done } => {
                let started = Instant::now();
                if !self.pending.is_empty() {
                    // Everything applied so far (of every partition: simpler, and early is
                    // harmless), written and committed while the partitions are still ours.
                    self.flush(shutdown, None).await?;
                }
                if !self.pending.is_empty() {
                    // Shutdown began while the store was down: nothing of it is committed, and
                    // the next owner replays it.
                    tracing::warn!(?partitions, "revoked partitions given up unwritten");
                    return Ok(());
                }
                let dropped = self.book.drop_partitions(&partitions);
                self.owned.retain(|p| !partitions.contains(p));
                done.done();
                tracing::info!(
                    ?partitions,
                    dropped,
                    "revoked partitions written, committed and dropped"
                );
                metrics::REVOKE_SECONDS.observe(started.elapsed().as_secs_f64());
                metrics::PROFILES_DROPPED.inc_by(dropped as u64);
                metrics::PARTITIONS_OWNED.set(self.owned.len() as i64);
                metrics::PROFILES_IN_MEMORY.set(self.book.len() as i64);
                metrics::PROFILES_UNREADABLE.set(self.book.quarantined() as i64);
            }
        }
        Ok(())
    }

    /// Runs until `shutdown`, then writes what is pending and commits it.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let interval = Duration::from_millis(self.config.flush_interval_ms.unwrap_or(100));
        let mut last_flush = Instant::now();
        let mut poll_backoff = Duration::from_millis(100);
        let mut lag_checked = Instant::now() - LAG_EVERY;
        let mut lag = 0;
        // Time spent in polls that came back empty while records wait: a consumer that stopped
        // fetching (it happened: see `log/kafka.rs`, `GroupContext::stats`) must not pass for a
        // healthy one with nothing to do.
        let mut starved = Duration::ZERO;
        loop {
            if lag_checked.elapsed() >= LAG_EVERY {
                lag_checked = Instant::now();
                if let Some(measured) = self.consumer.lag().await {
                    metrics::CONSUMER_LAG.set(measured);
                    lag = measured;
                    if lag == 0 {
                        starved = Duration::ZERO;
                    }
                }
                metrics::CONSUMER_STARVED.set(starved.as_secs_f64());
            }
            if starved < STALL_AFTER {
                self.heartbeats.beat(HEARTBEAT, HEARTBEAT_DEADLINE);
            }
            let wait = interval.min(Duration::from_millis(250));
            let poll_started = Instant::now();
            let polled = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.consumer.poll(self.config.flush_max_events, wait) => r,
            };
            match polled {
                Ok(batch) => {
                    poll_backoff = Duration::from_millis(100);
                    if !batch.is_empty() {
                        starved = Duration::ZERO;
                    } else if lag > 0 {
                        let was = starved;
                        starved += poll_started.elapsed();
                        if was < STALL_AFTER && starved >= STALL_AFTER {
                            tracing::error!(
                                lag,
                                seconds = starved.as_secs(),
                                "the log says records wait but none arrive; reporting unhealthy"
                            );
                        }
                    }
                    self.apply(batch);
                    if let Some(change) = self.consumer.ownership() {
                        self.own(change, &shutdown).await?;
                        last_flush = Instant::now();
                    }
                }
                Err(e) => {
                    metrics::ERRORS.with_label_values(&["poll"]).inc();
                    tracing::warn!(error = %e, "polling the log failed; backing off");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(poll_backoff) => {}
                    }
                    poll_backoff = (poll_backoff * 2).min(Duration::from_secs(5));
                }
            }
            let due = last_flush.elapsed() >= interval
                || self.batch.events.len() >= self.config.flush_max_events;
            if due && !self.pending.is_empty() {
                self.flush(&shutdown, None).await?;
                last_flush = Instant::now();
            }
            if self.consumer.finished() {
                if !self.pending.is_empty() {
                    self.flush(&shutdown, None).await?;
                }
                if self.pending.is_empty() {
                    tracing::info!("the reader is at its end; everything read is written");
                    self.heartbeats.retire(HEARTBEAT);
                    return Ok(());
                }
            }
        }
        tracing::info!(
            pending = self.pending.len(),
            "scorer stopping; writing what is pending"
        );
        if !self.pending.is_empty() {
            self.flush(&shutdown, Some(SHUTDOWN_FLUSH_TIMEOUT)).await?;
        }
        self.heartbeats.retire(HEARTBEAT);
        Ok(())
    }

    fn apply(&mut self, batch: Vec<Delivered>) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let model = self.model.borrow().clone();
        for d in &batch {
            let decoded = Decoded::decode(&d.payload);
            if let (Some(scope), Ok(decoded)) = (&self.scope, &decoded) {
                let workspace = match decoded {
                    Decoded::Event(r) => &r.workspace,
                    Decoded::Control(c) => &c.workspace,
                };
                if workspace != scope {
                    continue;
                }
            }
            match decoded {
                Ok(Decoded::Event(record)) => self.apply_event(&record, d, &model, now_ms),
                Ok(Decoded::Control(control)) => self.apply_control(&control, d, &model, now_ms),
                Err(e) => {
                    metrics::DECODE_ERRORS.inc();
                    tracing::warn!(partition = d.partition, offset = d.offset, error = %e, "undecodable log message; parking it in the dead-letter log");
                    self.dead.push(LogMessage {
                        key: format!("{}/{}", d.partition, d.offset),
                        payload: d.payload.clone(),
                    });
                }
            }
        }
        self.pending.extend(batch);
        metrics::PROFILES_IN_MEMORY.set(self.book.len() as i64);
    }

    /// Parks a message for a profile whose stored state is unreadable.
    fn park(&mut self, workspace: &str, person: &str, d: &Delivered) {
        metrics::PARKED_FOR_UNREADABLE.inc();
        tracing::warn!(
            workspace,
            profile = person,
            partition = d.partition,
            offset = d.offset,
            "event for a profile whose stored state is unreadable: parked in the dead-letter log"
        );
        self.dead.push(LogMessage {
            key: format!("{workspace}/{person}"),
            payload: d.payload.clone(),
        });
    }

    fn apply_event(&mut self, record: &LogRecord, d: &Delivered, model: &Arc<Model>, now_ms: i64) {
        if let Some(person) = record.event.person_id()
            && self.book.is_quarantined(&record.workspace, person)
        {
            self.park(&record.workspace, person, d);
            return;
        }
        let Some((key, outcome)) = self.book.apply(
            record,
            Some((d.partition, d.offset)),
            model,
            &self.settings,
            now_ms,
        ) else {
            return;
        };
        let applied = match outcome {
            Ok(applied) => applied,
            Err(Skipped::Replayed) => {
                tracing::debug!(partition = d.partition, offset = d.offset, profile = %key.person, message_id = ?record.event.message_id, "skipped: already applied before a restart");
                metrics::DUPLICATES.with_label_values(&["offset"]).inc();
                return;
            }
            Err(Skipped::DuplicateMessageId) => {
                metrics::DUPLICATES.with_label_values(&["message_id"]).inc();
                self.dirty.insert(key);
                return;
            }
            Err(Skipped::Forwarded(into)) => {
                // Same messageId: the person's owner deduplicates a repeat after a crash.
                let mut forwarded = record.clone();
                forwarded.event.user_id = Some(into.to_string());
                self.outgoing.push(LogMessage {
                    key: forwarded.key(),
                    payload: forwarded.encode(),
                });
                metrics::FORWARDED.inc();
                self.dirty.insert(key);
                return;
            }
        };
        if let Some(request) = self.book.merge_request(record, &key) {
            metrics::MERGES.with_label_values(&["requested"]).inc();
            self.outgoing.push(LogMessage {
                key: request.key(),
                payload: request.encode(),
            });
        }
        let event = &record.event;
        let name = event
            .event
            .clone()
            .or_else(|| event.name.clone())
            .unwrap_or_default();
        let person = key.person.to_string();
        // What a lead does after sales has it flows on to the CRM (the crossing itself is the
        // hand-off record).
        if applied.handoff.is_none()
            && self.book.stage(&key) == Some(leadstream_schemas::LifecycleStage::SalesAccepted)
        {
            let changes: Vec<serde_json::Value> = applied
                .changes
                .iter()
                .map(|c| serde_json::json!({"score": c.score, "rule": c.rule, "points": c.points, "after": c.after}))
                .collect();
            let item = serde_json::json!({
                "type": "lead.activity",
                "workspace": record.workspace,
                "profile_id": person,
                "message_id": event.message_id,
                "kind": EventKind::classify(event).key(),
                "event": name,
                "at_ms": event.event_time().map(|t| t.timestamp_millis()),
                "changes": changes,
            });
            self.activity.push(LogMessage {
                key: format!("{}/{person}", record.workspace),
                payload: serde_json::to_vec(&item).unwrap_or_default(),
            });
        }
        self.record_applied(
            &record.workspace,
            key,
            applied,
            event.message_id.as_deref().unwrap_or_default(),
            EventKind::classify(event).key(),
            &name,
            model,
            now_ms,
        );
        self.batch
            .events
            .push(EventRow::from_record(record, &person));
        metrics::EVENTS.inc();
    }

    fn apply_control(
        &mut self,
        control: &ControlRecord,
        d: &Delivered,
        model: &Arc<Model>,
        now_ms: i64,
    ) {
        if self
            .book
            .is_quarantined(&control.workspace, control.person())
        {
            self.park(&control.workspace, control.person(), d);
            return;
        }
        let (key, outcome) = self.book.control(
            control,
            Some((d.partition, d.offset)),
            model,
            &self.settings,
            now_ms,
        );
        match outcome {
            ControlOutcome::Skipped => {
                metrics::DUPLICATES.with_label_values(&["control"]).inc();
            }
            ControlOutcome::Refused(why) => {
                metrics::MERGES
                    .with_label_values(&[match why {
                        "both are identified people" => "refused_identified",
                        "already merged into another person" => "refused_already_merged",
                        _ => "refused_other",
                    }])
                    .inc();
                tracing::info!(workspace = %control.workspace, id = %control.id, reason = why, "identity merge refused");
            }
            ControlOutcome::Nothing => {
                metrics::MERGES.with_label_values(&["nothing"]).inc();
            }
            ControlOutcome::Send(state) => {
                metrics::MERGES.with_label_values(&["handed_over"]).inc();
                self.outgoing.push(LogMessage {
                    key: state.key(),
                    payload: state.encode(),
                });
            }
            ControlOutcome::Absorbed(applied) => {
                metrics::MERGES.with_label_values(&["absorbed"]).inc();
                if let Control::MergeState {
                    from, into, at_ms, ..
                } = &control.control
                {
                    self.batch.identities.push(IdentityRow {
                        workspace: control.workspace.clone(),
                        id: from.clone(),
                        profile_id: into.clone(),
                        merged_at_ms: *at_ms,
                    });
                }
                self.record_applied(
                    &control.workspace,
                    key.clone(),
                    applied,
                    &control.id,
                    "merge",
                    "merge",
                    model,
                    now_ms,
                );
            }
        }
        self.dirty.insert(key);
    }

    /// Stores the explained score changes of one applied event or merge, and queues its hand-off.
    #[allow(clippy::too_many_arguments)]
    fn record_applied(
        &mut self,
        workspace: &str,
        key: ProfileKey,
        applied: Applied,
        message_id: &str,
        kind: &str,
        name: &str,
        model: &Arc<Model>,
        now_ms: i64,
    ) {
        for (seq, c) in applied.changes.iter().enumerate() {
            self.batch.score_changes.push(ScoreChangeRow {
                workspace: workspace.to_string(),
                profile_id: key.person.to_string(),
                at_ms: c.at_ms,
                message_id: message_id.to_string(),
                seq: seq as u32,
                kind: kind.to_string(),
                event: name.to_string(),
                score: c.score.clone(),
                rule: c.rule.clone(),
                points: c.points,
                before: c.before,
                after: c.after,
                model: model.digest.clone(),
            });
        }
        metrics::SCORE_CHANGES.inc_by(applied.changes.len() as u64);
        if let Some(crossing) = applied.handoff {
            let at_ms = applied.changes.last().map_or(now_ms, |c| c.at_ms);
            if let Some(profile) = self
                .book
                .state(&key.workspace, &key.person)
                .map(|s| s.view(&key.workspace, &key.person, model, at_ms))
            {
                self.handoffs.push(PendingHandoff {
                    key: key.clone(),
                    crossing,
                    at_ms,
                    profile,
                });
            }
        }
        self.dirty.insert(key);
    }

    /// The `lead.qualified` record of one hand-off: the profile now, and the rules that gave the
    /// most points (from this flush and the stored history).
    async fn handoff_record(
        store: &dyn ScorerStore,
        pending_changes: &[ScoreChangeRow],
        h: &PendingHandoff,
        model: &Model,
    ) -> Option<(LogMessage, HandoffRow)> {
        let (workspace, person) = (&*h.key.workspace, &*h.key.person);
        let profile = h.profile.clone();
        let mut rows: Vec<ScoreChangeRow> = pending_changes
            .iter()
            .filter(|c| c.workspace == workspace && c.profile_id == person)
            .cloned()
            .collect();
        match store.score_changes(workspace, person, 500).await {
            Ok(stored) => rows.extend(stored),
            Err(e) => {
                tracing::warn!(error = %e, "reading stored score changes for a hand-off failed; listing this flush's only")
            }
        }
        let qualifying = model.scores[model.qualification.score].name.clone();
        let mut seen = HashSet::new();
        let mut contributions: Vec<Contribution> = rows
            .into_iter()
            .filter(|c| {
                c.score == qualifying && c.points > 0.0 && c.rule != "decay" && c.at_ms <= h.at_ms
            })
            .filter(|c| seen.insert((c.at_ms, c.message_id.clone(), c.seq)))
            .map(|c| Contribution {
                rule: c.rule,
                score: c.score,
                points: c.points,
                message_id: c.message_id,
                kind: c.kind,
                event: c.event,
                at_ms: c.at_ms,
            })
            .collect();
        contributions.sort_by(|a, b| b.points.total_cmp(&a.points).then(b.at_ms.cmp(&a.at_ms)));
        contributions.truncate(TOP_CONTRIBUTIONS);
        let record = LeadQualified {
            record_type: LeadQualified::TYPE.into(),
            idempotency_key: LeadQualified::idempotency_key(workspace, person, h.crossing),
            workspace: workspace.to_string(),
            profile_id: person.to_string(),
            crossing: h.crossing,
            qualified_at_ms: h.at_ms,
            score: profile.scores.get(&qualifying).copied().unwrap_or(0.0),
            score_name: qualifying,
            threshold: model.qualification.threshold,
            scores: profile.scores.clone(),
            grade: profile.grade.clone(),
            top_contributions: contributions,
            first_touch: profile.first_touch.clone(),
            last_touch: profile.last_touch.clone(),
            profile,
            model: model.digest.clone(),
        };
        let payload = serde_json::to_vec(&record).ok()?;
        let row = HandoffRow {
            workspace: workspace.to_string(),
            profile_id: person.to_string(),
            crossing: record.crossing,
            qualified_at_ms: record.qualified_at_ms,
            score_name: record.score_name.clone(),
            score: record.score,
            threshold: record.threshold,
            grade: record.grade.clone().unwrap_or_default(),
            model: record.model.clone(),
            record: String::from_utf8_lossy(&payload).into_owned(),
        };
        Some((
            LogMessage {
                key: format!("{workspace}/{person}"),
                payload,
            },
            row,
        ))
    }

    /// Retries `op` while it fails, until `deadline` (shutdown) or, without one, shutdown begins.
    #[allow(clippy::too_many_arguments)]
    async fn retrying<F, Fut, E>(
        heartbeats: &Heartbeats,
        pending: usize,
        what: &'static str,
        shutdown: &CancellationToken,
        deadline: Option<Duration>,
        started: Instant,
        mut op: F,
    ) -> anyhow::Result<bool>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut backoff = Duration::from_millis(100);
        loop {
            heartbeats.beat(HEARTBEAT, HEARTBEAT_DEADLINE);
            match op().await {
                Ok(()) => return Ok(true),
                Err(e) => {
                    metrics::ERRORS.with_label_values(&[what]).inc();
                    tracing::warn!(error = %e, stage = what, "write failed; retrying");
                    if deadline.is_some_and(|d| started.elapsed() >= d) {
                        anyhow::bail!(
                            "{what} unavailable at shutdown; {pending} events stay uncommitted and will be replayed"
                        );
                    }
                    if deadline.is_none() && shutdown.is_cancelled() {
                        // Shutdown began while retrying: the final flush takes over.
                        return Ok(false);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Hands off, parks dead letters, writes the store, then commits the log position. With
    /// `deadline` (shutdown) it gives up after that long, leaving the position uncommitted so
    /// that the next start replays it.
    async fn flush(
        &mut self,
        shutdown: &CancellationToken,
        deadline: Option<Duration>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let model = self.model.borrow().clone();
        let now_ms = chrono::Utc::now().timestamp_millis();

        let mut handoffs = Vec::new();
        self.batch.handoffs.clear();
        for h in &self.handoffs {
            let record =
                Self::handoff_record(self.store.as_ref(), &self.batch.score_changes, h, &model)
                    .await;
            if let Some((message, row)) = record {
                handoffs.push(message);
                self.batch.handoffs.push(row);
            }
        }
        // Side outputs first (a crash before the store write repeats them, never loses them).
        let outputs = match &self.outputs {
            None => Vec::new(),
            Some(o) => vec![
                (o.handoffs.clone(), handoffs, "handoff"),
                (o.handoffs.clone(), self.activity.clone(), "activity"),
                (o.events.clone(), self.outgoing.clone(), "identity"),
                (o.dead_letters.clone(), self.dead.clone(), "dead_letter"),
            ],
        };
        for (log, messages, what) in outputs {
            if messages.is_empty() {
                continue;
            }
            if !Self::retrying(
                &self.heartbeats,
                self.pending.len(),
                what,
                shutdown,
                deadline,
                started,
                || log.append(messages.clone()),
            )
            .await?
            {
                return Ok(());
            }
            let count = messages.len();
            match what {
                "handoff" => {
                    metrics::HANDOFFS.inc_by(count as u64);
                    tracing::info!(count, "handed qualified leads to sales");
                }
                "dead_letter" => metrics::DEAD_LETTERS.inc_by(count as u64),
                _ => {}
            }
        }

        self.batch.profiles = self
            .book
            .snapshot(&self.dirty)
            .iter()
            .map(|(ProfileKey { workspace, person }, state)| {
                let profile = state.view(workspace, person, &model, now_ms);
                ProfileRow::new(
                    &profile,
                    serde_json::to_string(state).unwrap_or_default(),
                    state.partition,
                )
            })
            .collect();
        let store = self.store.clone();
        let batch = &self.batch;
        let write_started = Instant::now();
        if !Self::retrying(
            &self.heartbeats,
            self.pending.len(),
            "store",
            shutdown,
            deadline,
            started,
            || store.write(batch),
        )
        .await?
        {
            return Ok(());
        }
        metrics::FLUSH_SECONDS.observe(write_started.elapsed().as_secs_f64());
        if let Err(e) = self.consumer.commit(&self.pending).await {
            // The rows are written; an uncommitted position is replayed (and skipped) later.
            metrics::ERRORS.with_label_values(&["commit"]).inc();
            tracing::warn!(error = %e, "committing the log position failed");
        }
        tracing::debug!(
            positions = ?leadstream_platform::log::next_positions(&self.pending),
            events = self.batch.events.len(),
            changes = self.batch.score_changes.len(),
            profiles = self.batch.profiles.len(),
            "flushed"
        );
        self.pending.clear();
        self.batch = WriteBatch::default();
        self.dirty.clear();
        self.handoffs.clear();
        self.dead.clear();
        self.outgoing.clear();
        self.activity.clear();
        Ok(())
    }
}

/// Puts stored profile rows of `partitions` (of `of` in the log) into `book`; returns how many.
/// Rows stored before rows carried their partition are kept when their key is on one of
/// `partitions` (librdkafka's default partitioner, [`leadstream_platform::log::kafka::partition_for`]),
/// or all of them when the partition count is unknown (`of` 0: the broker did not say).
/// A state that cannot be read is quarantined, never replaced by an empty one.
pub fn restore(
    book: &ProfileBook,
    partitions: &[i32],
    of: i32,
    rows: Vec<leadstream_platform::store::StateRow>,
) -> usize {
    rows.into_iter()
        .filter(|row| restore_row(book, partitions, of, row))
        .count()
}

/// [`restore`] of the rows as the store streams them
/// ([`leadstream_platform::store::ScorerWrites::load_profiles_each`]): only
/// the rows in flight are held, not every row of the assignment beside the book. A profile that
/// comes twice keeps its highest version.
pub async fn load_into(
    book: &ProfileBook,
    store: &dyn ScorerStore,
    partitions: &[i32],
    of: i32,
) -> Result<usize, leadstream_platform::store::StoreError> {
    let mut restored = 0usize;
    store
        .load_profiles_each(partitions, &mut |row| {
            restored += usize::from(restore_row(book, partitions, of, &row));
        })
        .await?;
    Ok(restored)
}

/// Puts one stored row's state into `book` (see [`restore`]); whether the profile was new to it.
fn restore_row(
    book: &ProfileBook,
    partitions: &[i32],
    of: i32,
    row: &leadstream_platform::store::StateRow,
) -> bool {
    let partition = match i32::try_from(row.log_partition) {
        Ok(p) if p >= 0 => p,
        // One partition: everybody's.
        _ if of == 1 => partitions.first().copied().unwrap_or(0),
        _ if of > 1 => leadstream_platform::log::kafka::partition_for(
            &format!("{}/{}", row.workspace, row.profile_id),
            of,
        ),
        // The partition count is unknown: kept (its events come only to its owner, which
        // loaded it too), and dropped at the next revocation.
        _ => -1,
    };
    if partition >= 0 && !partitions.contains(&partition) {
        return false;
    }
    if row.state.is_empty() {
        return false;
    }
    match serde_json::from_str::<ProfileState>(&row.state) {
        Ok(mut state) => {
            state.partition = partition;
            book.insert_newer(&row.workspace, &row.profile_id, state)
        }
        Err(e) => {
            // Never replaced by an empty state: kept as stored, its events parked.
            book.quarantine(&row.workspace, &row.profile_id, partition);
            tracing::error!(workspace = %row.workspace, profile = %row.profile_id, error = %e, "stored profile state unreadable; kept as stored and not written again; its events go to the dead-letter log until it is repaired");
            false
        }
    }
}
