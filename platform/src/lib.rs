//! The seams every leadstream service stands on.
//!
//! - [`config`]: one typed, validated configuration for every binary; [`cli`]: what the binaries'
//!   commands share (loading it, owner-only files).
//! - [`auth`]: issued API tokens held as hashes in memory, and the failed-authentication limit.
//! - [`workspaces`]: write keys and API tokens, and the embedded registry file.
//! - [`log`]: the event log traits and their Kafka and embedded (redb) implementations.
//! - [`store`]: the profile store's role traits and its two back ends, each in its own folder
//!   (`store/clickhouse/`: SQL; `store/embedded/`: Parquet + polars), with every query of segments,
//!   RFM and campaigns beside the rest of its back end; [`segment`]: the segment language's limits,
//!   references and resolution, shared by both; [`campaign`]: what a campaign report asks.
//! - [`failed`]: where failed events (what the collector refused) are kept, listed and purged.
//! - [`backends`]: builds the right implementations from the config's `mode`.
//! - [`telemetry`]: structured logs, Prometheus text, heartbeats for `/health`.
//! - [`http`]: the one JSON error shape every API answers with; [`serve`]: the HTTP server loop
//!   (client timeouts, graceful shutdown).
//! - [`shutdown`]: signals to a cancellation token.
//! - [`webhook`]: the CRM webhooks: config, field mapping, signature, one delivery attempt.
//! - [`testing`]: the real servers' addresses and unique names for tests.

pub mod auth;
pub mod backends;
pub mod campaign;
pub mod cli;
pub mod config;
pub mod failed;
pub mod http;
pub mod log;
pub mod segment;
pub mod serve;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod testing;
pub mod webhook;
pub mod workspaces;

pub use backends::Backends;
pub use config::{Config, Mode};
