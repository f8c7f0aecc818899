//! Saved objects, member sets and CRM webhook deliveries in ClickHouse.

use async_trait::async_trait;

use super::{ClickhouseStore, classify};
use crate::store::{
    Deliveries, DeliveryRow, ObjectRow, SavedObjects, SetMemberRow, StoreError, latest_deliveries,
    latest_objects,
};

#[async_trait]
impl SavedObjects for ClickhouseStore {
    async fn write_object(&self, row: &ObjectRow) -> Result<(), StoreError> {
        self.insert_rows("objects", std::slice::from_ref(row)).await
    }

    async fn objects(&self, workspace: &str, kind: &str) -> Result<Vec<ObjectRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM objects WHERE workspace = ? AND kind = ?")
            .bind(workspace)
            .bind(kind)
            .fetch_all::<ObjectRow>()
            .await
            .map_err(classify)?;
        Ok(latest_objects(rows))
    }

    async fn write_set_members(&self, rows: &[SetMemberRow]) -> Result<(), StoreError> {
        self.insert_rows("set_members", rows).await
    }

    async fn set_members(&self, workspace: &str, set_id: &str) -> Result<Vec<String>, StoreError> {
        super::segment::set_members(workspace, set_id)
            .query(&self.client)
            .fetch_all::<String>()
            .await
            .map_err(classify)
    }

    async fn sets_of(&self, workspace: &str, member_id: &str) -> Result<Vec<String>, StoreError> {
        self.client
            .query(
                "SELECT set_id FROM (SELECT set_id, argMax(removed, version) AS r FROM set_members \
                 WHERE workspace = ? AND member_id = ? GROUP BY set_id) WHERE r = 0 ORDER BY set_id",
            )
            .bind(workspace)
            .bind(member_id)
            .fetch_all::<String>()
            .await
            .map_err(classify)
    }
}

#[async_trait]
impl Deliveries for ClickhouseStore {
    async fn write_deliveries(&self, rows: &[DeliveryRow]) -> Result<(), StoreError> {
        self.insert_rows("webhook_deliveries", rows).await
    }

    async fn deliveries(
        &self,
        workspace: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM webhook_deliveries FINAL WHERE workspace = ?")
            .bind(workspace)
            .fetch_all::<DeliveryRow>()
            .await
            .map_err(classify)?;
        let mut rows = latest_deliveries(rows);
        rows.retain(|r| status.is_none_or(|s| r.status == s));
        rows.truncate(limit);
        Ok(rows)
    }
}
