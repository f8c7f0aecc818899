//! The scorer: consumes events from the log, keeps a behavioural profile and lead score per person
//! in memory, and writes events and profile versions to the store.
//!
//! - [`profiles`]: the in-memory profile book (dashmap) and how one event changes a profile.
//! - [`scoring`]: points per event kind and the lifecycle stage they lead to.
//! - [`pipeline`]: poll → apply → write to the store → commit the log position, in that order.
//! - [`router`] / [`server`]: `/health`, `/ready`, `/metrics` when run on its own, and the
//!   orderly shutdown (stop polling, write what is pending, commit, exit).
//! - [`metrics`] declares `leadstream_scorer_*`.

pub mod metrics;
pub mod pipeline;
pub mod profiles;
pub mod router;
pub mod scoring;
pub mod server;

pub use pipeline::Pipeline;
pub use profiles::ProfileBook;
