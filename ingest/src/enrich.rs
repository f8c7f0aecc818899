//! What the collector adds to an event before it goes to the log.
//!
//! - `receivedAt`: the collector's clock.
//! - `messageId`: generated (UUIDv4) when the client sent none.
//! - `timestamp`: corrected for the client's clock skew as Segment does,
//!   `receivedAt − (sentAt − originalTimestamp)`, when the client sent `sentAt`; otherwise the
//!   client's `timestamp` / `originalTimestamp`, otherwise `receivedAt`.
//! - `context.ip` and `context.userAgent` from the connection when the client sent none; the IP
//!   behind trusted proxies from `X-Forwarded-For`, anonymised when configured.
//! - `context.campaign` from the `utm_*` parameters of `context.page.url` (the client's own
//!   campaign fields win).
//! - `enrichment`: the parsed user agent, a `bot` flag (crawler per the parser, or a configured
//!   substring) and a `future_timestamp` flag.
//! - batch-level `context` and `integrations`, merged under the event's own keys.
//! - `workspace`, from the write key (a client's value is overwritten).
//! - an identify call's `traits` from its `context.traits` (where RudderStack's SDKs put them),
//!   under the top-level ones.

use std::net::IpAddr;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use leadstream_platform::config::IngestConfig;
use leadstream_schemas::{Campaign, Enrichment, Event, EventType, Rejection, UserAgentInfo};
use serde_json::{Map, Value};

/// What the request says about every event in it.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub workspace: String,
    /// The write key is public (meant for web pages): CRM events are refused.
    pub public_key: bool,
    pub received_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// `ip` as text, formatted once per request: a batch's events share it.
    pub ip_text: std::sync::OnceLock<Option<String>>,
}

impl RequestFacts {
    /// The client's address as text (`context.ip`).
    pub fn ip_text(&self) -> Option<String> {
        self.ip_text
            .get_or_init(|| self.ip.map(|ip| ip.to_string()))
            .clone()
    }
}

/// Batch-level `context` and `integrations`, merged into each event of a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchDefaults<'a> {
    pub context: Option<&'a Map<String, Value>>,
    pub integrations: Option<&'a Map<String, Value>>,
}

impl BatchDefaults<'_> {
    /// Nothing to merge: an empty batch-level object counts as none.
    pub fn is_empty(&self) -> bool {
        self.context.is_none_or(Map::is_empty) && self.integrations.is_none_or(Map::is_empty)
    }
}

/// Merges batch-level `context` / `integrations` into one raw event (event keys win, nested
/// objects merge key by key).
pub fn merge_batch_defaults(event: &mut Value, defaults: BatchDefaults<'_>) {
    let Some(obj) = event.as_object_mut() else {
        return;
    };
    for (name, defaults) in [
        ("context", defaults.context),
        ("integrations", defaults.integrations),
    ] {
        let Some(defaults) = defaults else { continue };
        let slot = obj.entry(name).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(target) = slot {
            merge_under(target, defaults);
        }
    }
}

fn merge_under(target: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (k, v) in defaults {
        match (target.get_mut(k), v) {
            (None, _) => {
                target.insert(k.clone(), v.clone());
            }
            (Some(Value::Object(t)), Value::Object(d)) => merge_under(t, d),
            (Some(_), _) => {}
        }
    }
}

/// The collector's enrichment settings, built once from the config.
pub struct Enricher {
    trusted_proxies: Vec<IpNet>,
    anonymize_ip: bool,
    future_tolerance: chrono::Duration,
    /// A corrected `timestamp` later than this past the receive time is not believed: the event
    /// is stored at its receive time (flagged, the client's time kept in `originalTimestamp`).
    max_future: chrono::Duration,
    bot_substrings: Vec<String>,
    /// Classified user agents: traffic repeats a few thousand distinct strings, and a parse costs
    /// microseconds.
    user_agents: quick_cache::sync::Cache<String, (Option<UserAgentInfo>, bool)>,
    /// Which ids may stand for a person.
    pub identity: leadstream_schemas::IdentityRules,
    /// The currency of purchases that name none, upper-cased: the default and per workspace.
    default_currency: String,
    currency_by_workspace: std::collections::BTreeMap<String, String>,
}

/// How many distinct user agents the enricher remembers.
const USER_AGENT_CACHE: usize = 10_000;

impl Enricher {
    pub fn with_identity(mut self, identity: leadstream_schemas::IdentityRules) -> Enricher {
        self.identity = identity;
        self
    }

    /// Drops a `userId` or `anonymousId` that cannot stand for a person (`null`, `undefined`,
    /// `0`, …) so that it never fuses strangers into one profile; refuses the event when no usable
    /// id is left, and an `alias` or `group` call whose other id is unusable.
    pub fn check_ids(&self, event: &mut Event) -> Result<(), Rejection> {
        let mut dropped = None;
        for (field, id) in [
            ("userId", &mut event.user_id),
            ("anonymousId", &mut event.anonymous_id),
        ] {
            // An empty id is no id (RudderStack's browser SDK sends `"userId": ""` until an
            // identify): stored as absent, so no reader has to tell "" from missing.
            if id.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *id = None;
            }
            if let Some(v) = id.as_deref()
                && !self.identity.is_legal(v)
            {
                dropped.get_or_insert((field, v.to_string()));
                *id = None;
                crate::metrics::IDS_IGNORED
                    .with_label_values(&[field])
                    .inc();
            }
        }
        if event.person_id().is_none() {
            let (field, id) = dropped.unwrap_or(("userId", String::new()));
            return Err(Rejection::new(
                field,
                format!(
                    "`{id}` cannot identify a person (see identity.illegal_ids), and there is no other usable userId or anonymousId"
                ),
            ));
        }
        for (field, id) in [
            ("previousId", event.previous_id.as_deref()),
            ("groupId", event.group_id.as_deref()),
        ] {
            if let Some(v) = id
                && !v.is_empty()
                && !self.identity.is_legal(v)
            {
                return Err(Rejection::new(
                    field,
                    format!("`{v}` cannot identify a person or account (see identity.illegal_ids)"),
                ));
            }
        }
        Ok(())
    }

    pub fn new(config: &IngestConfig) -> Enricher {
        Enricher {
            trusted_proxies: config.trusted_proxies.clone(),
            anonymize_ip: config.anonymize_ip,
            future_tolerance: chrono::Duration::seconds(
                config.future_tolerance_secs.min(i64::MAX as u64) as i64,
            ),
            max_future: chrono::Duration::days(i64::from(config.max_future_days)),
            bot_substrings: config
                .bot_user_agents
                .iter()
                .map(|b| b.to_ascii_lowercase())
                .collect(),
            user_agents: quick_cache::sync::Cache::new(USER_AGENT_CACHE),
            identity: leadstream_schemas::IdentityRules::default(),
            default_currency: config.default_currency.to_ascii_uppercase(),
            currency_by_workspace: config
                .currency_by_workspace
                .iter()
                .map(|(w, c)| (w.clone(), c.to_ascii_uppercase()))
                .collect(),
        }
    }

    /// The currency of a purchase or refund in `workspace` that names no valid one.
    pub fn currency(&self, workspace: &str) -> &str {
        self.currency_by_workspace
            .get(workspace)
            .unwrap_or(&self.default_currency)
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
    /// address of `X-Forwarded-For` that is not a trusted proxy (or the left-most, when every
    /// address in it is trusted).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let chain: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .collect();
        let first = chain.first().copied();
        Some(
            chain
                .into_iter()
                .rev()
                .find(|ip| !self.is_trusted(*ip))
                .or(first)
                .unwrap_or(peer),
        )
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    pub fn enrich(&self, event: &mut Event, facts: &RequestFacts) {
        event.workspace = Some(facts.workspace.clone());
        event.received_at = Some(facts.received_at);
        if event
            .message_id
            .as_deref()
            .is_none_or(|m| m.trim().is_empty())
        {
            event.message_id = Some(uuid::Uuid::new_v4().to_string());
        }
        let client_time = event.original_timestamp.or(event.timestamp);
        if event.original_timestamp.is_none() {
            event.original_timestamp = client_time;
        }
        let sent_at = event.sent_at.or(facts.sent_at);
        event.sent_at = sent_at;
        let timestamp = match (client_time, sent_at) {
            (Some(t), Some(sent)) => facts.received_at - (sent - t),
            (Some(t), None) => t,
            (None, _) => facts.received_at,
        };
        let future = timestamp > facts.received_at + self.future_tolerance;
        // Year 9999 is no event time: past the bound, the receive time stands in.
        let timestamp = if timestamp > facts.received_at + self.max_future {
            facts.received_at
        } else {
            timestamp
        };
        event.timestamp = Some(timestamp);
        // A client's own `context.ip` is believed from server-side keys (a backend forwarding its
        // visitor's address); a public key's page could claim any address.
        if event.context.ip.is_none() || facts.public_key {
            event.context.ip = facts.ip_text();
        }
        if self.anonymize_ip {
            event.context.ip = event
                .context
                .ip
                .as_deref()
                .and_then(|ip| ip.parse().ok())
                .map(|ip| anonymize(ip).to_string());
        }
        if event.context.user_agent.is_none() {
            event.context.user_agent = facts.user_agent.clone();
        }
        campaign_from_url(event);
        identify_traits_from_context(event);
        let (user_agent, bot) = match event.context.user_agent.as_deref() {
            Some(ua) => match self.user_agents.get(ua) {
                Some(known) => known,
                None => {
                    let classified = self.classify_user_agent(ua);
                    self.user_agents.insert(ua.to_string(), classified.clone());
                    classified
                }
            },
            None => (None, false),
        };
        event.enrichment = Some(Enrichment {
            bot,
            future_timestamp: future,
            user_agent,
            ..Enrichment::default()
        });
    }
}

impl Enricher {
    /// The parsed user agent, and whether it is machine-made: a crawler per the parser, or one of
    /// the configured substrings.
    fn classify_user_agent(&self, ua: &str) -> (Option<UserAgentInfo>, bool) {
        let parsed = parse_user_agent(ua);
        let lower = ua.to_ascii_lowercase();
        let bot = parsed.as_ref().is_some_and(|p| p.category == "crawler")
            || self
                .bot_substrings
                .iter()
                .any(|b| lower.contains(b.as_str()));
        (parsed, bot)
    }
}

/// Zeroes the host part: the last octet of IPv4, the last 80 bits of IPv6.
pub fn anonymize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            for s in &mut segments[3..] {
                *s = 0;
            }
            IpAddr::from(segments)
        }
    }
}

fn parse_user_agent(ua: &str) -> Option<UserAgentInfo> {
    let parsed = woothee::parser::Parser::new().parse(ua)?;
    Some(UserAgentInfo {
        name: parsed.name.to_string(),
        version: parsed.version.to_string(),
        os: parsed.os.to_string(),
        category: parsed.category.to_string(),
    })
}

/// RudderStack's SDKs send an identify call's traits in `context.traits`, Segment's at the top
/// level, and the profile reads `traits`: an identify gets what `context.traits` holds and its
/// top-level `traits` lacks (`context.traits` itself stays as sent). Other calls are left alone:
/// their `context.traits` describe the user at the time, they do not change the profile.
fn identify_traits_from_context(event: &mut Event) {
    if event.event_type != EventType::Identify {
        return;
    }
    if let Some(Value::Object(traits)) = event.context.extra.get("traits") {
        for (name, value) in traits {
            if !event.traits.contains_key(name) {
                event.traits.insert(name.clone(), value.clone());
            }
        }
    }
}

/// Fills missing `context.campaign` fields from the page URL's `utm_*` parameters.
fn campaign_from_url(event: &mut Event) {
    let Some(url) = event.context.page.as_ref().and_then(|p| p.url.as_deref()) else {
        return;
    };
    // Only the query matters (not a `?` inside the fragment), and most page URLs carry no UTM
    // parameters: no need to parse the whole URL.
    let before_fragment = url.split('#').next().unwrap_or_default();
    let Some((_, query)) = before_fragment.split_once('?') else {
        return;
    };
    if !query.contains("utm_") {
        return;
    }
    let mut found = Campaign::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "utm_source" => &mut found.source,
            "utm_medium" => &mut found.medium,
            "utm_campaign" => &mut found.name,
            "utm_term" => &mut found.term,
            "utm_content" => &mut found.content,
            _ => continue,
        };
        if !v.is_empty() {
            *slot = Some(v.into_owned());
        }
    }
    if found == Campaign::default() {
        return;
    }
    let campaign = event.context.campaign.get_or_insert_with(Campaign::default);
    for (have, from_url) in [
        (&mut campaign.source, found.source),
        (&mut campaign.medium, found.medium),
        (&mut campaign.name, found.name),
        (&mut campaign.term, found.term),
        (&mut campaign.content, found.content),
    ] {
        if have.is_none() {
            *have = from_url;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> RequestFacts {
        RequestFacts {
            public_key: false,
            workspace: "acme".into(),
            received_at: "2026-01-01T12:00:10Z".parse().expect("time"),
            sent_at: None,
            ip: Some("203.0.113.9".parse().expect("ip")),
            user_agent: Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36".into()),
            ip_text: Default::default(),
        }
    }

    fn event(v: Value) -> Event {
        serde_json::from_value(v).expect("event")
    }

    #[test]
    fn empty_ids_are_stored_as_absent() {
        let enricher = Enricher::new(&IngestConfig::default());
        let mut e = event(json!({"type": "page", "userId": "", "anonymousId": "a-1"}));
        enricher
            .check_ids(&mut e)
            .expect("the anonymous id identifies");
        assert_eq!(
            (e.user_id.as_deref(), e.anonymous_id.as_deref()),
            (None, Some("a-1"))
        );
        let mut e = event(json!({"type": "page", "userId": " ", "anonymousId": ""}));
        assert_eq!(
            enricher.check_ids(&mut e).expect_err("no id").field,
            "userId"
        );
    }

    #[test]
    fn identify_traits_come_from_context_traits_under_the_top_level_ones() {
        let enricher = Enricher::new(&IngestConfig::default());
        // RudderStack's Python and JavaScript SDKs: the traits only in `context.traits`.
        let mut e = event(json!({"type": "identify", "userId": "u",
            "traits": {"title": "CTO"},
            "context": {"traits": {"email": "a@b.io", "title": "VP"}}}));
        enricher.enrich(&mut e, &facts());
        assert_eq!(
            e.traits,
            json!({"email": "a@b.io", "title": "CTO"})
                .as_object()
                .cloned()
                .expect("map")
        );
        assert_eq!(
            e.context.extra["traits"],
            json!({"email": "a@b.io", "title": "VP"})
        );
        // A track call's `context.traits` describe the user; they are not profile updates.
        let mut t = event(json!({"type": "track", "event": "x", "userId": "u",
            "context": {"traits": {"email": "a@b.io"}}}));
        enricher.enrich(&mut t, &facts());
        assert!(t.traits.is_empty());
    }

    #[test]
    fn skew_is_corrected_from_sent_at() {
        // The client's clock is 1 hour fast: it says it sent at 13:00:05 an event of 13:00:00.
        let mut e = event(json!({"type": "track", "event": "x", "userId": "u",
            "originalTimestamp": "2026-01-01T13:00:00Z", "sentAt": "2026-01-01T13:00:05Z"}));
        Enricher::new(&IngestConfig::default()).enrich(&mut e, &facts());
        assert_eq!(
            e.timestamp,
            Some("2026-01-01T12:00:05Z".parse().expect("time"))
        );
        assert_eq!(
            e.original_timestamp,
            Some("2026-01-01T13:00:00Z".parse().expect("time"))
        );
    }

    #[test]
    fn fills_ids_times_and_connection_facts_but_keeps_client_values() {
        let mut e =
            event(json!({"type": "track", "event": "x", "userId": "u", "workspace": "evil"}));
        Enricher::new(&IngestConfig::default()).enrich(&mut e, &facts());
        assert_eq!(e.workspace.as_deref(), Some("acme"));
        assert!(e.message_id.as_deref().is_some_and(|m| m.len() == 36));
        assert_eq!(e.timestamp, e.received_at);
        assert_eq!(e.context.ip.as_deref(), Some("203.0.113.9"));
        let mut e = event(
            json!({"type": "track", "event": "x", "userId": "u", "messageId": "m1",
            "context": {"ip": "198.51.100.1", "userAgent": "sdk"}}),
        );
        Enricher::new(&IngestConfig::default()).enrich(&mut e, &facts());
        assert_eq!(e.message_id.as_deref(), Some("m1"));
        assert_eq!(e.context.ip.as_deref(), Some("198.51.100.1"));
        assert_eq!(e.context.user_agent.as_deref(), Some("sdk"));
    }

    #[test]
    fn client_ip_behind_trusted_proxies() {
        let config = IngestConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().expect("net")],
            ..IngestConfig::default()
        };
        let enricher = Enricher::new(&config);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.5, 10.1.2.3"
                .parse()
                .expect("header"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        // A trusted proxy: the right-most untrusted address of the chain.
        assert_eq!(
            enricher.client_ip(Some(proxy), &headers),
            Some("203.0.113.5".parse().expect("ip"))
        );
        // Anyone else's X-Forwarded-For is not believed.
        let stranger: IpAddr = "192.0.2.1".parse().expect("ip");
        assert_eq!(enricher.client_ip(Some(stranger), &headers), Some(stranger));
        // Only trusted addresses in the chain: the first of them stands for the client.
        headers.insert("x-forwarded-for", "10.9.9.9".parse().expect("header"));
        assert_eq!(
            enricher.client_ip(Some(proxy), &headers),
            Some("10.9.9.9".parse().expect("ip"))
        );
    }

    #[test]
    fn anonymizes_ips_when_asked() {
        assert_eq!(
            anonymize("203.0.113.77".parse().expect("ip")).to_string(),
            "203.0.113.0"
        );
        assert_eq!(
            anonymize("2001:db8:1:2:3:4:5:6".parse().expect("ip")).to_string(),
            "2001:db8:1::"
        );
        let enricher = Enricher::new(&IngestConfig {
            anonymize_ip: true,
            ..IngestConfig::default()
        });
        let mut e = event(
            json!({"type": "track", "event": "x", "userId": "u", "context": {"ip": "198.51.100.99"}}),
        );
        enricher.enrich(&mut e, &facts());
        assert_eq!(e.context.ip.as_deref(), Some("198.51.100.0"));
    }

    #[test]
    fn utm_parameters_fill_the_campaign_without_overwriting() {
        let mut e = event(json!({"type": "page", "userId": "u", "context": {
            "page": {"url": "https://x.io/p?utm_source=news&utm_medium=email&utm_campaign=winter&x=1"},
            "campaign": {"source": "partner"}}}));
        Enricher::new(&IngestConfig::default()).enrich(&mut e, &facts());
        let c = e.context.campaign.expect("campaign");
        assert_eq!(c.source.as_deref(), Some("partner"));
        assert_eq!(c.medium.as_deref(), Some("email"));
        assert_eq!(c.name.as_deref(), Some("winter"));

        let campaign_of = |url: &str| {
            let mut e =
                event(json!({"type": "page", "userId": "u", "context": {"page": {"url": url}}}));
            Enricher::new(&IngestConfig::default()).enrich(&mut e, &facts());
            e.context.campaign
        };
        // Percent-encoding and `+` are decoded; a `?` inside the fragment is not the query.
        let c =
            campaign_of("https://x.io/p?a=1&utm_campaign=black+friday%20%E2%82%AC&utm_term=#top")
                .expect("campaign");
        assert_eq!(c.name.as_deref(), Some("black friday €"));
        assert_eq!(c.term, None, "empty values are skipped");
        assert_eq!(campaign_of("https://x.io/#/route?utm_source=spa"), None);
        assert_eq!(campaign_of("https://x.io/p?ref=utm_source"), None);
        assert_eq!(campaign_of("https://x.io/p"), None);
    }

    #[test]
    fn user_agents_are_parsed_and_bots_flagged() {
        let enricher = Enricher::new(&IngestConfig::default());
        let mut e = event(json!({"type": "page", "userId": "u"}));
        enricher.enrich(&mut e, &facts());
        let en = e.enrichment.expect("enrichment");
        assert!(!en.bot);
        assert_eq!(en.user_agent.expect("ua").name, "Chrome");
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 HeadlessChrome/120.0",
            "python-requests/2.31",
        ] {
            let mut e = event(json!({"type": "page", "userId": "u", "context": {"userAgent": ua}}));
            enricher.enrich(&mut e, &facts());
            assert!(e.enrichment.expect("enrichment").bot, "{ua}");
        }
        // A client cannot claim its own enrichment.
        let mut e = event(
            json!({"type": "page", "userId": "u", "context": {"userAgent": "Googlebot/2.1"}, "enrichment": {"bot": false}}),
        );
        enricher.enrich(&mut e, &facts());
        assert!(e.enrichment.expect("enrichment").bot);
    }

    #[test]
    fn one_request_with_mixed_user_agents_classifies_each() {
        let enricher = Enricher::new(&IngestConfig::default());
        let facts = facts();
        let bots: Vec<bool> = [
            "Mozilla/5.0 Chrome/120.0",
            "Googlebot/2.1",
            "Googlebot/2.1",
            "Mozilla/5.0 Chrome/120.0",
        ]
        .into_iter()
        .map(|ua| {
            let mut e = event(json!({"type": "page", "userId": "u", "context": {"userAgent": ua}}));
            enricher.enrich(&mut e, &facts);
            e.enrichment.expect("enrichment").bot
        })
        .collect();
        assert_eq!(bots, vec![false, true, true, false]);
    }

    #[test]
    fn far_future_timestamps_are_flagged() {
        let enricher = Enricher::new(&IngestConfig::default());
        let mut e = event(
            json!({"type": "track", "event": "x", "userId": "u", "timestamp": "2026-01-03T12:00:00Z"}),
        );
        enricher.enrich(&mut e, &facts());
        assert!(e.enrichment.expect("enrichment").future_timestamp);
        let mut e = event(
            json!({"type": "track", "event": "x", "userId": "u", "timestamp": "2026-01-01T12:30:00Z"}),
        );
        enricher.enrich(&mut e, &facts());
        assert!(!e.enrichment.expect("enrichment").future_timestamp);
        // Beyond the bound (a year by default): stored at the receive time, the client's kept.
        let mut e = event(
            json!({"type": "track", "event": "x", "userId": "u", "timestamp": "9999-12-31T23:59:59Z"}),
        );
        enricher.enrich(&mut e, &facts());
        assert_eq!(e.timestamp, Some(facts().received_at));
        assert_eq!(
            e.original_timestamp,
            Some("9999-12-31T23:59:59Z".parse().expect("time"))
        );
        assert!(e.enrichment.expect("enrichment").future_timestamp);
    }

    #[test]
    fn a_clients_own_ip_is_believed_from_server_keys_only() {
        let enricher = Enricher::new(&IngestConfig::default());
        let claimed = || {
            event(
                json!({"type": "track", "event": "x", "userId": "u", "context": {"ip": "198.51.100.7"}}),
            )
        };
        let mut e = claimed();
        enricher.enrich(&mut e, &facts());
        assert_eq!(e.context.ip.as_deref(), Some("198.51.100.7"));
        let mut e = claimed();
        let public = RequestFacts {
            public_key: true,
            ..facts()
        };
        enricher.enrich(&mut e, &public);
        assert_eq!(e.context.ip.as_deref(), Some("203.0.113.9"));
    }

    #[test]
    fn batch_context_merges_under_event_keys() {
        let mut raw =
            json!({"type": "track", "context": {"locale": "de-DE", "library": {"name": "mine"}}});
        let ctx = json!({"locale": "en-US", "channel": "web", "library": {"name": "sdk", "version": "1"}});
        merge_batch_defaults(
            &mut raw,
            BatchDefaults {
                context: ctx.as_object(),
                integrations: None,
            },
        );
        assert_eq!(raw["context"]["locale"], "de-DE");
        assert_eq!(raw["context"]["channel"], "web");
        assert_eq!(
            raw["context"]["library"],
            json!({"name": "mine", "version": "1"})
        );
    }
}
