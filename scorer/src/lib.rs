//! The scorer: consumes events from the log, keeps a behavioural profile and lead scores per
//! person in memory, explains every score change, hands qualified leads to sales, and writes
//! events, score changes and profile versions to the store.
//!
//! The engine itself (the model, the per-person state, applying an event, what-if) is the
//! `leadstream-scoring` crate, which the query API shares; this crate runs it on the log:
//!
//! - [`model_watch`]: reloading the model file when it changes.
//! - [`pipeline`]: poll → apply → hand off → write to the store → commit the log position.
//! - [`handoff_sender`]: the outbound CRM sender: hand-offs and the activity of handed-over leads
//!   to the configured webhooks, signed, retried, parked when they keep failing.
//! - [`router`] / [`server`]: `/health`, `/ready`, `/metrics` when run on its own, and the
//!   orderly shutdown (stop polling, write what is pending, commit, exit).
//! - [`metrics`] declares `leadstream_scorer_*`.

pub mod handoff_sender;
pub mod metrics;
pub mod model_watch;
pub mod pipeline;
pub mod router;
pub mod server;

pub use pipeline::Pipeline;
