//! One segment definition ([`leadstream_schemas::segment::Segment`]), two back ends that must
//! return the same members: [`clickhouse`] compiles it to one SQL query (every value bound, every
//! identifier a constant of this crate), [`polars`] to a lazy query over the embedded store's
//! Parquet files. `platform/tests/segments.rs` runs every documented example against both on
//! the same fixture data and requires the expected members from each.
//!
//! Shared semantics, spelled out once so both back ends follow them:
//! - members are people whose newest profile version is not merged into another;
//! - a trait's text is the JSON string's value, or the JSON text of any other value; a missing
//!   or `null` trait has no text;
//! - a number test holds when the text is a number ([`NUMBER`]) in range;
//! - behaviour counts distinct message ids of a kind since `now - days`, attributing an id that
//!   was merged (the identities table) to its person.

pub mod clickhouse;
pub mod polars;

/// What counts as a number in a trait's text (both back ends use this exact pattern).
pub const NUMBER: &str = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$";

pub const DAY_MS: i64 = 86_400_000;
