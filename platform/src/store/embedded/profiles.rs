//! Reading profiles, their history and hand-offs, accounts and identities from the Parquet files.

use async_trait::async_trait;
use leadstream_schemas::{AccountSummary, Profile};
use polars::prelude::*;

use super::codec::Columns;
use super::{EmbeddedStore, codec, current_profiles, unavailable};
use crate::store::{
    AccountSummaryRow, EventRow, HandoffRow, IdentityRow, ProfileReads, ProfileRow, ScoreChangeRow,
    StoreError, distinct_changes, distinct_handoffs, distinct_identities, members,
};

#[async_trait]
impl ProfileReads for EmbeddedStore {
    async fn profile(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Option<Profile>, StoreError> {
        let store = self.clone();
        let (workspace, profile_id) = (workspace.to_string(), profile_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(None);
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("profile_id").eq(lit(profile_id))),
                )
                .sort(
                    ["version"],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .limit(1)
                .collect()
                .map_err(unavailable)?;
            codec::rows::<ProfileRow>(&df)
                .map_err(unavailable)?
                .into_iter()
                .next()
                .map(Profile::try_from)
                .transpose()
        })
        .await
        .map_err(unavailable)?
    }

    async fn score_changes(
        &self,
        workspace: &str,
        profile_id: &str,
        limit: usize,
    ) -> Result<Vec<ScoreChangeRow>, StoreError> {
        let store = self.clone();
        let (workspace, profile_id) = (workspace.to_string(), profile_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("score_changes")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("profile_id").eq(lit(profile_id))),
                )
                .collect()
                .map_err(unavailable)?;
            Ok(distinct_changes(
                codec::rows::<ScoreChangeRow>(&df).map_err(unavailable)?,
                limit,
            ))
        })
        .await
        .map_err(unavailable)?
    }

    async fn workspace_profiles(&self, workspace: &str) -> Result<Vec<Profile>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let df = current_profiles(scan, &workspace)
                .collect()
                .map_err(unavailable)?;
            codec::rows::<ProfileRow>(&df)
                .map_err(unavailable)?
                .into_iter()
                .map(Profile::try_from)
                .collect()
        })
        .await
        .map_err(unavailable)?
    }

    async fn profiles_by_ids(
        &self,
        workspace: &str,
        ids: &[String],
    ) -> Result<Vec<Profile>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.clone();
        let (workspace, ids) = (workspace.to_string(), ids.to_vec());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let wanted = lit(Series::new("ids".into(), ids)).implode(false);
            let df = current_profiles(scan, &workspace)
                .filter(col("profile_id").is_in(wanted, false))
                .collect()
                .map_err(unavailable)?;
            codec::rows::<ProfileRow>(&df)
                .map_err(unavailable)?
                .into_iter()
                .map(Profile::try_from)
                .collect()
        })
        .await
        .map_err(unavailable)?
    }

    async fn ids_by_email(
        &self,
        workspace: &str,
        emails: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.clone();
        let workspace = workspace.to_string();
        let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let wanted = lit(Series::new("emails".into(), lower)).implode(false);
            let df = current_profiles(scan, &workspace)
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
                .collect()
                .map_err(unavailable)?;
            let c = Columns(&df);
            let (e, id) = (
                c.text("e").map_err(unavailable)?,
                c.text("profile_id").map_err(unavailable)?,
            );
            Ok(e.into_iter().zip(id).collect())
        })
        .await
        .map_err(unavailable)?
    }

    async fn account_members(
        &self,
        workspace: &str,
        account_id: &str,
    ) -> Result<Vec<Profile>, StoreError> {
        let store = self.clone();
        let (workspace, account_id) = (workspace.to_string(), account_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let df = current_profiles(scan, &workspace)
                .filter(col("account").eq(lit(account_id.clone())))
                .collect()
                .map_err(unavailable)?;
            members(
                codec::rows::<ProfileRow>(&df).map_err(unavailable)?,
                &account_id,
            )
        })
        .await
        .map_err(unavailable)?
    }

    async fn accounts(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("profiles")? else {
                return Ok(Vec::new());
            };
            let stage = col("lifecycle_stage");
            let df = current_profiles(scan, &workspace)
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
                .collect()
                .map_err(unavailable)?;
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
        })
        .await
        .map_err(unavailable)?
    }

    async fn events(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("events")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("timestamp_ms").gt_eq(lit(from_ms)))
                        .and(col("timestamp_ms").lt(lit(to_ms))),
                )
                .sort(
                    ["timestamp_ms", "message_id"],
                    SortMultipleOptions::default().with_maintain_order(true),
                )
                .limit(limit as IdxSize)
                .collect()
                .map_err(unavailable)?;
            codec::rows::<EventRow>(&df).map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    async fn person_events(
        &self,
        workspace: &str,
        ids: &[String],
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let store = self.clone();
        let (workspace, ids) = (workspace.to_string(), ids.to_vec());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("events")? else {
                return Ok(Vec::new());
            };
            let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
            let wanted = lit(Series::new("ids".into(), ids)).implode(false);
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("profile_id").is_in(wanted, false))
                        .and(
                            col("timestamp_ms")
                                .lt(lit(before_ms))
                                .or(col("timestamp_ms")
                                    .eq(lit(before_ms))
                                    .and(col("message_id").lt(lit(before_id)))),
                        ),
                )
                .sort(
                    ["timestamp_ms", "message_id"],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .limit((limit + 16) as IdxSize)
                .collect()
                .map_err(unavailable)?;
            Ok(crate::store::distinct_messages(
                codec::rows::<EventRow>(&df).map_err(unavailable)?,
                limit,
            ))
        })
        .await
        .map_err(unavailable)?
    }

    async fn handoffs(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Vec<HandoffRow>, StoreError> {
        let store = self.clone();
        let (workspace, profile_id) = (workspace.to_string(), profile_id.to_string());
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("handoffs")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(
                    col("workspace")
                        .eq(lit(workspace))
                        .and(col("profile_id").eq(lit(profile_id))),
                )
                .collect()
                .map_err(unavailable)?;
            Ok(distinct_handoffs(
                codec::rows::<HandoffRow>(&df).map_err(unavailable)?,
            ))
        })
        .await
        .map_err(unavailable)?
    }

    async fn identities(&self, workspace: &str) -> Result<Vec<IdentityRow>, StoreError> {
        let store = self.clone();
        let workspace = workspace.to_string();
        tokio::task::spawn_blocking(move || {
            let Some(scan) = store.scan("identities")? else {
                return Ok(Vec::new());
            };
            let df = scan
                .filter(col("workspace").eq(lit(workspace)))
                .collect()
                .map_err(unavailable)?;
            Ok(distinct_identities(
                codec::rows::<IdentityRow>(&df).map_err(unavailable)?,
            ))
        })
        .await
        .map_err(unavailable)?
    }
}
