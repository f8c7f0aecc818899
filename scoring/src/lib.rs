//! The scoring engine, pure and shared: the scorer service applies it to the live log, the query
//! API to the stored history (what-if) and to check a model before it is saved. No I/O, no
//! runtime: everything here is a function of a model and events.
//!
//! - [`model`]: the scoring model file (scores, decay, rules, fit and grades, qualification,
//!   recycling), checked with line numbers; `models/default.toml` ships as [`model::DEFAULT_MODEL`].
//! - [`profile`]: the in-memory profile book (dashmap), the compact per-person state and the
//!   engine that applies one event to it.
//! - [`whatif`]: a changed model over the stored history, reported beside the live profiles.

pub mod model;
pub mod profile;
pub mod whatif;

pub use model::Model;
pub use profile::ProfileBook;
