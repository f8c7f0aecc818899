//! The query API marketers and sales use. First cut: profiles by id.
//!
//! - [`router`]: routes and shared state; [`routes`]: the handlers.
//! - [`auth`]: bearer tokens, each belonging to one workspace; every read is scoped to it.
//! - [`error`]: the one mapping from failures to HTTP.
//! - [`metrics`] declares `leadstream_query_*`.
//! - [`server`]: serving and orderly shutdown.

pub mod auth;
pub mod error;
pub mod export;
pub mod extract;
pub mod metrics;
pub mod objects;
pub mod openapi;
pub mod router;
pub mod routes;
pub mod server;

pub use router::{AppState, router};
pub use server::serve;
