//! RFM analysis ([`leadstream_schemas::rfm`] defines it) in both back ends: [`clickhouse`] as SQL
//! that runs on 18.16 and current releases (one query per answer, every value bound), [`polars`]
//! over the embedded store's Parquet files. Both compute the per-customer measures in the engine,
//! cut the quintiles there, and group by segment there; `platform/tests/rfm.rs` checks them
//! against each other and against the independent reference on the CDNOW dataset.

pub mod clickhouse;
pub mod polars;
