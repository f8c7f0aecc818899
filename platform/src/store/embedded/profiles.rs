//! Reading profiles, their history and hand-offs, accounts and identities from the Parquet files.

use async_trait::async_trait;
use leadstream_schemas::{AccountSummary, Profile};
use polars::prelude::*;

use super::codec::Columns;
use super::{EmbeddedStore, current_profiles, of_profile, of_workspace, one_of, unavailable};
use crate::store::{
    AccountSummaryRow, EventRow, HandoffRow, IdentityRow, ProfileReads, ProfileRow, ScoreChangeRow,
    StoreError, Table, distinct_changes, distinct_handoffs, distinct_identities, members,
};

#[async_trait]
impl ProfileReads for EmbeddedStore {
    async fn profile(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Option<Profile>, StoreError> {
        let filter = of_profile(workspace, profile_id);
        self.select::<ProfileRow>(|scan| {
            scan.filter(filter)
                .sort(
                    ["version"],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .limit(1)
        })
        .await?
        .into_iter()
        .next()
        .map(Profile::try_from)
        .transpose()
    }

    async fn score_changes(
        &self,
        workspace: &str,
        profile_id: &str,
        limit: usize,
    ) -> Result<Vec<ScoreChangeRow>, StoreError> {
        let filter = of_profile(workspace, profile_id);
        let rows = self
            .select::<ScoreChangeRow>(|scan| scan.filter(filter))
            .await?;
        Ok(distinct_changes(rows, limit))
    }

    async fn workspace_profiles(&self, workspace: &str) -> Result<Vec<Profile>, StoreError> {
        let workspace = workspace.to_string();
        self.select::<ProfileRow>(move |scan| current_profiles(scan, &workspace))
            .await?
            .into_iter()
            .map(Profile::try_from)
            .collect()
    }

    async fn profiles_by_ids(
        &self,
        workspace: &str,
        ids: &[String],
    ) -> Result<Vec<Profile>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let workspace = workspace.to_string();
        let ids = ids.to_vec();
        self.select::<ProfileRow>(move |scan| {
            current_profiles(scan, &workspace).filter(one_of(col("profile_id"), &ids))
        })
        .await?
        .into_iter()
        .map(Profile::try_from)
        .collect()
    }

    async fn ids_by_email(
        &self,
        workspace: &str,
        emails: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let workspace = workspace.to_string();
        let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        let wanted = lit(Series::new("emails".into(), lower)).implode(false);
        let Some(df) = self
            .select_frame(ProfileRow::TABLE, move |scan| {
                current_profiles(scan, &workspace)
                    .filter(col("merged_into").eq(lit("")))
                    .select([
                        col("traits")
                            .str()
                            .json_path_match(lit("$.email"))
                            .str()
                            .to_lowercase()
                            .alias("e"),
                        col("profile_id"),
                    ])
                    .filter(col("e").is_in(wanted, false).fill_null(lit(false)))
                    .sort(["e", "profile_id"], SortMultipleOptions::default())
            })
            .await?
        else {
            return Ok(Vec::new());
        };
        let c = Columns(&df);
        let (e, id) = (
            c.text("e").map_err(unavailable)?,
            c.text("profile_id").map_err(unavailable)?,
        );
        Ok(e.into_iter().zip(id).collect())
    }

    async fn account_members(
        &self,
        workspace: &str,
        account_id: &str,
    ) -> Result<Vec<Profile>, StoreError> {
        let workspace = workspace.to_string();
        let of_account = col("account").eq(lit(account_id.to_string()));
        let rows = self
            .select::<ProfileRow>(move |scan| current_profiles(scan, &workspace).filter(of_account))
            .await?;
        members(rows, account_id)
    }

    async fn accounts(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        let workspace = workspace.to_string();
        let Some(df) = self
            .select_frame(ProfileRow::TABLE, move |scan| {
                let stage = col("lifecycle_stage");
                current_profiles(scan, &workspace)
                    .filter(
                        col("account")
                            .neq(lit(""))
                            .and(col("merged_into").eq(lit(""))),
                    )
                    .group_by([col("account")])
                    .agg([
                        col("account_traits")
                            .sort_by(
                                [col("account_at_ms")],
                                SortMultipleOptions::default().with_order_descending(true),
                            )
                            .first()
                            .alias("traits"),
                        len().cast(DataType::UInt64).alias("people"),
                        col("score").sum().alias("score"),
                        col("score").max().alias("max_score"),
                        stage
                            .clone()
                            .eq(lit("mql"))
                            .or(stage.eq(lit("sales_accepted")))
                            .cast(DataType::UInt64)
                            .sum()
                            .alias("qualified_people"),
                        col("event_count").sum().alias("event_count"),
                        col("revenue").sum().alias("revenue"),
                        col("last_seen_ms").max().alias("last_seen_ms"),
                    ])
                    .sort_by_exprs(
                        [col("score"), col("account")],
                        SortMultipleOptions::default().with_order_descending_multi([true, false]),
                    )
                    .limit(limit as IdxSize)
            })
            .await?
        else {
            return Ok(Vec::new());
        };
        {
            let c = Columns(&df);
            let (ids, traits) = (
                c.text("account").map_err(unavailable)?,
                c.text("traits").map_err(unavailable)?,
            );
            let (people, qualified, events) = (
                c.num::<UInt64Type>("people").map_err(unavailable)?,
                c.num::<UInt64Type>("qualified_people")
                    .map_err(unavailable)?,
                c.num::<UInt64Type>("event_count").map_err(unavailable)?,
            );
            let (score, max_score, revenue) = (
                c.num::<Float64Type>("score").map_err(unavailable)?,
                c.num::<Float64Type>("max_score").map_err(unavailable)?,
                c.num::<Float64Type>("revenue").map_err(unavailable)?,
            );
            let last_seen = c.num::<Int64Type>("last_seen_ms").map_err(unavailable)?;
            Ok((0..df.height())
                .map(|i| {
                    AccountSummary::from(AccountSummaryRow {
                        account_id: ids[i].clone(),
                        traits: traits[i].clone(),
                        people: people[i],
                        score: score[i],
                        max_score: max_score[i],
                        qualified_people: qualified[i],
                        event_count: events[i],
                        revenue: revenue[i],
                        last_seen_ms: last_seen[i],
                    })
                })
                .collect())
        }
    }

    async fn events(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let filter = of_workspace(workspace)
            .and(col("timestamp_ms").gt_eq(lit(from_ms)))
            .and(col("timestamp_ms").lt(lit(to_ms)));
        self.select::<EventRow>(move |scan| {
            scan.filter(filter)
                .sort(
                    ["timestamp_ms", "message_id"],
                    SortMultipleOptions::default().with_maintain_order(true),
                )
                .limit(limit as IdxSize)
        })
        .await
    }

    async fn person_events(
        &self,
        workspace: &str,
        ids: &[String],
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
        let filter = of_workspace(workspace)
            .and(one_of(col("profile_id"), ids))
            .and(
                col("timestamp_ms")
                    .lt(lit(before_ms))
                    .or(col("timestamp_ms")
                        .eq(lit(before_ms))
                        .and(col("message_id").lt(lit(before_id)))),
            );
        let rows = self
            .select::<EventRow>(move |scan| {
                scan.filter(filter)
                    .sort(
                        ["timestamp_ms", "message_id"],
                        SortMultipleOptions::default().with_order_descending(true),
                    )
                    .limit((limit + 16) as IdxSize)
            })
            .await?;
        Ok(crate::store::distinct_messages(rows, limit))
    }

    async fn handoffs(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Vec<HandoffRow>, StoreError> {
        let filter = of_profile(workspace, profile_id);
        let rows = self
            .select::<HandoffRow>(|scan| scan.filter(filter))
            .await?;
        Ok(distinct_handoffs(rows))
    }

    async fn identities(&self, workspace: &str) -> Result<Vec<IdentityRow>, StoreError> {
        let filter = of_workspace(workspace);
        let rows = self
            .select::<IdentityRow>(|scan| scan.filter(filter))
            .await?;
        Ok(distinct_identities(rows))
    }
}
