//! Campaign responders ([`leadstream_schemas::campaign`] defines attribution and outcomes) in
//! both back ends: `store/clickhouse/campaign.rs` as one query that runs on 18.16 and current
//! releases, `store/embedded/campaign.rs` over the embedded store. `platform/tests/campaigns.rs` checks that both give the same responders.

/// What a campaign report asks: whose events are responses, and until when outcomes count.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponderQuery {
    pub utm_campaigns: Vec<String>,
    pub promo_codes: Vec<String>,
    /// Responses dated in `[from_ms, to_ms)`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Outcomes (hand-offs, won deals, purchases) dated up to here.
    pub until_ms: i64,
}
