//! Segments, RFM and campaign responders answered by ClickHouse (the SQL is built in
//! [`super::segment`], [`super::rfm`] and [`super::campaign`]).

use async_trait::async_trait;
use leadstream_schemas::rfm::{CellSums, Cuts, Move, RfmPerson, RfmReport, RfmSpec};

use super::{ClickhouseStore, classify};
use crate::store::{Analytics, StoreError};

#[async_trait]
impl Analytics for ClickhouseStore {
    async fn segment_members(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        crate::segment::require_resolved(segment)?;
        super::segment::members(workspace, segment, now_ms)
            .query(&self.client)
            .fetch_all::<String>()
            .await
            .map_err(classify)
    }

    async fn segment_preview(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
        sample: usize,
    ) -> Result<(u64, Vec<String>), StoreError> {
        crate::segment::require_resolved(segment)?;
        #[derive(serde::Deserialize, clickhouse::Row)]
        struct Preview {
            count: u64,
            first: Vec<String>,
        }
        let Preview { count, first } = super::segment::preview(workspace, segment, now_ms, sample)
            .query(&self.client)
            .fetch_one::<Preview>()
            .await
            .map_err(classify)?;
        Ok((count, first))
    }

    async fn campaign_responders(
        &self,
        workspace: &str,
        query: &crate::campaign::ResponderQuery,
    ) -> Result<Vec<leadstream_schemas::campaign::Responder>, StoreError> {
        type Row = (String, u64, i64, i64, i64, f64);
        let rows: Vec<Row> = super::campaign::responders(workspace, query)
            .query(&self.client)
            .fetch_all::<Row>()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| leadstream_schemas::campaign::Responder {
                profile_id: r.0,
                responses: r.1,
                first_response_ms: r.2,
                qualified_ms: r.3,
                won_ms: r.4,
                revenue: r.5,
            })
            .collect())
    }

    async fn rfm(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        as_of_ms: i64,
    ) -> Result<RfmReport, StoreError> {
        #[derive(serde::Deserialize, clickhouse::Row)]
        struct Row {
            r: u8,
            fm: u8,
            people: u64,
            revenue: f64,
            sr: f64,
            sf: f64,
            sm: f64,
            cr: Vec<f64>,
            cf: Vec<f64>,
            cm: Vec<f64>,
        }
        let rows: Vec<Row> = super::rfm::summary(workspace, spec, as_of_ms)
            .query(&self.client)
            .fetch_all::<Row>()
            .await
            .map_err(classify)?;
        let cuts = rows.first().map_or_else(Cuts::default, |r| Cuts {
            recency_days: r.cr.clone(),
            frequency: r.cf.clone(),
            monetary: r.cm.clone(),
        });
        let cells: Vec<_> = rows
            .into_iter()
            .map(|r| CellSums {
                r: r.r,
                fm: r.fm,
                people: r.people,
                revenue: r.revenue,
                sum_r: r.sr,
                sum_f: r.sf,
                sum_m: r.sm,
            })
            .collect();
        Ok(RfmReport::from_cells(as_of_ms, spec.clone(), cuts, &cells))
    }

    async fn rfm_people(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        as_of_ms: i64,
    ) -> Result<Vec<RfmPerson>, StoreError> {
        type Row = (String, f64, f64, f64, u8, u8, u8, String);
        let rows: Vec<Row> = super::rfm::people(workspace, spec, as_of_ms)
            .query(&self.client)
            .fetch_all::<Row>()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|r| RfmPerson {
                profile_id: r.0,
                recency_days: r.1,
                frequency: r.2,
                monetary: r.3,
                r: r.4,
                f: r.5,
                m: r.6,
                segment: r.7,
            })
            .collect())
    }

    async fn rfm_migration(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Move>, StoreError> {
        let rows: Vec<(String, String, u64)> =
            super::rfm::migration(workspace, spec, from_ms, to_ms)
                .query(&self.client)
                .fetch_all()
                .await
                .map_err(classify)?;
        Ok(crate::store::moves(rows))
    }

    async fn overview(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<crate::store::OverviewRows, StoreError> {
        use super::overview;
        // Five independent counts, asked at once (the server runs them side by side).
        let client = &self.client;
        let (events, handoffs, new_people, people, campaign_events) = tokio::try_join!(
            overview::events(workspace, from_ms, to_ms)
                .query(client)
                .fetch_all::<(i64, String, u64)>(),
            overview::handoffs(workspace, from_ms, to_ms)
                .query(client)
                .fetch_all::<(i64, u64)>(),
            overview::new_people(workspace, from_ms, to_ms)
                .query(client)
                .fetch_all::<(i64, u64)>(),
            overview::people(workspace)
                .query(client)
                .fetch_all::<(i64, String, String, u64)>(),
            overview::campaign_events(workspace, from_ms, to_ms)
                .query(client)
                .fetch_all::<(String, String, u64)>(),
        )
        .map_err(classify)?;
        Ok(crate::store::OverviewRows {
            events,
            new_people,
            handoffs,
            people,
            campaign_events,
        })
    }
}
