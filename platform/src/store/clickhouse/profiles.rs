//! Reading profiles, their history and hand-offs, accounts and identities from ClickHouse.

use async_trait::async_trait;
use leadstream_schemas::{AccountSummary, Profile};

use super::{ClickhouseStore, classify};
use crate::store::{
    AccountSummaryRow, EventRow, HandoffRow, IdentityRow, ProfileReads, ProfileRow, ScoreChangeRow,
    StoreError, distinct_changes, distinct_handoffs, distinct_identities, latest_versions, members,
};

#[async_trait]
impl ProfileReads for ClickhouseStore {
    async fn profile(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Option<Profile>, StoreError> {
        let row = self
            .client
            .query("SELECT ?fields FROM profiles WHERE workspace = ? AND profile_id = ? ORDER BY version DESC LIMIT 1")
            .bind(workspace)
            .bind(profile_id)
            .fetch_optional::<ProfileRow>()
            .await
            .map_err(classify)?;
        row.map(Profile::try_from).transpose()
    }

    async fn score_changes(
        &self,
        workspace: &str,
        profile_id: &str,
        limit: usize,
    ) -> Result<Vec<ScoreChangeRow>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM score_changes FINAL WHERE workspace = ? AND profile_id = ? \
                 ORDER BY at_ms DESC, message_id DESC, seq DESC LIMIT ?",
            )
            .bind(workspace)
            .bind(profile_id)
            .bind(limit as u64)
            .fetch_all::<ScoreChangeRow>()
            .await
            .map_err(classify)?;
        Ok(distinct_changes(rows, limit))
    }

    async fn workspace_profiles(&self, workspace: &str) -> Result<Vec<Profile>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM profiles FINAL WHERE workspace = ?")
            .bind(workspace)
            .fetch_all::<ProfileRow>()
            .await
            .map_err(classify)?;
        latest_versions(rows)
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
        let rows = self
            .client
            .query("SELECT ?fields FROM profiles WHERE workspace = ? AND has(?, profile_id)")
            .bind(workspace)
            .bind(ids)
            .fetch_all::<ProfileRow>()
            .await
            .map_err(classify)?;
        latest_versions(rows)
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
        let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        self.client
            .query(
                "SELECT e, pid FROM (SELECT lower(visitParamExtractString(t, 'email')) AS e, pid \
                 FROM (SELECT profile_id AS pid, argMax(traits, version) AS t, \
                 argMax(merged_into, version) AS mi FROM profiles WHERE workspace = ? \
                 GROUP BY profile_id) WHERE mi = '') WHERE has(?, e) ORDER BY e, pid",
            )
            .bind(workspace)
            .bind(lower.as_slice())
            .fetch_all::<(String, String)>()
            .await
            .map_err(classify)
    }

    async fn account_members(
        &self,
        workspace: &str,
        account_id: &str,
    ) -> Result<Vec<Profile>, StoreError> {
        // The account and merge state of a profile's newest version decide (argMax), so a person
        // who moved to another account leaves this one.
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM profiles WHERE workspace = ? AND profile_id IN \
                 (SELECT profile_id FROM profiles WHERE workspace = ? GROUP BY profile_id \
                  HAVING argMax(account, version) = ? AND argMax(merged_into, version) = '')",
            )
            .bind(workspace)
            .bind(workspace)
            .bind(account_id)
            .fetch_all::<ProfileRow>()
            .await
            .map_err(classify)?;
        members(latest_versions(rows), account_id)
    }

    async fn accounts(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT acc AS account_id, argMax(atr, aat) AS traits, count() AS people, \
                 sum(sc) AS score, max(sc) AS max_score, \
                 countIf(st = 'mql' OR st = 'sales_accepted') AS qualified_people, \
                 sum(ec) AS event_count, sum(rev) AS revenue, max(ls) AS last_seen_ms \
                 FROM (SELECT profile_id, argMax(account, version) AS acc, \
                   argMax(account_traits, version) AS atr, argMax(account_at_ms, version) AS aat, \
                   argMax(score, version) AS sc, argMax(lifecycle_stage, version) AS st, \
                   argMax(event_count, version) AS ec, argMax(revenue, version) AS rev, \
                   argMax(last_seen_ms, version) AS ls, argMax(merged_into, version) AS mi \
                   FROM profiles WHERE workspace = ? GROUP BY profile_id) \
                 WHERE acc != '' AND mi = '' \
                 GROUP BY acc ORDER BY score DESC, account_id ASC LIMIT ?",
            )
            .bind(workspace)
            .bind(limit as u64)
            .fetch_all::<AccountSummaryRow>()
            .await
            .map_err(classify)?;
        Ok(rows.into_iter().map(AccountSummary::from).collect())
    }

    async fn events(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM events WHERE workspace = ? AND timestamp_ms >= ? AND timestamp_ms < ? \
                 ORDER BY timestamp_ms, message_id LIMIT ?",
            )
            .bind(workspace)
            .bind(from_ms)
            .bind(to_ms)
            .bind(limit as u64)
            .fetch_all::<EventRow>()
            .await
            .map_err(classify)?;
        Ok(rows)
    }

    async fn person_events(
        &self,
        workspace: &str,
        ids: &[String],
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM events WHERE workspace = ? AND has(?, profile_id) \
                 AND (timestamp_ms < ? OR (timestamp_ms = ? AND message_id < ?)) \
                 ORDER BY timestamp_ms DESC, message_id DESC LIMIT ?",
            )
            .bind(workspace)
            .bind(ids)
            .bind(before_ms)
            .bind(before_ms)
            .bind(before_id.as_str())
            .bind((limit + 16) as u64)
            .fetch_all::<EventRow>()
            .await
            .map_err(classify)?;
        Ok(crate::store::distinct_messages(rows, limit))
    }

    async fn handoffs(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Vec<HandoffRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM handoffs WHERE workspace = ? AND profile_id = ? ORDER BY crossing")
            .bind(workspace)
            .bind(profile_id)
            .fetch_all::<HandoffRow>()
            .await
            .map_err(classify)?;
        Ok(distinct_handoffs(rows))
    }

    async fn identities(&self, workspace: &str) -> Result<Vec<IdentityRow>, StoreError> {
        let rows = self
            .client
            .query("SELECT ?fields FROM identities WHERE workspace = ?")
            .bind(workspace)
            .fetch_all::<IdentityRow>()
            .await
            .map_err(classify)?;
        Ok(distinct_identities(rows))
    }
}
