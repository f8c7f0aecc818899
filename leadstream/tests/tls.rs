//! Hosted services: the whole distributed pipeline over TLS, with certificates made here. The
//! collector and the scorer reach a real broker (tansu with `--authentication`, SCRAM-SHA-512)
//! through a TLS listener in front of it (tansu 0.6 cannot terminate TLS itself, as a cloud
//! cluster's load balancer would), and the scorer and the query API reach a real ClickHouse
//! (Debian's 18.16) that answers HTTPS only and requires a client certificate. The secrets come
//! from files named in the config file. Then the refusals: a client that does not trust the CA,
//! one without a client certificate, a wrong SASL password, a plaintext client.

mod common;

use std::sync::Arc;
use std::time::Duration;

use leadstream_platform::config::{Config, KafkaRole, SecurityProtocol};
use leadstream_platform::store::StoreError;
use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::testing::{BrokerOptions, OwnBroker, OwnClickhouse};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A CA, a server certificate for `localhost` and `127.0.0.1`, a client certificate, all PEM.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    /// A second CA nobody's certificate is signed by.
    stranger_ca: String,
}

fn make_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, name.to_string());
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(names: &[&str], issuer: &Issuer<'static, KeyPair>) -> (String, String) {
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("params");
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("signed");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn new() -> Pki {
        let (ca, issuer) = make_ca("leadstream test CA");
        let (server_cert, server_key) = leaf(&["localhost", "127.0.0.1"], &issuer);
        let (client_cert, client_key) = leaf(&["leadstream-scorer"], &issuer);
        let (stranger_ca, _) = make_ca("someone else's CA");
        Pki {
            ca,
            server_cert,
            server_key,
            client_cert,
            client_key,
            stranger_ca,
        }
    }

    fn broker_tls(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        let chain = vec![
            rustls::pki_types::CertificateDer::from_pem_slice(self.server_cert.as_bytes())
                .expect("cert"),
        ];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(self.server_key.as_bytes())
            .expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("server config"),
        )
    }
}

const SASL_USER: &str = "leadstream";
const SASL_PASSWORD: &str = "kafka-secret-7";
const CH_PASSWORD: &str = "clickhouse-secret-9";

/// The config file a user would write for hosted services, secrets in files beside it.
fn config_file(dir: &std::path::Path, base: &Config, broker: &str, clickhouse: &str) -> String {
    let path = |name: &str| dir.join(name).display().to_string();
    format!(
        r#"
mode = "distributed"
data_dir = "{data}"

[kafka]
brokers = "{broker}"
events_topic = "{topic}"
consumer_group = "{group}"
partitions = 3
security_protocol = "sasl_ssl"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "{SASL_USER}"
sasl_password_file = "{kafka_secret}"
ssl_ca_file = "{ca}"

[kafka.properties]
"socket.keepalive.enable" = "true"
"client.id" = "leadstream-tls-test"

[clickhouse]
url = "{clickhouse}"
database = "{database}"
user = "leadstream"
password_file = "{ch_secret}"
ca_file = "{ca}"
client_cert_file = "{client_cert}"
client_key_file = "{client_key}"

[ingest]
failed_events_topic = "{failed}"

[scorer]
flush_interval_ms = 200
"#,
        data = base.data_dir.display(),
        topic = base.kafka.events_topic,
        group = base.kafka.consumer_group,
        kafka_secret = path("kafka-password"),
        ca = path("ca.pem"),
        database = base.clickhouse.database,
        ch_secret = path("clickhouse-password"),
        client_cert = path("client.pem"),
        client_key = path("client.key"),
        failed = base.ingest.failed_events_topic,
    )
}

#[tokio::test]
async fn the_pipeline_runs_on_tls_and_sasl_and_refuses_what_it_should() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("dir");
    let write =
        |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("write");
    write("ca.pem", &pki.ca);
    write("stranger-ca.pem", &pki.stranger_ca);
    write("client.pem", &pki.client_cert);
    write("client.key", &pki.client_key);
    // As a mounted secret usually is: with a trailing newline.
    write("kafka-password", &format!("{SASL_PASSWORD}\n"));
    write("clickhouse-password", &format!("{CH_PASSWORD}\n"));

    let clickhouse = OwnClickhouse::start_https(
        &pki.server_cert,
        &pki.server_key,
        Some(&pki.ca),
        CH_PASSWORD,
    )
    .await;
    let broker_dir = tempfile::tempdir().expect("broker dir");
    let broker = OwnBroker::start_with(BrokerOptions {
        tls: Some(pki.broker_tls()),
        users: vec![(SASL_USER.into(), SASL_PASSWORD.into(), "scram512".into())],
        sqlite_dir: Some(broker_dir.path().to_path_buf()),
    })
    .await;

    let base = common::distributed_config();
    let file = dir.path().join("leadstream.toml");
    let mut text = config_file(dir.path(), &base, &broker.addr.to_string(), &clickhouse.url);
    // The workspaces of the other tests, as the config block `workspace create` prints.
    for ws in &base.workspaces {
        text.push_str(&format!(
            "\n[[workspaces]]\n{}",
            toml::to_string(ws).expect("workspace toml")
        ));
    }
    std::fs::write(&file, text).expect("config file");
    let config = Config::load(&file, true).expect("the config loads and validates");
    assert_eq!(config.kafka.sasl_password.as_deref(), Some(SASL_PASSWORD));
    assert_eq!(config.clickhouse.password, CH_PASSWORD);

    // Everything over TLS: a batch in, the profile back out of ClickHouse.
    let running = common::start(config.clone()).await;
    let (status, resp) = running.post_batch(&common::slice_batch()).await;
    assert_eq!(status, 200, "accepted over a TLS broker: {resp}");
    assert_eq!(resp["accepted"], 5);
    let profile = running
        .wait_for_profile("ada", |p| p["event_count"] == 4)
        .await;
    common::assert_slice_profile(&profile);
    running.stop().await;

    // ClickHouse: a client that trusts only the system's CAs, or another CA, is refused by its
    // own TLS check; one without a client certificate, by the server.
    let refused = |result: Result<ClickhouseStore, StoreError>| match result {
        Ok(_) => panic!("connected although it should not have"),
        Err(e) => e.to_string(),
    };
    let mut no_ca = config.clickhouse.clone();
    no_ca.ca_file = None;
    let e = refused(ClickhouseStore::connect(&no_ca).await);
    assert!(
        e.contains("certificate") || e.contains("UnknownIssuer"),
        "system roots do not trust the test CA: {e}"
    );
    let mut stranger = config.clickhouse.clone();
    stranger.ca_file = Some(dir.path().join("stranger-ca.pem"));
    let e = refused(ClickhouseStore::connect(&stranger).await);
    assert!(
        e.contains("UnknownIssuer") || e.contains("certificate"),
        "{e}"
    );
    let mut no_client_cert = config.clickhouse.clone();
    no_client_cert.client_cert_file = None;
    no_client_cert.client_key_file = None;
    refused(ClickhouseStore::connect(&no_client_cert).await);
    let mut wrong_password = config.clickhouse.clone();
    wrong_password.password = "guess".into();
    let e = refused(ClickhouseStore::connect(&wrong_password).await);
    assert!(e.contains("Code: 193") || e.contains("password"), "{e}");

    // Kafka: a wrong SASL password, or a plaintext client on the TLS listener, gets nothing
    // written (the send fails within its message timeout).
    let send = |kafka: leadstream_platform::config::KafkaConfig| async move {
        let mut c = kafka.client_config(KafkaRole::Producer);
        c.set("message.timeout.ms", "4000");
        let producer: FutureProducer = c.create().expect("producer");
        producer
            .send(
                FutureRecord::to(&kafka.events_topic).key("k").payload("v"),
                Duration::from_secs(5),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    };
    send(config.kafka.clone())
        .await
        .expect("the configured client writes");
    let mut wrong = config.kafka.clone();
    wrong.sasl_password = Some("guess".into());
    assert!(
        send(wrong).await.is_err(),
        "a wrong password writes nothing"
    );
    let mut plaintext = config.kafka.clone();
    plaintext.security_protocol = SecurityProtocol::SaslPlaintext;
    assert!(
        send(plaintext).await.is_err(),
        "a plaintext client writes nothing"
    );

    broker.stop().await;
}
