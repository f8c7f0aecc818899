//! Accounts (companies): the roll-up of the people `group` calls tie to one `groupId`.
//!
//! People are the source of truth; an account is computed from its members' current profiles,
//! the same way in both stores, so it is never out of step with them. People merged into another
//! profile count only there.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::profile::{
    EmailStats, LifecycleStage, Profile, Purchases, SmsStats, Touch, WindowCounts,
};

/// How many members an account lists by name (the highest scores first).
pub const TOP_PEOPLE: usize = 10;

/// One member as the account shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountMember {
    pub profile_id: String,
    pub score: f64,
    pub lifecycle_stage: LifecycleStage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    pub last_seen_ms: i64,
}

/// An account's profile: its traits and its people's activity, summed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub workspace: String,
    pub account_id: String,
    /// From the most recent `group` call of any member.
    pub traits: Map<String, Value>,
    /// Members (merged-away anonymous profiles not counted).
    pub people: u64,
    /// Members known by a `userId` (or with an email trait).
    pub known_people: u64,
    /// The account score: the sum of its members' qualifying scores.
    pub score: f64,
    /// The highest qualifying score of one member.
    pub max_score: f64,
    /// Every named score, summed over the members.
    pub scores: BTreeMap<String, f64>,
    /// Members per lifecycle stage.
    pub stages: BTreeMap<String, u64>,
    /// The best fit grade among the members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_grade: Option<String>,
    pub event_count: u64,
    pub counts: BTreeMap<String, u64>,
    pub windows: BTreeMap<String, WindowCounts>,
    pub channels: BTreeMap<String, u64>,
    pub channel_windows: BTreeMap<String, WindowCounts>,
    pub email: EmailStats,
    pub sms: SmsStats,
    pub purchases: Purchases,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The earliest first touch and the latest last touch of any member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_touch: Option<Touch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_touch: Option<Touch>,
    /// The members with the highest scores, at most [`TOP_PEOPLE`].
    pub top_people: Vec<AccountMember>,
}

/// One row of the accounts ranking: what a store can sum without reading whole profiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccountSummary {
    pub account_id: String,
    /// The `name` trait of the most recent `group` call, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub people: u64,
    pub score: f64,
    pub max_score: f64,
    /// Members who are marketing-qualified or with sales.
    pub qualified_people: u64,
    pub event_count: u64,
    pub revenue: f64,
    pub last_seen_ms: i64,
}

/// Whether a member counts toward its account.
pub fn counts_toward_account(p: &Profile, account_id: &str) -> bool {
    p.merged_into.is_none() && p.account.as_deref() == Some(account_id)
}

fn is_qualified(stage: LifecycleStage) -> bool {
    matches!(stage, LifecycleStage::Mql | LifecycleStage::SalesAccepted)
}

impl Account {
    /// Rolls up the members' current profiles (others are ignored). `None` with no member.
    pub fn roll_up(workspace: &str, account_id: &str, members: &[Profile]) -> Option<Account> {
        let members: Vec<&Profile> = members
            .iter()
            .filter(|p| p.workspace == workspace && counts_toward_account(p, account_id))
            .collect();
        if members.is_empty() {
            return None;
        }
        let mut a = Account {
            workspace: workspace.to_string(),
            account_id: account_id.to_string(),
            traits: Map::new(),
            people: members.len() as u64,
            known_people: 0,
            score: 0.0,
            max_score: f64::MIN,
            scores: BTreeMap::new(),
            stages: BTreeMap::new(),
            best_grade: None,
            event_count: 0,
            counts: BTreeMap::new(),
            windows: BTreeMap::new(),
            channels: BTreeMap::new(),
            channel_windows: BTreeMap::new(),
            email: EmailStats::default(),
            sms: SmsStats::default(),
            purchases: Purchases::default(),
            first_seen_ms: i64::MAX,
            last_seen_ms: 0,
            first_touch: None,
            last_touch: None,
            top_people: Vec::new(),
        };
        let mut traits_at = i64::MIN;
        for p in &members {
            if p.account_at_ms > traits_at && !p.account_traits.is_empty() {
                traits_at = p.account_at_ms;
                a.traits = p.account_traits.clone();
            }
            if p.identified || p.traits.contains_key("email") {
                a.known_people += 1;
            }
            a.score += p.score;
            a.max_score = a.max_score.max(p.score);
            for (name, v) in &p.scores {
                *a.scores.entry(name.clone()).or_default() += v;
            }
            *a.stages
                .entry(p.lifecycle_stage.as_str().to_string())
                .or_default() += 1;
            if let Some(g) = &p.grade
                && a.best_grade.as_ref().is_none_or(|b| g < b)
            {
                a.best_grade = Some(g.clone());
            }
            a.event_count += p.event_count;
            for (k, n) in &p.counts {
                *a.counts.entry(k.clone()).or_default() += n;
            }
            for (k, w) in &p.windows {
                a.windows.entry(k.clone()).or_default().add(w);
            }
            for (k, n) in &p.channels {
                *a.channels.entry(k.clone()).or_default() += n;
            }
            for (k, w) in &p.channel_windows {
                a.channel_windows.entry(k.clone()).or_default().add(w);
            }
            a.email.opens += p.email.opens;
            a.email.clicks += p.email.clicks;
            a.email.bot_opens += p.email.bot_opens;
            a.email.bot_clicks += p.email.bot_clicks;
            a.email.bounces += p.email.bounces;
            a.sms.replies += p.sms.replies;
            a.purchases.count += p.purchases.count;
            a.purchases.revenue += p.purchases.revenue;
            a.purchases.last_purchase_ms = a
                .purchases
                .last_purchase_ms
                .max(p.purchases.last_purchase_ms);
            a.first_seen_ms = a.first_seen_ms.min(p.first_seen_ms);
            a.last_seen_ms = a.last_seen_ms.max(p.last_seen_ms);
            if let Some(t) = &p.first_touch
                && a.first_touch.as_ref().is_none_or(|f| t.at_ms < f.at_ms)
            {
                a.first_touch = Some(t.clone());
            }
            if let Some(t) = &p.last_touch
                && a.last_touch.as_ref().is_none_or(|l| t.at_ms > l.at_ms)
            {
                a.last_touch = Some(t.clone());
            }
        }
        let mut top: Vec<&&Profile> = members.iter().collect();
        top.sort_by(|x, y| {
            y.score
                .total_cmp(&x.score)
                .then_with(|| x.profile_id.cmp(&y.profile_id))
        });
        a.top_people = top
            .into_iter()
            .take(TOP_PEOPLE)
            .map(|p| AccountMember {
                profile_id: p.profile_id.clone(),
                score: p.score,
                lifecycle_stage: p.lifecycle_stage,
                grade: p.grade.clone(),
                last_seen_ms: p.last_seen_ms,
            })
            .collect();
        Some(a)
    }

    /// The ranking row of this account (what a store's aggregate query returns).
    pub fn summary(&self) -> AccountSummary {
        AccountSummary {
            account_id: self.account_id.clone(),
            name: self
                .traits
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string),
            people: self.people,
            score: self.score,
            max_score: self.max_score,
            qualified_people: self
                .stages
                .iter()
                .filter(|(s, _)| LifecycleStage::parse(s).is_some_and(is_qualified))
                .map(|(_, n)| n)
                .sum(),
            event_count: self.event_count,
            revenue: self.purchases.revenue,
            last_seen_ms: self.last_seen_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member(id: &str, account: &str, score: f64, at: i64, name: &str) -> Profile {
        let mut p = Profile::new("w", id);
        p.account = Some(account.into());
        p.account_at_ms = at;
        if !name.is_empty() {
            p.account_traits.insert("name".into(), json!(name));
        }
        p.score = score;
        p.scores.insert("engagement".into(), score);
        p.event_count = 3;
        p.counts.insert("page_viewed".into(), 2);
        p.purchases.revenue = 10.0;
        p.first_seen_ms = at - 100;
        p.last_seen_ms = at;
        p
    }

    #[test]
    fn members_add_up_and_the_latest_group_call_names_the_account() {
        let mut a = member("a", "acme", 40.0, 1_000, "Acme");
        a.identified = true;
        a.lifecycle_stage = LifecycleStage::Mql;
        a.grade = Some("B".into());
        let mut b = member("b", "acme", 25.5, 2_000, "Acme Inc.");
        b.grade = Some("A".into());
        let mut merged = member("anon", "acme", 99.0, 3_000, "Wrong");
        merged.merged_into = Some("a".into());
        let elsewhere = member("c", "globex", 70.0, 4_000, "Globex");
        let account = Account::roll_up("w", "acme", &[a, b, merged, elsewhere]).expect("members");
        assert_eq!(
            account.people, 2,
            "the merged-away profile and globex's are not members"
        );
        assert_eq!(account.known_people, 1);
        assert_eq!(account.score, 65.5);
        assert_eq!(account.max_score, 40.0);
        assert_eq!(account.scores["engagement"], 65.5);
        assert_eq!(
            account.traits["name"], "Acme Inc.",
            "the most recent group call"
        );
        assert_eq!(account.best_grade.as_deref(), Some("A"));
        assert_eq!(account.event_count, 6);
        assert_eq!(account.counts["page_viewed"], 4);
        assert_eq!(account.purchases.revenue, 20.0);
        assert_eq!((account.first_seen_ms, account.last_seen_ms), (900, 2_000));
        assert_eq!(account.stages["mql"], 1);
        assert_eq!(account.stages["name"], 1);
        let top: Vec<&str> = account
            .top_people
            .iter()
            .map(|m| m.profile_id.as_str())
            .collect();
        assert_eq!(top, ["a", "b"]);
        let summary = account.summary();
        assert_eq!(summary.name.as_deref(), Some("Acme Inc."));
        assert_eq!(summary.qualified_people, 1);
        assert!(Account::roll_up("w", "initech", &[]).is_none());
    }
}
