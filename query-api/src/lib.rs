//! The query API marketers and sales use: profiles, accounts, segments, lists, RFM, campaigns,
//! what-if re-scoring, the CRM's calls back, failed events, issued tokens (`openapi.json` lists
//! every route).
//!
//! - [`router`](mod@router): routes and shared state; [`routes`]: the handlers, one file per resource.
//! - [`auth`]: bearer tokens (configured and issued), each belonging to one workspace; every read
//!   is scoped to it.
//! - [`extract`]: request extractors; [`objects`]: every saved object's create, list, get, save
//!   and delete (segments, lists, campaigns, tokens); [`export`]:
//!   CSV / JSON lines / Parquet answers.
//! - [`error`]: the one mapping from failures to HTTP.
//! - [`openapi`]: the OpenAPI document. Request latency is platform's
//!   `leadstream_http_request_duration_seconds{service="query"}`.
//! - [`server`]: serving and orderly shutdown.

pub mod auth;
pub mod console;
pub mod error;
pub mod export;
pub mod extract;
pub mod objects;
pub mod openapi;
pub mod router;
pub mod routes;
pub mod server;

pub use router::{AppState, router};
pub use server::serve;
