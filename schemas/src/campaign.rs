//! Campaigns: what marketers spend on, and what came of it.
//!
//! **Attribution.** An event is a *response* to a campaign when it is dated from the campaign's
//! `start` up to (not including) the day after its `end`, and its UTM campaign
//! (`context.campaign.name`) is one of the campaign's `utm_campaigns` or its `promo_code` (or
//! `coupon`) property is one of its `promo_codes`. An anonymous id's responses count for the
//! person it was merged into; a replayed event once.
//!
//! **Outcomes** of each responder, counted from their first response up to the report's time:
//! *qualified* when sales got them as a lead (a hand-off) at or after it; *won* when a deal was
//! won (`deal_won`) at or after it; *revenue* is the sum of their purchases' `revenue` at or after
//! it. The report sums them: responses, people reached, leads, customers won, revenue; cost per
//! lead (`actual_cost / leads`) and ROI (`(revenue − actual_cost) / actual_cost`) when defined.

use serde::{Deserialize, Serialize};

/// A campaign record as marketers write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `email`, `web`, `sms`, `paid_search`, `social`, `events`, `direct_mail` or `other`.
    pub channel: String,
    /// UTM campaign values (`utm_campaign`) that mark a response.
    #[serde(default)]
    pub utm_campaigns: Vec<String>,
    /// Promo codes that mark a response (the `promo_code` or `coupon` property).
    #[serde(default)]
    pub promo_codes: Vec<String>,
    /// First day (`YYYY-MM-DD`, UTC).
    pub start: chrono::NaiveDate,
    /// Last day; absent: still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub budget: f64,
    #[serde(default)]
    pub actual_cost: f64,
    #[serde(default)]
    pub expected_revenue: f64,
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Lists of people the campaign targets (each one an arm of an A/B comparison).
    #[serde(default)]
    pub target_lists: Vec<String>,
}

fn default_currency() -> String {
    "EUR".into()
}

pub const CHANNELS: [&str; 8] = [
    "email",
    "web",
    "sms",
    "paid_search",
    "social",
    "events",
    "direct_mail",
    "other",
];

const DAY_MS: i64 = 86_400_000;

impl CampaignSpec {
    /// Checks the record; the error names the field.
    pub fn check(&self) -> Result<(), (String, String)> {
        let fail = |f: &str, p: &str| Err((f.to_string(), p.to_string()));
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return fail("name", "must be 1 to 200 bytes, not blank");
        }
        if self.description.len() > 4000 {
            return fail("description", "must be at most 4000 bytes");
        }
        if !CHANNELS.contains(&self.channel.as_str()) {
            return Err((
                "channel".into(),
                format!("must be one of {}", CHANNELS.join(", ")),
            ));
        }
        if self.utm_campaigns.is_empty() && self.promo_codes.is_empty() {
            return fail(
                "utm_campaigns",
                "a campaign needs at least one UTM campaign or promo code to attribute responses",
            );
        }
        for (field, codes) in [
            ("utm_campaigns", &self.utm_campaigns),
            ("promo_codes", &self.promo_codes),
        ] {
            if codes.len() > 100 {
                return fail(field, "at most 100 codes");
            }
            for (i, c) in codes.iter().enumerate() {
                if c.trim().is_empty() || c.len() > 200 {
                    return fail(
                        &format!("{field}[{i}]"),
                        "must be 1 to 200 bytes, not blank",
                    );
                }
            }
        }
        if self.end.is_some_and(|e| e < self.start) {
            return fail("end", "must not be before start");
        }
        for (field, v) in [
            ("budget", self.budget),
            ("actual_cost", self.actual_cost),
            ("expected_revenue", self.expected_revenue),
        ] {
            if !v.is_finite() || v < 0.0 {
                return fail(field, "must be a number ≥ 0");
            }
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return fail("currency", "must be a 3-letter ISO code");
        }
        if self.target_lists.len() > 16 {
            return fail("target_lists", "at most 16 lists");
        }
        Ok(())
    }

    /// The response window: `[start, day after end)` in ms (open-ended: up to `now_ms`).
    pub fn window(&self, now_ms: i64) -> (i64, i64) {
        let ms = |d: chrono::NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
                .unwrap_or_default()
        };
        let from = ms(self.start);
        let to = self
            .end
            .map_or(now_ms.saturating_add(1), |e| ms(e) + DAY_MS);
        (from, to)
    }
}

/// One responder: what they did and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Responder {
    pub profile_id: String,
    pub responses: u64,
    pub first_response_ms: i64,
    /// The first hand-off to sales at or after the first response (0: none).
    pub qualified_ms: i64,
    /// The first won deal at or after the first response (0: none).
    pub won_ms: i64,
    pub revenue: f64,
}

/// A campaign's (or one arm's) figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Figures {
    pub responses: u64,
    pub people_reached: u64,
    pub leads: u64,
    pub customers_won: u64,
    pub revenue: f64,
    /// `actual_cost / leads`; absent without leads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_lead: Option<f64>,
    /// `(revenue − actual_cost) / actual_cost`; absent without a cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roi: Option<f64>,
}

impl Figures {
    /// Sums `responders`, costing `cost`.
    pub fn of<'a>(responders: impl IntoIterator<Item = &'a Responder>, cost: f64) -> Figures {
        let mut f = Figures::default();
        for r in responders {
            f.responses += r.responses;
            f.people_reached += 1;
            f.leads += u64::from(r.qualified_ms > 0);
            f.customers_won += u64::from(r.won_ms > 0);
            f.revenue += r.revenue;
        }
        f.cost_per_lead = (f.leads > 0).then(|| cost / f.leads as f64);
        f.roi = (cost > 0.0).then(|| (f.revenue - cost) / cost);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CampaignSpec {
        serde_json::from_value(serde_json::json!({
            "name": "Spring", "channel": "email", "utm_campaigns": ["spring"],
            "start": "2026-03-01", "end": "2026-03-31", "actual_cost": 100.0
        }))
        .expect("spec")
    }

    #[test]
    fn checks_and_windows() {
        let s = spec();
        assert!(s.check().is_ok());
        let (from, to) = s.window(0);
        assert_eq!(to - from, 31 * DAY_MS);
        for (field, change) in [
            ("channel", serde_json::json!({"channel": "carrier pigeon"})),
            ("utm_campaigns", serde_json::json!({"utm_campaigns": []})),
            ("end", serde_json::json!({"end": "2026-02-01"})),
            ("actual_cost", serde_json::json!({"actual_cost": -1})),
            ("promo_codes[0]", serde_json::json!({"promo_codes": [" "]})),
            ("currency", serde_json::json!({"currency": "euro"})),
        ] {
            let mut v = serde_json::to_value(spec()).expect("json");
            for (k, x) in change.as_object().expect("object") {
                v[k] = x.clone();
            }
            let s: CampaignSpec = serde_json::from_value(v).expect("spec");
            assert_eq!(s.check().expect_err("refused").0, field);
        }
    }

    #[test]
    fn figures_add_up() {
        let r = |q: i64, w: i64, rev: f64| Responder {
            profile_id: "p".into(),
            responses: 2,
            first_response_ms: 1,
            qualified_ms: q,
            won_ms: w,
            revenue: rev,
        };
        let f = Figures::of(&[r(5, 0, 0.0), r(0, 0, 0.0), r(6, 9, 300.0)], 100.0);
        assert_eq!(
            (f.responses, f.people_reached, f.leads, f.customers_won),
            (6, 3, 2, 1)
        );
        assert_eq!(f.cost_per_lead, Some(50.0));
        assert_eq!(f.roi, Some(2.0));
        assert_eq!(Figures::of(&[], 0.0).roi, None);
    }
}
