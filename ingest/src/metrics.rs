//! The collector's metrics, declared in one place: `leadstream_ingest_<noun>_<unit>[_total]`.

use std::sync::LazyLock;

use prometheus::{
    HistogramVec, IntCounter, IntCounterVec, register_histogram_vec, register_int_counter,
    register_int_counter_vec,
};

/// Events by outcome: `accepted`, `rejected`.
pub static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_events_total",
        "Events received, by outcome.",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// Rejected events by reason (the field's top-level name or `size`).
pub static IDS_IGNORED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_ids_ignored_total",
        "userId / anonymousId values dropped because they cannot identify a person (identity.illegal_ids).",
        &["field"]
    )
    .expect("metric registers once")
});

pub static REJECTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_rejections_total",
        "Events rejected, by the top-level field at fault.",
        &["field"]
    )
    .expect("metric registers once")
});

/// Expected properties that events lacked or carried in the wrong shape, by kind (the events were
/// accepted all the same).
pub static EXPECTATION_MISSES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_expectation_misses_total",
        "Expected properties missing or ill-typed on accepted events, by event kind.",
        &["kind"]
    )
    .expect("metric registers once")
});

/// Refused events by what became of them: `kept` (in failed events), `lost` (the failed-events
/// sink failed), `not_kept` (no sink), `replayed`.
pub static FAILED_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_failed_events_total",
        "Refused events, by what became of them (kept, lost, not_kept, replayed).",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// Tracking plan reloads, by outcome (`ok`, `refused`).
pub static PLAN_RELOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_tracking_plan_reloads_total",
        "Tracking plan files re-read after a change, by outcome (ok, refused).",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// Requests by matched route and status code.
pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_requests_total",
        "HTTP requests, by route and status.",
        &["route", "status"]
    )
    .expect("metric registers once")
});

/// Time from handing events to the log to the log's durable acknowledgement.
pub static APPEND_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "leadstream_ingest_log_append_duration_seconds",
        "Time until the log acknowledged a request's events as durable.",
        &["outcome"],
        vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
        ]
    )
    .expect("metric registers once")
});

/// Failures of the log, by kind.
pub static LOG_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_log_errors_total",
        "Failed log appends, by kind.",
        &["kind"]
    )
    .expect("metric registers once")
});

/// Requests refused by a write key's rate limit.
pub static RATE_LIMITED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_ingest_rate_limited_total",
        "Requests refused by a write key's rate limit."
    )
    .expect("metric registers once")
});

/// Tracking-pixel hits by outcome: `accepted`, `rejected`, `unauthorized`, `rate_limited`,
/// `log_unavailable`, `error`. The pixel answers a GIF whatever the outcome.
pub static PIXEL_HITS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_pixel_hits_total",
        "Tracking-pixel hits, by outcome.",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// Email opens and clicks by kind (`open`, `click`) and outcome.
pub static EMAIL_HITS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_email_hits_total",
        "Email opens and clicks, by kind and outcome.",
        &["kind", "outcome"]
    )
    .expect("metric registers once")
});

/// Refused email link tokens by reason.
pub static EMAIL_TOKENS_REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_email_tokens_refused_total",
        "Refused email link tokens, by reason.",
        &["reason"]
    )
    .expect("metric registers once")
});

/// Webhooks refused for a missing or wrong signature.
pub static WEBHOOKS_REFUSED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_ingest_webhooks_refused_total",
        "Webhooks refused for a missing or wrong signature."
    )
    .expect("metric registers once")
});

/// Form submissions by outcome: `accepted`, `spam` (honeypot), `rate_limited`.
pub static FORM_SUBMISSIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_form_submissions_total",
        "Form submissions, by outcome.",
        &["outcome"]
    )
    .expect("metric registers once")
});

/// Email webhook events by provider (`sendgrid`, `generic`) and outcome.
pub static EMAIL_WEBHOOK_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "leadstream_ingest_email_webhook_events_total",
        "Email provider webhook events, by provider and outcome (accepted, skipped, rejected).",
        &["provider", "outcome"]
    )
    .expect("metric registers once")
});
