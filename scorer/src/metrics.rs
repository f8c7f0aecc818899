//! The scorer's metrics, declared in one place: `leadstream_scorer_<noun>_<unit>[_total]`.

use std::sync::LazyLock;

use prometheus::{
    Histogram, IntCounter, IntCounterVec, IntGauge, register_histogram, register_int_counter,
    register_int_counter_vec, register_int_gauge,
};

pub static EVENTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_events_total",
        "Events applied to profiles."
    )
    .expect("metric registers once")
});

pub static DECODE_ERRORS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_decode_errors_total",
        "Log messages that could not be decoded and were skipped."
    )
    .expect("metric registers once")
});

pub static PROFILES_IN_MEMORY: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "leadstream_scorer_profiles_in_memory",
        "Profiles held in memory."
    )
    .expect("metric registers once")
});

pub static FLUSH_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "leadstream_scorer_flush_duration_seconds",
        "Time to write a batch of events and profiles to the store.",
        vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
        ]
    )
    .expect("metric registers once")
});

/// Failures by stage: `poll`, `store`, `commit`.
pub static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_scorer_errors_total",
        "Failures, by pipeline stage.",
        &["stage"]
    )
    .expect("metric registers once")
});

/// Model file reloads by outcome: `ok`, `refused`.
pub static MODEL_RELOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_scorer_model_reloads_total",
        "Scoring model file reloads, by outcome.",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// Events skipped as already applied: `offset` (a replay after a restart) or `message_id`.
pub static DUPLICATES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_scorer_duplicates_total",
        "Events skipped because they were already applied, by how that was known.",
        &["by"]
    )
    .expect("metric registers once")
});

pub static SCORE_CHANGES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_score_changes_total",
        "Explained score changes (rules and decay)."
    )
    .expect("metric registers once")
});

pub static HANDOFFS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_handoffs_total",
        "Leads handed to sales (lead.qualified records written)."
    )
    .expect("metric registers once")
});

pub static DEAD_LETTERS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_dead_letters_total",
        "Undecodable log messages written to the dead-letter log."
    )
    .expect("metric registers once")
});

/// Stored profiles whose state could not be read at start (kept, not overwritten).
pub static PROFILES_UNREADABLE: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "leadstream_scorer_profiles_unreadable",
        "Stored profiles whose state could not be read at start: kept as stored, never overwritten; their events are parked in the dead-letter log."
    )
    .expect("metric registers once")
});

/// Events parked because their profile's stored state is unreadable.
pub static PARKED_FOR_UNREADABLE: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_parked_unreadable_total",
        "Events and merge records parked in the dead-letter log because their profile's stored state is unreadable."
    )
    .expect("metric registers once")
});

/// Events behind the log's head as of the last poll (embedded), for alerting on lag.
pub static MERGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_scorer_identity_merges_total",
        "Identity merge steps, by outcome (requested, handed_over, absorbed, nothing, refused_*).",
        &["outcome"]
    )
    .expect("metric registers once")
});

pub static FORWARDED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_forwarded_events_total",
        "Events of a merged anonymous id forwarded to the person it was merged into."
    )
    .expect("metric registers once")
});

pub static WEBHOOKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_scorer_webhook_calls_total",
        "CRM webhook calls, by webhook and outcome (delivered, retried, parked).",
        &["webhook", "outcome"]
    )
    .expect("metric registers once")
});

pub static CONSUMER_STARVED: LazyLock<prometheus::Gauge> = LazyLock::new(|| {
    prometheus::register_gauge!(
        "leadstream_scorer_consumer_starved_seconds",
        "How long the scorer has been asking the log for records while it lags without getting \
         one (0 while records arrive or nothing waits). From 60 s on, `/health` fails (a consumer \
         that stopped fetching is restarted)."
    )
    .expect("metric registers once")
});

pub static CONSUMER_LAG: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "leadstream_scorer_consumer_lag_events",
        "Events in the log not yet applied (where the log can tell)."
    )
    .expect("metric registers once")
});

/// Partitions of the events log this scorer owns (and holds the profiles of).
pub static PARTITIONS_OWNED: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "leadstream_scorer_partitions_owned",
        "Partitions of the events log this scorer owns and holds the profiles of."
    )
    .expect("metric registers once")
});

/// Profiles loaded from the store when partitions were assigned.
pub static PROFILES_LOADED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_profiles_loaded_total",
        "Profiles loaded from the store for assigned partitions."
    )
    .expect("metric registers once")
});

/// Profiles loaded by the latest assignment.
pub static PROFILES_LOADED_LAST: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "leadstream_scorer_profiles_loaded_last_assignment",
        "Profiles the latest partition assignment loaded from the store."
    )
    .expect("metric registers once")
});

pub static LOAD_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "leadstream_scorer_partition_load_duration_seconds",
        "Time to load the profiles of assigned partitions, retries included.",
        vec![0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]
    )
    .expect("metric registers once")
});

pub static REVOKE_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "leadstream_scorer_revocation_flush_duration_seconds",
        "Time to write and commit what was applied of revoked partitions.",
        vec![0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]
    )
    .expect("metric registers once")
});

/// Profiles dropped from memory with revoked partitions.
pub static PROFILES_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_scorer_profiles_dropped_total",
        "Profiles dropped from memory with their revoked partitions."
    )
    .expect("metric registers once")
});
