//! The scorer: consumes events from the log, keeps a behavioural profile and lead scores per
//! person in memory, explains every score change, hands qualified leads to sales, and writes
//! events, score changes and profile versions to the store.
//!
//! - [`model`]: the scoring model file (scores, decay, rules, fit and grades, qualification,
//!   recycling), checked with line numbers and reloaded when it changes.
//! - [`profile`]: the in-memory profile book (dashmap), the compact per-person state and the
//!   engine that applies one event to it.
//! - [`pipeline`]: poll → apply → hand off → write to the store → commit the log position.
//! - [`handoff_sender`]: the outbound CRM sender: hand-offs and the activity of handed-over leads to the configured
//!   webhooks, signed, retried, parked when they keep failing.
//! - [`router`] / [`server`]: `/health`, `/ready`, `/metrics` when run on its own, and the
//!   orderly shutdown (stop polling, write what is pending, commit, exit).
//! - [`whatif`]: a changed model over the stored history, reported beside the live profiles.
//! - [`metrics`] declares `leadstream_scorer_*`.

pub mod handoff_sender;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod profile;
pub mod router;
pub mod server;
pub mod whatif;

pub use model::Model;
pub use pipeline::Pipeline;
pub use profile::ProfileBook;
