//! Saved objects, member sets and CRM webhook deliveries in the Parquet files.

use async_trait::async_trait;
use polars::prelude::*;

use super::codec::Columns;
use super::{EmbeddedStore, codec, unavailable};
use crate::store::{
    Deliveries, DeliveryRow, ObjectRow, SavedObjects, SetMemberRow, StoreError, latest_deliveries,
    latest_objects,
};

#[async_trait]
impl SavedObjects for EmbeddedStore {
    async fn write_object(&self, row: &ObjectRow) -> Result<(), StoreError> {
        let store = self.clone();
        let df = codec::frame(std::slice::from_ref(row))
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        tokio::task::spawn_blocking(move || store.write_file("objects", df))
            .await
            .map_err(unavailable)?
    }

    async fn objects(&self, workspace: &str, kind: &str) -> Result<Vec<ObjectRow>, StoreError> {
        let store = self.clone();
        let (workspace, kind) = (workspace.to_string(), kind.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("objects")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("kind").eq(lit(kind))),
                )
                .collect()
                .map_err(unavailable)?;
            Ok(latest_objects(
                codec::rows::<ObjectRow>(&df).map_err(unavailable)?,
            ))
        })
        .await
        .map_err(unavailable)?
    }

    async fn write_set_members(&self, rows: &[SetMemberRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let store = self.clone();
        let df = codec::frame(rows).map_err(|e| StoreError::Invalid(e.to_string()))?;
        tokio::task::spawn_blocking(move || store.write_file("set_members", df))
            .await
            .map_err(unavailable)?
    }

    async fn set_members(&self, workspace: &str, set_id: &str) -> Result<Vec<String>, StoreError> {
        let store = self.clone();
        let (workspace, set_id) = (workspace.to_string(), set_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("set_members")? else {
                return Ok(Vec::new());
            };
            super::segment::set_members(scan, &workspace, &set_id).map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    async fn sets_of(&self, workspace: &str, member_id: &str) -> Result<Vec<String>, StoreError> {
        let store = self.clone();
        let (workspace, member_id) = (workspace.to_string(), member_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("set_members")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("member_id").eq(lit(member_id))),
                )
                .sort(
                    ["version"],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .unique_stable_generic(Some(vec![col("set_id")]), UniqueKeepStrategy::First)
                .filter(col("removed").eq(lit(0u32)))
                .select([col("set_id")])
                .sort(["set_id"], SortMultipleOptions::default())
                .collect()
                .map_err(unavailable)?;
            Columns(&df).text("set_id").map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }
}

#[async_trait]
impl Deliveries for EmbeddedStore {
    async fn write_deliveries(&self, rows: &[DeliveryRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let df = codec::frame(rows).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_file("webhook_deliveries", df))
            .await
            .map_err(unavailable)?
    }

    async fn deliveries(
        &self,
        workspace: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        let status = status.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("webhook_deliveries")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(col("workspace").eq(lit(workspace)))
                .collect()
                .map_err(unavailable)?;
            let mut rows = latest_deliveries(codec::rows::<DeliveryRow>(&df).map_err(unavailable)?);
            rows.retain(|r| status.as_deref().is_none_or(|s| r.status == s));
            rows.truncate(limit);
            Ok(rows)
        })
        .await
        .map_err(unavailable)?
    }
}
