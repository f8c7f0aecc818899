//! Saved objects, member sets and CRM webhook deliveries in the Parquet files.

use async_trait::async_trait;
use polars::prelude::*;

use super::codec::Columns;
use super::{EmbeddedStore, of_workspace, unavailable};
use crate::store::{
    Deliveries, DeliveryRow, ObjectRow, SavedObjects, SetMemberRow, StoreError, Table,
    latest_deliveries, latest_objects,
};

#[async_trait]
impl SavedObjects for EmbeddedStore {
    async fn write_object(&self, row: &ObjectRow) -> Result<(), StoreError> {
        self.append(std::slice::from_ref(row)).await
    }

    async fn objects(&self, workspace: &str, kind: &str) -> Result<Vec<ObjectRow>, StoreError> {
        let filter = of_workspace(workspace).and(col("kind").eq(lit(kind.to_string())));
        let rows = self.select::<ObjectRow>(|scan| scan.filter(filter)).await?;
        Ok(latest_objects(rows))
    }

    async fn write_set_members(&self, rows: &[SetMemberRow]) -> Result<(), StoreError> {
        self.append(rows).await
    }

    async fn set_members(&self, workspace: &str, set_id: &str) -> Result<Vec<String>, StoreError> {
        let (workspace, set_id) = (workspace.to_string(), set_id.to_string());
        self.blocking(move |store| match store.scan(SetMemberRow::TABLE)? {
            Some(scan) => {
                super::segment::set_members(scan, &workspace, &set_id).map_err(unavailable)
            }
            None => Ok(Vec::new()),
        })
        .await
    }

    async fn sets_of(&self, workspace: &str, member_id: &str) -> Result<Vec<String>, StoreError> {
        let filter = of_workspace(workspace).and(col("member_id").eq(lit(member_id.to_string())));
        let Some(df) = self
            .select_frame(SetMemberRow::TABLE, |scan| {
                scan.filter(filter)
                    .sort(
                        ["version"],
                        SortMultipleOptions::default().with_order_descending(true),
                    )
                    .unique_stable_generic(Some(vec![col("set_id")]), UniqueKeepStrategy::First)
                    .filter(col("removed").eq(lit(0u32)))
                    .select([col("set_id")])
                    .sort(["set_id"], SortMultipleOptions::default())
            })
            .await?
        else {
            return Ok(Vec::new());
        };
        Columns(&df).text("set_id").map_err(unavailable)
    }
}

#[async_trait]
impl Deliveries for EmbeddedStore {
    async fn write_deliveries(&self, rows: &[DeliveryRow]) -> Result<(), StoreError> {
        self.append(rows).await
    }

    async fn deliveries(
        &self,
        workspace: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let filter = of_workspace(workspace);
        let mut rows = latest_deliveries(
            self.select::<DeliveryRow>(|scan| scan.filter(filter))
                .await?,
        );
        rows.retain(|r| status.is_none_or(|s| r.status == s));
        rows.truncate(limit);
        Ok(rows)
    }
}
