//! The profile store: where the scorer writes events and profile versions, and what the query API
//! reads.
//!
//! Two implementations of one trait: [`clickhouse`] (tables `events` and `profiles`, the latter a
//! `ReplacingMergeTree(version)`) and [`embedded`] (Parquet files under the data directory, queried
//! with polars). Both store the same rows ([`EventRow`], [`ProfileRow`]) with the same columns, so
//! the query side reads the same shape from either.

pub mod clickhouse;
pub mod embedded;
mod rows;

pub use rows::{EventRow, ProfileRow};

use std::collections::HashMap;

use async_trait::async_trait;
use leadstream_schemas::Profile;

/// Failures of a store, classified for retrying.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is unreachable or overloaded; retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The request or data is wrong and will not succeed on retry.
    #[error("store refused the request: {0}")]
    Invalid(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes events and profile versions; returns once they are durable.
    async fn write(
        &self,
        events: Vec<EventRow>,
        profiles: Vec<ProfileRow>,
    ) -> Result<(), StoreError>;
    /// The newest version of one profile.
    async fn profile(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Option<Profile>, StoreError>;
    /// The newest version of every profile (the scorer's state after a restart).
    async fn load_profiles(&self) -> Result<Vec<Profile>, StoreError>;
    /// Whether the store answers (for `/ready`).
    async fn check(&self) -> Result<(), StoreError>;
}

/// Keeps the highest version of each profile.
pub fn latest_versions(
    rows: impl IntoIterator<Item = ProfileRow>,
) -> Result<Vec<Profile>, StoreError> {
    let mut latest: HashMap<(String, String), ProfileRow> = HashMap::new();
    for row in rows {
        let key = (row.workspace.clone(), row.profile_id.clone());
        match latest.get(&key) {
            Some(have) if have.version >= row.version => {}
            _ => {
                latest.insert(key, row);
            }
        }
    }
    latest.into_values().map(Profile::try_from).collect()
}
