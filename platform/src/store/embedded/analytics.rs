//! Segments, RFM and campaign responders answered with polars over the Parquet files (the lazy
//! queries are built in [`super::segment`], [`super::rfm`] and [`super::campaign`]).

use async_trait::async_trait;
use leadstream_schemas::rfm::{Move, RfmPerson, RfmReport, RfmSpec};
use polars::prelude::*;

use super::codec::Columns;
use super::{EmbeddedStore, unavailable};
use crate::store::{Analytics, StoreError};

#[async_trait]
impl Analytics for EmbeddedStore {
    async fn segment_members(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.run_segment(workspace, segment, move |tables, current, ws, seg| {
            super::segment::members(tables, current, ws, seg, now_ms)
        })
        .await
        .map(Option::unwrap_or_default)
    }

    async fn segment_preview(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
        sample: usize,
    ) -> Result<(u64, Vec<String>), StoreError> {
        self.run_segment(workspace, segment, move |tables, current, ws, seg| {
            super::segment::preview(tables, current, ws, seg, now_ms, sample)
        })
        .await
        .map(Option::unwrap_or_default)
    }

    async fn campaign_responders(
        &self,
        workspace: &str,
        query: &crate::campaign::ResponderQuery,
    ) -> Result<Vec<leadstream_schemas::campaign::Responder>, StoreError> {
        let (workspace, query) = (workspace.to_string(), query.clone());
        self.blocking(move |store| {
            super::campaign::responders(
                store.scan("events")?,
                store.scan("identities")?,
                store.scan("handoffs")?,
                &workspace,
                &query,
            )
            .map_err(unavailable)
        })
        .await
    }

    async fn rfm(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        as_of_ms: i64,
    ) -> Result<RfmReport, StoreError> {
        let (workspace, spec) = (workspace.to_string(), spec.clone());
        self.blocking(move |store| {
            let (cells, cuts) = super::rfm::summary(
                store.scan("events")?,
                store.scan("identities")?,
                &workspace,
                &spec,
                as_of_ms,
            )
            .map_err(unavailable)?;
            Ok(RfmReport::from_cells(as_of_ms, spec, cuts, &cells))
        })
        .await
    }

    async fn rfm_people(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        as_of_ms: i64,
    ) -> Result<Vec<RfmPerson>, StoreError> {
        let (workspace, spec) = (workspace.to_string(), spec.clone());
        self.blocking(move |store| {
            let (scored, _) = super::rfm::scored(
                store.scan("events")?,
                store.scan("identities")?,
                &workspace,
                &spec,
                as_of_ms,
            )
            .map_err(unavailable)?;
            let df = scored
                .sort(["person"], SortMultipleOptions::default())
                .collect()
                .map_err(unavailable)?;
            let c = Columns(&df);
            let text = |n: &str| c.text(n).map_err(unavailable);
            let float = |n: &str| c.num::<Float64Type>(n).map_err(unavailable);
            let score = |n: &str| c.num::<Int32Type>(n).map_err(unavailable);
            let (person, segment) = (text("person")?, text("segment")?);
            let (r, f, m) = (float("r")?, float("f")?, float("m")?);
            let (rs, fs, ms) = (score("rs")?, score("fs")?, score("ms")?);
            Ok((0..df.height())
                .map(|i| RfmPerson {
                    profile_id: person[i].clone(),
                    recency_days: r[i],
                    frequency: f[i],
                    monetary: m[i],
                    r: u8::try_from(rs[i]).unwrap_or_default(),
                    f: u8::try_from(fs[i]).unwrap_or_default(),
                    m: u8::try_from(ms[i]).unwrap_or_default(),
                    segment: segment[i].clone(),
                })
                .collect())
        })
        .await
    }

    async fn rfm_migration(
        &self,
        workspace: &str,
        spec: &RfmSpec,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Move>, StoreError> {
        let (workspace, spec) = (workspace.to_string(), spec.clone());
        self.blocking(move |store| {
            let rows = super::rfm::migration(
                store.scan("events")?,
                store.scan("identities")?,
                &workspace,
                &spec,
                from_ms,
                to_ms,
            )
            .map_err(unavailable)?;
            Ok(crate::store::moves(rows))
        })
        .await
    }

    async fn overview(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<crate::store::OverviewRows, StoreError> {
        let workspace = workspace.to_string();
        self.blocking(move |store| {
            // Only the columns the overview reads (the traits and the rest stay on disk).
            let current = store.scan("profiles")?.map(|p| {
                let p = p.select([
                    col("workspace"),
                    col("profile_id"),
                    col("version"),
                    col("first_seen_ms"),
                    col("score"),
                    col("grade"),
                    col("lifecycle_stage"),
                    col("merged_into"),
                ]);
                super::current_profiles(p, &workspace)
            });
            super::overview::overview(
                store.scan("events")?,
                store.scan("handoffs")?,
                current,
                &workspace,
                from_ms,
                to_ms,
            )
            .map_err(unavailable)
        })
        .await
    }
}
