//! The collector: what websites, email senders and SMS providers post events to.
//!
//! - [`router`](mod@router): the routes and the shared state.
//! - [`intake`]: the core every channel goes through: read, check, enrich, dedup, append (durably),
//!   keep what is refused.
//! - [`routes`]: each channel turned into events: the Segment-compatible tracking API (with the
//!   settings analytics.js fetches), PostHog's capture API, pixels, email and SMS tracking, forms,
//!   health, readiness and metrics.
//! - [`auth`]: write keys (HTTP Basic or `writeKey` in the body); [`ratelimit`]: limits per key.
//! - [`enrich`]: what the collector adds: `receivedAt`, `messageId`, skew-corrected `timestamp`,
//!   client IP and user agent, the workspace.
//! - [`error`]: the one mapping from failures to HTTP answers.
//! - [`plan`]: the workspaces' tracking plans; [`failed`]: refused events kept and replayed.
//! - [`metrics`] declares `leadstream_ingest_*`.
//! - [`server`]: binds, serves and shuts down in order (stop intake, flush the log).
//!
//! An event is acknowledged (200) only after the log says it is durable.

pub mod auth;
pub mod dedup;
pub mod email;
pub mod enrich;
pub mod error;
pub mod failed;
pub mod intake;
pub mod metrics;
pub mod plan;
pub mod ratelimit;
pub mod router;
pub mod routes;
pub mod server;
pub mod signatures;

pub use router::{AppState, router};
pub use server::serve;
