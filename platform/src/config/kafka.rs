//! The `[kafka]` section: brokers, topics, the consumer group, and how to reach a secured cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid, read_secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// librdkafka `bootstrap.servers`.
    pub brokers: String,
    /// Topic the collector writes events to and the scorer reads.
    pub events_topic: String,
    /// librdkafka `group.id` of the scorers.
    pub consumer_group: String,
    /// Create the topic at start when missing (with `partitions`).
    pub create_topics: bool,
    pub partitions: i32,
    pub replication_factor: i32,
    /// librdkafka `compression.type`.
    pub compression: String,
    /// librdkafka `linger.ms`.
    pub linger_ms: u32,
    /// librdkafka `message.timeout.ms`: how long a send may wait for the broker before it fails.
    pub message_timeout_ms: u32,
    /// librdkafka `queue.buffering.max.messages`.
    pub queue_max_messages: u32,
    /// librdkafka `session.timeout.ms` of the consumer.
    pub session_timeout_ms: u32,
    /// librdkafka `group.instance.id` (static membership): a scorer restarted with the same id
    /// takes its partitions back at once instead of waiting for the session of its dead
    /// predecessor to expire. One distinct id per scorer instance.
    pub group_instance_id: Option<String>,
    /// librdkafka `security.protocol`: `plaintext` (default), `ssl`, `sasl_plaintext` or
    /// `sasl_ssl` (MSK with SCRAM, Confluent Cloud, Aiven, Redpanda Cloud).
    pub security_protocol: SecurityProtocol,
    /// librdkafka `sasl.mechanism`: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    /// The SASL password; better from `sasl_password_file` or `LEADSTREAM__KAFKA__SASL_PASSWORD`.
    pub sasl_password: Option<String>,
    /// A file holding the SASL password (a mounted secret), read at start.
    pub sasl_password_file: Option<PathBuf>,
    /// PEM file of the CA certificates to trust (librdkafka `ssl.ca.location`); unset: the
    /// system's.
    pub ssl_ca_file: Option<PathBuf>,
    /// PEM client certificate and key for mutual TLS (`ssl.certificate.location`,
    /// `ssl.key.location`).
    pub ssl_certificate_file: Option<PathBuf>,
    pub ssl_key_file: Option<PathBuf>,
    /// The client key's password, or `ssl_key_password_file`.
    pub ssl_key_password: Option<String>,
    pub ssl_key_password_file: Option<PathBuf>,
    /// Any other librdkafka property, for the producer and the consumer (`[kafka.properties]`).
    /// librdkafka refuses unknown keys with its own message, checked at start; the properties
    /// leadstream's guarantees rest on (acks, idempotence, offset commits, the group) are
    /// refused here.
    pub properties: BTreeMap<String, String>,
}

/// librdkafka `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn as_librdkafka(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// SASL mechanisms this build of librdkafka has (GSSAPI/Kerberos would need Cyrus SASL).
pub const SASL_MECHANISMS: [&str; 4] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// Properties leadstream sets itself because its guarantees rest on them: an event is
/// acknowledged only once every in-sync replica has it, written once per send, and a scorer
/// commits offsets only after the store has what they cover.
const OWNED_PROPERTIES: [(&str, &str); 12] = [
    ("bootstrap.servers", "set kafka.brokers"),
    ("acks", "every event is acknowledged only after acks=all"),
    (
        "request.required.acks",
        "every event is acknowledged only after acks=all",
    ),
    ("enable.idempotence", "the producer is idempotent"),
    ("group.id", "set kafka.consumer_group"),
    ("group.instance.id", "set kafka.group_instance_id"),
    (
        "enable.auto.commit",
        "offsets are committed after the store write they cover",
    ),
    (
        "enable.auto.offset.store",
        "offsets are stored after the store write they cover",
    ),
    ("security.protocol", "set kafka.security_protocol"),
    (
        "sasl.password",
        "set kafka.sasl_password or kafka.sasl_password_file",
    ),
    (
        "ssl.key.password",
        "set kafka.ssl_key_password or kafka.ssl_key_password_file",
    ),
    ("session.timeout.ms", "set kafka.session_timeout_ms"),
];

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            events_topic: "leadstream.events".into(),
            consumer_group: "leadstream-scorer".into(),
            create_topics: true,
            partitions: 6,
            replication_factor: 1,
            compression: "lz4".into(),
            linger_ms: 5,
            message_timeout_ms: 30_000,
            queue_max_messages: 100_000,
            session_timeout_ms: 10_000,
            group_instance_id: None,
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            sasl_password_file: None,
            ssl_ca_file: None,
            ssl_certificate_file: None,
            ssl_key_file: None,
            ssl_key_password: None,
            ssl_key_password_file: None,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// The one place Kafka settings become librdkafka settings. Producer: `acks=all` and the
    /// idempotent producer; consumer: no auto-commit and no auto offset store (offsets are stored
    /// after the write they cover).
    pub fn client_config(&self, role: KafkaRole) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (key, value) in &self.properties {
            c.set(key, value);
        }
        c.set("bootstrap.servers", &self.brokers);
        c.set("security.protocol", self.security_protocol.as_librdkafka());
        let optional = [
            ("sasl.mechanism", self.sasl_mechanism.as_deref()),
            ("sasl.username", self.sasl_username.as_deref()),
            ("sasl.password", self.sasl_password.as_deref()),
            ("ssl.key.password", self.ssl_key_password.as_deref()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                c.set(key, value);
            }
        }
        let files = [
            ("ssl.ca.location", &self.ssl_ca_file),
            ("ssl.certificate.location", &self.ssl_certificate_file),
            ("ssl.key.location", &self.ssl_key_file),
        ];
        for (key, path) in files {
            if let Some(path) = path {
                c.set(key, path.to_string_lossy());
            }
        }
        match role {
            KafkaRole::Producer => {
                c.set("acks", "all")
                    .set("enable.idempotence", "true")
                    .set("compression.type", &self.compression)
                    .set("linger.ms", self.linger_ms.to_string())
                    .set("message.timeout.ms", self.message_timeout_ms.to_string())
                    .set(
                        "queue.buffering.max.messages",
                        self.queue_max_messages.to_string(),
                    );
            }
            KafkaRole::Consumer => {
                c.set("group.id", &self.consumer_group)
                    .set("enable.auto.commit", "false")
                    .set("enable.auto.offset.store", "false")
                    .set("auto.offset.reset", "earliest")
                    .set("session.timeout.ms", self.session_timeout_ms.to_string());
                // How long a fetch may wait for records when there are none (librdkafka's
                // default is 500 ms). Apache Kafka answers as soon as records arrive, so this
                // only bounds idle fetches; tansu (0.6.0) waits about this long on every fetch,
                // even one that found records, which put ~0.25-0.5 s into each event's way to
                // a visible score. A `[kafka.properties]` value wins.
                if !self.properties.contains_key("fetch.wait.max.ms") {
                    c.set("fetch.wait.max.ms", "100");
                }
                if let Some(id) = &self.group_instance_id {
                    c.set("group.instance.id", id);
                }
            }
            KafkaRole::Admin => {}
        }
        c
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaRole {
    Producer,
    Consumer,
    Admin,
}

impl KafkaConfig {
    /// Checks the `[kafka]` section (distributed mode).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(invalid("kafka.brokers", "is required in distributed mode"));
        }
        if self.events_topic.trim().is_empty() {
            return Err(invalid(
                "kafka.events_topic",
                "is required in distributed mode",
            ));
        }
        if self.partitions < 1 {
            return Err(invalid("kafka.partitions", "must be at least 1"));
        }
        for (key, why) in OWNED_PROPERTIES {
            if self.properties.contains_key(key) {
                return Err(invalid(
                    &format!("kafka.properties.{key}"),
                    format!("is set by leadstream: {why}"),
                ));
            }
        }
        if let Some(mechanism) = &self.sasl_mechanism {
            if !SASL_MECHANISMS.contains(&mechanism.as_str()) {
                return Err(invalid(
                    "kafka.sasl_mechanism",
                    format!("must be one of {}", SASL_MECHANISMS.join(", ")),
                ));
            }
            if !self.security_protocol.sasl() {
                return Err(invalid(
                    "kafka.sasl_mechanism",
                    "needs kafka.security_protocol = \"sasl_ssl\" (or \"sasl_plaintext\")",
                ));
            }
        } else if self.security_protocol.sasl() {
            return Err(invalid(
                "kafka.sasl_mechanism",
                "is required with a sasl_* security_protocol",
            ));
        }
        let plain_or_scram = self
            .sasl_mechanism
            .as_deref()
            .is_some_and(|m| m == "PLAIN" || m.starts_with("SCRAM-"));
        let password = self.sasl_password.is_some() || self.sasl_password_file.is_some();
        if plain_or_scram && (self.sasl_username.is_none() || !password) {
            return Err(invalid(
                "kafka.sasl_username",
                "PLAIN and SCRAM need sasl_username and sasl_password (or sasl_password_file)",
            ));
        }
        for (key, path) in [
            ("kafka.ssl_ca_file", &self.ssl_ca_file),
            ("kafka.ssl_certificate_file", &self.ssl_certificate_file),
            ("kafka.ssl_key_file", &self.ssl_key_file),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(invalid(
                    key,
                    format!("{} is not a readable file", path.display()),
                ));
            }
        }
        if self.ssl_certificate_file.is_some() != self.ssl_key_file.is_some() {
            return Err(invalid(
                "kafka.ssl_certificate_file",
                "a client certificate needs its key (ssl_key_file), and a key its certificate",
            ));
        }
        // librdkafka checks every property (names and values) when a configuration is built,
        // without connecting: its own message for a misspelt key or a bad value.
        for role in [KafkaRole::Producer, KafkaRole::Consumer] {
            self.client_config(role)
                .create_native_config()
                .map_err(|e| invalid("kafka.properties", e.to_string()))?;
        }
        Ok(())
    }

    /// Reads `sasl_password_file` and `ssl_key_password_file` into their values.
    pub(super) fn read_secrets(&mut self) -> Result<(), ConfigError> {
        read_secret(
            "kafka.sasl_password",
            &mut self.sasl_password,
            &self.sasl_password_file,
        )?;
        read_secret(
            "kafka.ssl_key_password",
            &mut self.ssl_key_password,
            &self.ssl_key_password_file,
        )
    }

    /// The brokers and how they are reached, with no secret in it (for `config check`, logs).
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} over {}",
            self.brokers,
            self.security_protocol.as_librdkafka()
        );
        if let (Some(mechanism), Some(user)) = (&self.sasl_mechanism, &self.sasl_username) {
            s.push_str(&format!(" as {user} ({mechanism})"));
        }
        s
    }
}
