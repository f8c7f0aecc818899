//! Typed configuration, layered file < environment (`LEADSTREAM__SECTION__KEY`) < flags, and
//! validated before any I/O. One file shape serves every binary: the all-in-one `leadstream` and
//! each service on its own read the sections they need.
//!
//! ```toml
//! mode = "embedded"            # or "distributed"
//! data_dir = "./leadstream-data"
//!
//! [ingest]
//! listen = "127.0.0.1:8080"
//!
//! [kafka]                      # distributed mode only
//! brokers = "127.0.0.1:9092"   # librdkafka bootstrap.servers
//!
//! [clickhouse]                 # distributed mode only
//! url = "http://127.0.0.1:8123"
//!
//! [[workspaces]]
//! name = "acme"
//! write_keys = ["wk_live_..."]
//! api_tokens = ["tok_..."]             # read-write; or api_token_sha256 = ["<sha-256 hex>"]
//! read_tokens = ["tok_..."]            # read-only;  or read_token_sha256 = [...]
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod clickhouse;
mod kafka;

pub use clickhouse::ClickhouseConfig;
pub use kafka::{KafkaConfig, KafkaRole, SASL_MECHANISMS, SecurityProtocol};

/// Which implementations of the log and the store a process uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// An embedded durable log and local Parquet storage under `data_dir`: no infrastructure.
    #[default]
    Embedded,
    /// Kafka and ClickHouse.
    Distributed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub mode: Mode,
    /// Where embedded mode keeps its log, its storage and its workspace registry.
    pub data_dir: PathBuf,
    /// Log format: `text` for people, `json` for machines.
    pub log_format: LogFormat,
    pub ingest: IngestConfig,
    pub scorer: ScorerConfig,
    pub query: QueryConfig,
    pub kafka: KafkaConfig,
    pub clickhouse: ClickhouseConfig,
    pub identity: IdentityConfig,
    pub crm: crate::webhook::CrmConfig,
    pub security: SecurityConfig,
    pub workspaces: Vec<WorkspaceConfig>,
}

/// `[security]`: what every service shares about who may ask.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Failed authentications (unknown write keys, API tokens, metrics tokens) one client address
    /// may make per minute; past it its requests that need authentication answer 429 until the
    /// minute is over. 0: no limit.
    pub failed_auth_per_minute: u32,
    /// The bearer token `/metrics` wants. Without one (and without `metrics_token_sha256`),
    /// `/metrics` answers loopback clients only.
    pub metrics_token: Option<String>,
    /// A file holding the metrics token (a mounted secret, or one a deploy's first start made),
    /// read at start.
    pub metrics_token_file: Option<PathBuf>,
    /// SHA-256 (hex) of the metrics token, for configs that should not hold it in the clear.
    pub metrics_token_sha256: Option<String>,
    /// How far a signed webhook's timestamp may be from now, either way, in seconds.
    pub webhook_tolerance_secs: u64,
    /// Serve `/metrics` on this address only (an admin listener on a private interface for
    /// Prometheus), and not on the service's own port, where it answers 404. The metrics token
    /// rule still applies there. One listener per process: the all-in-one's collector and
    /// query API share it.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            failed_auth_per_minute: 30,
            metrics_token: None,
            metrics_token_file: None,
            metrics_token_sha256: None,
            webhook_tolerance_secs: 300,
            metrics_listen: None,
        }
    }
}

/// `[identity]`: which ids may stand for a person (the collector drops the others from events,
/// the scorer never merges on them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Compared trimmed and case-insensitively; blank is always illegal.
    pub illegal_ids: Vec<String>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            illegal_ids: leadstream_schemas::identity::DEFAULT_ILLEGAL_IDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl IdentityConfig {
    pub fn rules(&self) -> leadstream_schemas::IdentityRules {
        leadstream_schemas::IdentityRules::new(self.illegal_ids.iter().map(String::as_str))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Embedded,
            data_dir: PathBuf::from("./leadstream-data"),
            log_format: LogFormat::Text,
            ingest: IngestConfig::default(),
            scorer: ScorerConfig::default(),
            query: QueryConfig::default(),
            kafka: KafkaConfig::default(),
            clickhouse: ClickhouseConfig::default(),
            identity: IdentityConfig::default(),
            crm: crate::webhook::CrmConfig::default(),
            security: SecurityConfig::default(),
            workspaces: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub listen: SocketAddr,
    /// Largest accepted event, in bytes (Segment: 32 KB).
    pub max_event_bytes: usize,
    /// Largest accepted request body, in bytes (Segment: 500 KB); for a gzip body, the limit
    /// applies to the decompressed size.
    pub max_batch_bytes: usize,
    /// Proxies (IP networks, e.g. `10.0.0.0/8`) whose `X-Forwarded-For` is believed. The client
    /// IP is the right-most address in the chain that is not one of them.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Zero the last octet of IPv4 and the last 80 bits of IPv6 client addresses.
    pub anonymize_ip: bool,
    /// A corrected `timestamp` later than the collector's clock by more than this is flagged.
    pub future_tolerance_secs: u64,
    /// Case-insensitive user-agent substrings that mark an event as machine-made, on top of the
    /// parser's own crawler list.
    pub bot_user_agents: Vec<String>,
    /// Requests per second a write key may make (0: no limit); over it, 429 with `Retry-After`.
    pub rate_limit_per_second: u32,
    /// Requests a write key may make at once before the per-second limit applies.
    pub rate_limit_burst: u32,
    /// How many collector instances share the traffic (behind one load balancer). The rate
    /// limits above are for the whole fleet: each instance enforces its share (the limit divided
    /// by this, rounded up), so N instances admit about the configured rate, not N times it.
    pub instances: u32,
    /// The tracking pixel's first-party anonymous-id cookie.
    pub cookie: CookieConfig,
    /// Email open and click tracking.
    pub email: EmailConfig,
    /// SMS provider webhooks.
    pub sms: SmsConfig,
    /// HTML lead-capture forms (`POST /v1/forms/{id}`).
    pub forms: Vec<FormConfig>,
    /// Form submissions one client IP may make per minute (0: no limit).
    pub form_submissions_per_ip_per_minute: u32,
    /// An event whose `messageId` this collector wrote within this window is acknowledged but
    /// not written again (0: off).
    pub dedup_window_secs: u64,
    /// At most this many message ids are remembered (about 16 bytes each); the oldest go first.
    pub dedup_max_ids: usize,
    /// The deepest nesting of objects and arrays an event may have (`{"a":{"b":1}}` is 2 deep).
    pub max_nesting_depth: usize,
    /// A corrected `timestamp` more than this many days past the receive time is replaced by the
    /// receive time (the event is kept and flagged `future_timestamp`).
    pub max_future_days: u32,
    /// The currency (ISO 4217) of a purchase or refund that names none.
    pub default_currency: String,
    /// Per workspace, a currency in place of `default_currency`: `{ demo = "EUR" }`.
    pub currency_by_workspace: std::collections::BTreeMap<String, String>,
    /// Distributed mode: the topic the collector writes failed events (what it refused) to; the
    /// scorer service keeps them in ClickHouse for the query API.
    pub failed_events_topic: String,
    /// How long failed events are kept (days).
    pub failed_events_retention_days: u32,
    /// Per workspace, a tracking plan file (opt in; see `schemas::plan`): `{ acme = "plans/acme.toml" }`.
    /// Reloaded when it changes; an invalid file is refused with its line (at start: the
    /// collector does not start; later: the last good plan stays in force).
    pub tracking_plans: std::collections::BTreeMap<String, PathBuf>,
    /// Distributed mode: where accepted events wait while the broker is unreachable.
    pub spool: SpoolConfig,
    /// The collector's public base URL (`https://t.example.com`), for what it tells browsers and
    /// providers about itself (analytics.js settings; email links and SMS signatures unless
    /// `email.public_url` / `sms.public_url` say otherwise). Without it, settings name
    /// `http://` and the request's `Host` (answered `private`, `Vary: Host`), and minted links
    /// the collector's own loopback address (minting is refused when it listens beyond loopback).
    pub public_url: Option<String>,
    /// A client that leaves its request headers unfinished, or its request body silent, this
    /// long is cut off (slow clients cannot hold connections); 408 for a stalled body.
    pub client_timeout_secs: u64,
}

/// The collector's on-disk spool for broker outages (distributed mode only; the embedded log is
/// already local disk).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    pub enabled: bool,
    /// Default: `<data_dir>/spool`. One collector process per directory.
    pub dir: Option<PathBuf>,
    /// Keys and payloads the spool may hold; when full the collector answers 503.
    pub max_bytes: u64,
    /// How long a request waits for the broker before its events are spooled instead.
    pub after_ms: u64,
    /// How many spooled messages one replay step sends.
    pub replay_batch: usize,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            enabled: true,
            dir: None,
            max_bytes: 1 << 30,
            after_ms: 3_000,
            replay_batch: 1_000,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_event_bytes: 32 * 1024,
            max_batch_bytes: 500 * 1024,
            trusted_proxies: Vec::new(),
            anonymize_ip: false,
            future_tolerance_secs: 3600,
            bot_user_agents: [
                "bot",
                "crawl",
                "spider",
                "slurp",
                "headless",
                "phantomjs",
                "lighthouse",
                "pingdom",
                "uptime",
                "monitor",
                "preview",
                "python-requests",
                "go-http-client",
                "scanner",
            ]
            .map(String::from)
            .to_vec(),
            rate_limit_per_second: 0,
            rate_limit_burst: 100,
            instances: 1,
            cookie: CookieConfig::default(),
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
            forms: Vec::new(),
            form_submissions_per_ip_per_minute: 10,
            dedup_window_secs: 86_400,
            dedup_max_ids: 10_000_000,
            max_nesting_depth: 32,
            max_future_days: 365,
            default_currency: "USD".into(),
            currency_by_workspace: Default::default(),
            failed_events_topic: "leadstream.failed-events".into(),
            failed_events_retention_days: 14,
            tracking_plans: Default::default(),
            spool: SpoolConfig::default(),
            public_url: None,
            client_timeout_secs: 10,
        }
    }
}

/// One HTML form whose submissions become leads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormConfig {
    /// The `{id}` of `POST /v1/forms/{id}`.
    pub id: String,
    /// The workspace its submissions belong to.
    pub workspace: String,
    /// Where the browser goes after a submission (303); without it, a small JSON answer.
    #[serde(default)]
    pub thank_you_url: Option<String>,
    /// A field people do not see and bots fill in: a submission with it non-empty is dropped
    /// (answered as if accepted).
    #[serde(default = "default_honeypot")]
    pub honeypot_field: String,
}

fn default_honeypot() -> String {
    "website_url".into()
}

/// SMS provider webhooks (`POST /v1/webhooks/sms/{provider}?wk=WRITE_KEY`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Twilio's auth token, which signs its webhooks (`X-Twilio-Signature`). Without it Twilio
    /// webhooks are refused (503): an unsigned webhook could come from anyone.
    pub twilio_auth_token: Option<String>,
    /// The collector's base URL as the provider calls it (`https://t.example.com`), which Twilio
    /// signs; without it, `http://` and the request's `Host`.
    pub public_url: Option<String>,
    /// Secret of the generic format's `X-Leadstream-Signature: sha256=HEX` (HMAC-SHA256 of the body).
    pub generic_secret: Option<String>,
    /// Inbound messages that opt the sender out (compared trimmed, case-insensitively).
    pub stop_words: Vec<String>,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            twilio_auth_token: None,
            public_url: None,
            generic_secret: None,
            stop_words: [
                "STOP",
                "STOPALL",
                "UNSUBSCRIBE",
                "CANCEL",
                "END",
                "QUIT",
                "СТОП",
                "ОТПИСАТЬСЯ",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Signed email open / click links.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// HMAC-SHA256 keys; the first signs new links, all of them verify (rotate by putting a new
    /// key first and dropping the old one once its links have expired). Embedded mode with none
    /// configured makes one and keeps it in the data directory.
    pub signing_keys: Vec<SigningKey>,
    /// How long a minted link stays valid.
    pub link_ttl_days: u32,
    /// The collector's public base URL for minted links (`https://t.example.com`); without it,
    /// `ingest.public_url`, else the collector's loopback address (never the request's `Host`).
    pub public_url: Option<String>,
    /// A click this soon after the link was minted (the send) is taken as a scanner's.
    pub min_click_delay_secs: u64,
    /// This many different links of one message clicked within `burst_window_ms` is a scanner.
    pub burst_links: usize,
    pub burst_window_ms: u64,
    /// User-agent substrings of mail security scanners and proxies (case-insensitive).
    pub scanner_user_agents: Vec<String>,
    /// SendGrid's Event Webhook verification key (base64 DER, as SendGrid shows it), which
    /// checks `X-Twilio-Email-Event-Webhook-Signature`. Without it SendGrid webhooks are refused.
    pub sendgrid_verification_key: Option<String>,
    /// Secret of the generic email webhook's `X-Leadstream-Signature` (a workspace's
    /// `email_webhook_secret` takes its place for that workspace).
    pub webhook_secret: Option<String>,
    /// Hosts minted links may point to in every workspace, besides each workspace's `site` and
    /// `link_domains` (`*.example.com` also takes its subdomains).
    pub link_domains: Vec<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            signing_keys: Vec::new(),
            link_ttl_days: 180,
            public_url: None,
            min_click_delay_secs: 5,
            burst_links: 3,
            burst_window_ms: 2000,
            scanner_user_agents: [
                "googleimageproxy",
                "yahoomailproxy",
                "barracuda",
                "mimecast",
                "proofpoint",
                "symantec",
                "messagelabs",
                "trendmicro",
                "forcepoint",
                "safelinks",
                "microsoft office",
                "ms-office",
            ]
            .map(String::from)
            .to_vec(),
            sendgrid_verification_key: None,
            webhook_secret: None,
            link_domains: Vec::new(),
        }
    }
}

/// One link-signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKey {
    /// Short name carried in every link it signs.
    pub id: String,
    /// At least 32 characters.
    pub secret: String,
}

/// The tracking pixel's anonymous-id cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieConfig {
    /// Set and read the cookie at all.
    pub enabled: bool,
    pub name: String,
    /// `Domain` attribute (e.g. `.example.com` to share it across subdomains); host-only when unset.
    pub domain: Option<String>,
    pub max_age_days: u32,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            enabled: true,
            name: "ls_aid".into(),
            domain: None,
            max_age_days: 365,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScorerConfig {
    /// Health and metrics endpoint of a scorer that runs on its own.
    pub listen: SocketAddr,
    /// Write to the store (and then commit the log position) at least this often: an applied
    /// event waits at most this long before the write that makes it visible begins (a flush
    /// that is due while events keep coming waits for nothing else). Longer means fewer, larger
    /// writes (ClickHouse parts, embedded files) and a later visible score. Unset: 25 ms
    /// embedded (a local file write of ~20 ms; background merges keep the files few), 100 ms
    /// distributed (each flush is one ClickHouse INSERT per table); see
    /// [`Config::flush_interval_ms`].
    pub flush_interval_ms: Option<u64>,
    /// … or when this many events are pending (50,000 by default): what bounds a flush while
    /// the scorer catches up on a backlog. Larger flushes write faster per row (ClickHouse: 0.30–0.41
    /// → 0.73–0.74 of a bare `Inserter` at 10,000 → 50,000; `benches/RESULTS.md`) at the cost of
    /// the memory of the pending events and a longer replay after a crash.
    pub flush_max_events: usize,
    /// The scoring model file (TOML); without one, the model that ships with leadstream
    /// (`scoring/models/default.toml`). The file is reloaded when it changes.
    pub model: Option<PathBuf>,
    /// How often the model file is checked for changes.
    pub model_reload_secs: u64,
    /// How many recent pages a profile keeps.
    pub recent_pages: usize,
    /// Where `lead.qualified` records go (distributed: this Kafka topic; embedded: a log under
    /// the data directory).
    pub handoff_topic: String,
    /// Where undecodable log messages go (distributed: this Kafka topic; embedded: a log under
    /// the data directory).
    pub dead_letter_topic: String,
    /// In the all-in-one process (`leadstream serve`), how the scorer's threads share the CPU
    /// with the collector and the query API. A scorer that runs on its own
    /// (`leadstream-scorer`) ignores it: the operator sets that process's priority.
    pub cpu: ScorerCpu,
}

/// How the all-in-one's scorer shares the CPU ([`ScorerConfig::cpu`]). The collector
/// acknowledges an event once it is durable in the log and the scorer reads it from there, so a
/// scorer that yields lags behind the log and catches up after; it loses nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScorerCpu {
    /// Only the CPU the collector and the query API leave (Linux `SCHED_IDLE`): a request
    /// that wakes up takes a core from the scorer at once. The most requests per second under
    /// load; under a load that saturates the CPU for long, the scorer falls furthest behind.
    #[default]
    Idle,
    /// `nice` 10: the collector and the query API come first, but the scorer keeps a share
    /// of a saturated CPU (about a tenth against each busy collector thread), so it falls
    /// behind less and the collector answers fewer requests.
    Lower,
    /// The same priority as the collector: the scorer falls least behind under load, and the
    /// collector answers the fewest requests per second.
    Normal,
}

impl Default for ScorerConfig {
    fn default() -> Self {
        ScorerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8082)),
            flush_interval_ms: None,
            flush_max_events: 50_000,
            model: None,
            model_reload_secs: 5,
            recent_pages: 10,
            handoff_topic: "leadstream.handoffs".into(),
            dead_letter_topic: "leadstream.dead-letters".into(),
            cpu: ScorerCpu::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    pub listen: SocketAddr,
    /// How large a segment may be once its saved segments are inlined: conditions (nodes of the
    /// tree) and distinct traits tested. Larger ones are refused with a 400 naming the limit.
    pub segment_max_nodes: usize,
    pub segment_max_traits: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            segment_max_nodes: crate::segment::SegmentLimits::default().max_nodes,
            segment_max_traits: crate::segment::SegmentLimits::default().max_traits,
        }
    }
}

impl QueryConfig {
    pub fn segment_limits(&self) -> crate::segment::SegmentLimits {
        crate::segment::SegmentLimits {
            max_nodes: self.segment_max_nodes,
            max_traits: self.segment_max_traits,
        }
    }
}

/// A workspace declared in the config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    pub name: String,
    /// Keys the collector accepts for this workspace (server side: any event).
    #[serde(default)]
    pub write_keys: Vec<String>,
    /// Keys for web pages (the tracker, pixels), which anyone can read: the collector refuses
    /// CRM events (`Deal Won`, `Lead Recycled`) sent with them.
    #[serde(default)]
    pub public_write_keys: Vec<String>,
    /// Bearer tokens the query API accepts for this workspace (plain text here; kept hashed in memory).
    #[serde(default)]
    pub api_tokens: Vec<String>,
    /// SHA-256 (hex) of tokens, for configs that should not hold tokens in the clear.
    #[serde(default)]
    pub api_token_sha256: Vec<String>,
    /// Read-only tokens (they may query but not change segments, lists, campaigns, …).
    #[serde(default)]
    pub read_tokens: Vec<String>,
    #[serde(default)]
    pub read_token_sha256: Vec<String>,
    /// The workspace's website (`https://acme.example`): minted email links may point to its
    /// host and that host's subdomains.
    #[serde(default)]
    pub site: Option<String>,
    /// Further hosts minted email links may point to (`*.example.com` also takes subdomains).
    #[serde(default)]
    pub link_domains: Vec<String>,
    /// This workspace's secret for the generic email webhook (instead of
    /// `ingest.email.webhook_secret`).
    #[serde(default)]
    pub email_webhook_secret: Option<String>,
    /// This workspace's secret for the generic SMS webhook (instead of `ingest.sms.generic_secret`).
    #[serde(default)]
    pub sms_webhook_secret: Option<String>,
}

impl IngestConfig {
    /// Checks the `[ingest]` section, naming the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_event_bytes == 0 {
            return Err(invalid("ingest.max_event_bytes", "must be above 0"));
        }
        if self.max_batch_bytes < self.max_event_bytes {
            return Err(invalid(
                "ingest.max_batch_bytes",
                "must be at least ingest.max_event_bytes",
            ));
        }
        if self.instances == 0 {
            return Err(invalid(
                "ingest.instances",
                "must be at least 1 (the number of collector instances sharing the traffic)",
            ));
        }
        if self.rate_limit_per_second > 0 && self.rate_limit_burst == 0 {
            return Err(invalid(
                "ingest.rate_limit_burst",
                "must be above 0 when a rate limit is set",
            ));
        }
        let cookie = &self.cookie;
        if cookie.enabled
            && (cookie.name.is_empty()
                || !cookie
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(invalid(
                "ingest.cookie.name",
                "must be letters, digits, '_' and '-'",
            ));
        }
        if cookie
            .domain
            .as_deref()
            .is_some_and(|d| d.is_empty() || d.contains([';', ' ', ',']))
        {
            return Err(invalid("ingest.cookie.domain", "must be a domain name"));
        }
        for (i, key) in self.email.signing_keys.iter().enumerate() {
            if key.id.is_empty()
                || key.id.len() > 32
                || !key
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    &format!("ingest.email.signing_keys[{i}].id"),
                    "must be 1-32 of a-z, 0-9, '-' and '_'",
                ));
            }
            if key.secret.len() < 32 {
                return Err(invalid(
                    &format!("ingest.email.signing_keys[{i}].secret"),
                    "must be at least 32 characters",
                ));
            }
        }
        let mut form_ids = std::collections::HashSet::new();
        for (i, form) in self.forms.iter().enumerate() {
            if form.id.is_empty()
                || !form
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    &format!("ingest.forms[{i}].id"),
                    "must be letters, digits, '-' and '_'",
                ));
            }
            if !form_ids.insert(form.id.clone()) {
                return Err(invalid(
                    &format!("ingest.forms[{i}].id"),
                    format!("`{}` is declared twice", form.id),
                ));
            }
            if let Some(url) = &form.thank_you_url
                && !(url.starts_with("http://")
                    || url.starts_with("https://")
                    || url.starts_with('/'))
            {
                return Err(invalid(
                    &format!("ingest.forms[{i}].thank_you_url"),
                    "must be an http(s) URL or a path",
                ));
            }
        }
        let currencies = std::iter::once((
            "ingest.default_currency".to_string(),
            &self.default_currency,
        ))
        .chain(
            self.currency_by_workspace
                .iter()
                .map(|(w, c)| (format!("ingest.currency_by_workspace.{w}"), c)),
        );
        for (key, code) in currencies {
            if leadstream_schemas::kinds::currency_code(code).is_none() {
                return Err(invalid(
                    &key,
                    "must be an ISO 4217 code of three letters, such as `EUR`",
                ));
            }
        }
        for (workspace, path) in &self.tracking_plans {
            let key = format!("ingest.tracking_plans.{workspace}");
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid(&key, format!("{}: {e}", path.display())))?;
            leadstream_schemas::plan::Plan::parse(&text)
                .map_err(|e| invalid(&key, format!("{}: {e}", path.display())))?;
        }
        if self.failed_events_retention_days == 0 {
            return Err(invalid(
                "ingest.failed_events_retention_days",
                "must be above 0",
            ));
        }
        if self.client_timeout_secs == 0 {
            return Err(invalid("ingest.client_timeout_secs", "must be above 0"));
        }
        if self.email.link_ttl_days == 0 {
            return Err(invalid("ingest.email.link_ttl_days", "must be above 0"));
        }
        for (field, url) in [
            ("ingest.public_url", &self.public_url),
            ("ingest.email.public_url", &self.email.public_url),
            ("ingest.sms.public_url", &self.sms.public_url),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(field, "must be an http:// or https:// URL"));
            }
        }
        Ok(())
    }
}

impl ScorerConfig {
    /// Checks the `[scorer]` section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.flush_interval_ms == Some(0) {
            return Err(invalid("scorer.flush_interval_ms", "must be above 0"));
        }
        if self.flush_max_events == 0 {
            return Err(invalid("scorer.flush_max_events", "must be above 0"));
        }
        if self.model_reload_secs == 0 {
            return Err(invalid("scorer.model_reload_secs", "must be at least 1"));
        }
        Ok(())
    }
}

/// Checks the declared workspaces: names, keys (each in one workspace only), tokens and hashes.
fn validate_workspaces(workspaces: &[WorkspaceConfig]) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    for (i, ws) in workspaces.iter().enumerate() {
        if !crate::workspaces::valid_name(&ws.name) {
            return Err(invalid(
                &format!("workspaces[{i}].name"),
                "must be 1-64 characters of a-z, 0-9, '-' and '_'",
            ));
        }
        if !names.insert(ws.name.clone()) {
            return Err(invalid(
                &format!("workspaces[{i}].name"),
                format!("`{}` is declared twice", ws.name),
            ));
        }
        let all_keys = [
            ("write_keys", &ws.write_keys),
            ("public_write_keys", &ws.public_write_keys),
        ];
        for (name, list) in all_keys {
            for k in list {
                if k.len() < 8 {
                    return Err(invalid(
                        &format!("workspaces[{i}].{name}"),
                        "keys must be at least 8 characters",
                    ));
                }
                if !keys.insert(k.clone()) {
                    return Err(invalid(
                        &format!("workspaces[{i}].{name}"),
                        "a key belongs to one workspace, and is public or not, only",
                    ));
                }
            }
        }
        for (key, tokens) in [
            ("api_tokens", &ws.api_tokens),
            ("read_tokens", &ws.read_tokens),
        ] {
            if tokens.iter().any(|t| t.len() < 16) {
                return Err(invalid(
                    &format!("workspaces[{i}].{key}"),
                    "tokens must be at least 16 characters",
                ));
            }
        }
        for (key, hashes) in [
            ("api_token_sha256", &ws.api_token_sha256),
            ("read_token_sha256", &ws.read_token_sha256),
        ] {
            if hashes
                .iter()
                .any(|h| h.len() != 64 || hex::decode(h).is_err())
            {
                return Err(invalid(
                    &format!("workspaces[{i}].{key}"),
                    "must be 64 hex digits",
                ));
            }
        }
    }
    Ok(())
}

/// An invalid configuration, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("config key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

/// `scheme://host:port` of `url`, without credentials, path or query: what messages and
/// `config check` show of a URL that may carry a secret (the text itself when it does not parse).
pub fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_string())
}

/// A secret given either as a value (`key`) or as a file (`key_file`, a mounted secret: its
/// contents without the trailing newline), read once at start. Both at once is refused.
pub(crate) fn read_secret(
    key: &str,
    value: &mut Option<String>,
    file: &Option<PathBuf>,
) -> Result<(), ConfigError> {
    let Some(path) = file else { return Ok(()) };
    if value.is_some() {
        return Err(invalid(
            &format!("{key}_file"),
            format!("{key} is set too: give the secret one way"),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(&format!("{key}_file"), format!("{}: {e}", path.display())))?;
    *value = Some(text.trim_end_matches(['\r', '\n']).to_string());
    Ok(())
}

pub(crate) fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

impl Config {
    /// Loads defaults < `file` (when it exists, or must exist when `file_required`) <
    /// `LEADSTREAM__SECTION__KEY` environment variables, then validates.
    pub fn load(file: &Path, file_required: bool) -> Result<Config, ConfigError> {
        let config = Config::load_unvalidated(file, file_required)?;
        config.validate()?;
        Ok(config)
    }

    /// Defaults < file < environment, not yet validated (flags may still change it).
    pub fn load_unvalidated(file: &Path, file_required: bool) -> Result<Config, ConfigError> {
        if file_required && !file.exists() {
            return Err(invalid(
                "--config",
                format!("file {} does not exist", file.display()),
            ));
        }
        let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("LEADSTREAM__").split("__").lowercase(true))
            .extract()
            .map_err(Box::new)?;
        config.kafka.read_secrets()?;
        config.clickhouse.read_secrets()?;
        read_secret(
            "security.metrics_token",
            &mut config.security.metrics_token,
            &config.security.metrics_token_file,
        )?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(true)
    }

    /// `scorer.flush_interval_ms`, or its default for the mode: 25 ms embedded, 100 ms
    /// distributed (`benches/RESULTS.md`, "Event to visible score").
    pub fn flush_interval_ms(&self) -> u64 {
        self.scorer.flush_interval_ms.unwrap_or(match self.mode {
            Mode::Embedded => 25,
            Mode::Distributed => 100,
        })
    }

    /// Like [`Config::validate`], but without requiring declared workspaces in distributed mode
    /// (for the command that makes them).
    pub fn validate_with(&self, require_workspaces: bool) -> Result<(), ConfigError> {
        self.ingest.validate()?;
        self.crm.validate()?;
        self.scorer.validate()?;
        validate_workspaces(&self.workspaces)?;
        if self.mode == Mode::Distributed {
            self.kafka.validate()?;
            self.clickhouse.validate()?;
            if require_workspaces && self.workspaces.is_empty() {
                return Err(invalid(
                    "workspaces",
                    "distributed mode needs its workspaces declared in the config, so that every instance \
                     shares them (`leadstream workspace create NAME` prints a block to paste)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        let c = Config::default();
        c.validate().expect("valid");
        assert_eq!(c.mode, Mode::Embedded);
        assert_eq!(c.ingest.listen.port(), 8080);
        assert_eq!(c.query.listen.port(), 8081);
    }

    #[test]
    fn the_flush_interval_defaults_by_mode_and_a_set_one_wins() {
        let mut c = Config::default();
        assert_eq!(c.flush_interval_ms(), 25);
        c.mode = Mode::Distributed;
        assert_eq!(c.flush_interval_ms(), 100);
        c.scorer.flush_interval_ms = Some(250);
        assert_eq!(c.flush_interval_ms(), 250);
        c.scorer.flush_interval_ms = Some(0);
        let err = c.scorer.validate().expect_err("zero");
        assert!(
            err.to_string().contains("scorer.flush_interval_ms"),
            "{err}"
        );
    }

    #[test]
    fn distributed_requires_declared_workspaces() {
        let c = Config {
            mode: Mode::Distributed,
            ..Config::default()
        };
        let err = c.validate().expect_err("no workspaces");
        assert!(err.to_string().contains("`workspaces`"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let mut c = Config::default();
        c.ingest.max_batch_bytes = 10;
        assert!(
            c.validate()
                .expect_err("too small")
                .to_string()
                .contains("ingest.max_batch_bytes")
        );
        let mut c = Config::default();
        c.workspaces.push(WorkspaceConfig {
            name: "Bad Name".into(),
            write_keys: vec![],
            public_write_keys: vec![],
            api_tokens: vec![],
            api_token_sha256: vec![],
            read_tokens: vec![],
            read_token_sha256: vec![],
            ..Default::default()
        });
        assert!(
            c.validate()
                .expect_err("bad name")
                .to_string()
                .contains("workspaces[0].name")
        );
    }

    #[test]
    fn shipped_config_files_are_valid() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        // The deploy template has no workspace (the first start appends one): valid but for
        // that, and refused until then with a message that says how to add one.
        let file = root.join("deploy/leadstream.distributed.toml");
        let c = Config::load_unvalidated(&file, true).expect("deploy config");
        c.validate_with(false)
            .expect("valid but for its workspaces");
        assert_eq!(c.mode, Mode::Distributed);
        let refused = Config::load(&file, true).expect_err("no workspace yet");
        assert!(
            refused.to_string().contains("workspace create"),
            "{refused}"
        );
        let c =
            Config::load(&root.join("examples/quickstart.toml"), true).expect("quickstart config");
        assert_eq!(
            c.workspaces[0].write_keys,
            vec!["wk_quickstart_demo".to_string()]
        );
    }

    #[test]
    fn file_and_unknown_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("leadstream.toml");
        std::fs::write(
            &path,
            "mode = \"embedded\"\n[ingest]\nlisten = \"127.0.0.1:9999\"\n",
        )
        .expect("write");
        let c = Config::load(&path, true).expect("load");
        assert_eq!(c.ingest.listen.port(), 9999);
        std::fs::write(&path, "[ingest]\nlistne = \"127.0.0.1:9999\"\n").expect("write");
        let err = Config::load(&path, true).expect_err("unknown key");
        assert!(err.to_string().contains("listne"), "{err}");
        assert!(Config::load(&dir.path().join("missing.toml"), true).is_err());
    }

    #[test]
    fn the_scorers_cpu_share_defaults_to_idle_and_a_wrong_one_is_named() {
        assert_eq!(Config::default().scorer.cpu, ScorerCpu::Idle);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("leadstream.toml");
        for (text, cpu) in [
            ("idle", ScorerCpu::Idle),
            ("lower", ScorerCpu::Lower),
            ("normal", ScorerCpu::Normal),
        ] {
            std::fs::write(&path, format!("[scorer]\ncpu = \"{text}\"\n")).expect("write");
            assert_eq!(Config::load(&path, true).expect("load").scorer.cpu, cpu);
        }
        std::fs::write(&path, "[scorer]\ncpu = \"low\"\n").expect("write");
        let err = format!("{:#}", Config::load(&path, true).expect_err("not a share"));
        assert!(err.contains("cpu") && err.contains("low"), "{err}");
    }
}
