//! Helpers for tests against the real servers that `scripts/services.sh` starts. Each test works
//! on its own uniquely named topic, consumer group and database, and drops them after.

use crate::config::{ClickhouseConfig, WorkspaceConfig};

/// The broker tests use: `LEADSTREAM_TEST_KAFKA`, default `127.0.0.1:9092`.
pub fn kafka_brokers() -> String {
    std::env::var("LEADSTREAM_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The ClickHouse HTTP URL tests use: `LEADSTREAM_TEST_CLICKHOUSE`, default `http://127.0.0.1:8123`.
pub fn clickhouse_url() -> String {
    std::env::var("LEADSTREAM_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// A workspace with only write keys (for servers, and public ones for web pages): what the
/// collector's tests need.
pub fn workspace(name: &str, write_keys: &[&str], public_write_keys: &[&str]) -> WorkspaceConfig {
    let owned = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect();
    WorkspaceConfig {
        name: name.into(),
        write_keys: owned(write_keys),
        public_write_keys: owned(public_write_keys),
        api_tokens: vec![],
        api_token_sha256: vec![],
        read_tokens: vec![],
        read_token_sha256: vec![],
        ..Default::default()
    }
}

/// Everything a server sends on `stream` until it closes the connection; panics after 10 s.
pub async fn read_to_close(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut out),
    )
    .await
    .expect("the server closed the connection")
    .expect("read");
    String::from_utf8_lossy(&out).to_string()
}

/// `prefix_<random>`: a name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Drops a test database.
pub async fn drop_database(config: &ClickhouseConfig) {
    let client = clickhouse::Client::default()
        .with_url(&config.url)
        .with_validation(false);
    let _ = client
        .query("DROP DATABASE IF EXISTS ?")
        .bind(clickhouse::sql::Identifier(&config.database))
        .execute()
        .await;
}

/// A broker of a test's own: a tansu process (memory storage) reached through a loopback TCP
/// link the test can cut and restore, to play a network outage against a real broker. The broker
/// advertises the link's address, so every client connection goes through it.
pub struct OwnBroker {
    /// The address clients use (the link).
    pub addr: std::net::SocketAddr,
    link: Link,
    child: tokio::process::Child,
}

#[derive(Clone)]
struct Link {
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

/// A loopback port nothing listens on right now (for a server a test starts).
/// What a profile is, without what depends on when it was written (its version, its update
/// time): what two runs over the same events must agree on.
pub fn profile_essence(p: &leadstream_schemas::Profile) -> serde_json::Value {
    serde_json::json!({
        "event_count": p.event_count,
        "counts": p.counts,
        "scores": p.scores,
        "stage": p.lifecycle_stage,
        "stage_history": p.stage_history,
        "handoffs": p.handoffs,
        "grade": p.grade,
        "traits": p.traits,
        "merged_into": p.merged_into,
        "merged_ids": p.merged_ids,
        "first_seen_ms": p.first_seen_ms,
        "last_seen_ms": p.last_seen_ms,
        "pages": p.pages,
    })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn wait_for_port(port: u16) {
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(target).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn tansu_binary() -> std::path::PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let installed = std::path::Path::new(&home).join(".cargo/bin/tansu");
    if installed.exists() {
        installed
    } else {
        "tansu".into()
    }
}

/// How [`OwnBroker::start_with`] runs its broker.
#[derive(Default)]
pub struct BrokerOptions {
    /// Terminate TLS at the link (tansu 0.6 takes `--cert`/`--key` but does not use them), as a
    /// TLS load balancer in front of a cluster does: clients speak TLS to the link only.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// SCRAM users `(name, password, mechanism)` (mechanism `scram256` or `scram512`): with
    /// any, tansu runs with `--authentication` and clients must authenticate. tansu refuses to
    /// create users once authentication is on, so they are made first on the same SQLite
    /// storage by a broker without it (needs `sqlite_dir`).
    pub users: Vec<(String, String, String)>,
    /// tansu's SQLite engine in this folder instead of the memory engine (which skips records
    /// when a consumer resumes inside a batch: fine for produce-only tests).
    pub sqlite_dir: Option<std::path::PathBuf>,
}

impl OwnBroker {
    /// Starts tansu on a free port behind a link on another, and waits until it answers.
    pub async fn start() -> OwnBroker {
        OwnBroker::start_with(BrokerOptions::default()).await
    }

    /// As [`OwnBroker::start`], with TLS at the link, SASL, or SQLite storage.
    pub async fn start_with(options: BrokerOptions) -> OwnBroker {
        if !options.users.is_empty() {
            let dir = options
                .sqlite_dir
                .as_ref()
                .expect("users need the SQLite engine");
            let port = free_port();
            let mut setup = tokio::process::Command::new(tansu_binary())
                .args([
                    "broker",
                    "--listener-url",
                    &format!("tcp://127.0.0.1:{port}"),
                    "--advertised-listener-url",
                    &format!("tcp://127.0.0.1:{port}"),
                    "--storage-engine",
                    // tansu reads the path as relative to its working directory.
                    "sqlite://tansu.db",
                ])
                .current_dir(dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("tansu starts");
            wait_for_port(port).await;
            for (name, password, mechanism) in &options.users {
                // 4096 iterations: with tansu's default (8192) librdkafka's SCRAM proof is
                // refused as invalid (seen with tansu 0.6 and librdkafka 2.12 and 2.16).
                let status = tokio::process::Command::new(tansu_binary())
                    .args([
                        "user",
                        "create",
                        "--broker",
                        &format!("tcp://127.0.0.1:{port}"),
                        "--mechanism",
                        mechanism,
                        "--iterations",
                        "4096",
                        name,
                        password,
                    ])
                    .stdout(std::process::Stdio::null())
                    .status()
                    .await
                    .expect("tansu user create runs");
                assert!(status.success(), "tansu user create {name}: {status}");
            }
            let _ = setup.kill().await;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind link");
        let addr = listener.local_addr().expect("link addr");
        let broker_port = free_port();
        let child = tokio::process::Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{broker_port}"),
                "--advertised-listener-url",
                &format!("tcp://{addr}"),
                "--storage-engine",
                match &options.sqlite_dir {
                    Some(_) => "sqlite://tansu.db",
                    None => "memory://tansu/",
                },
            ])
            .current_dir(
                options
                    .sqlite_dir
                    .clone()
                    .unwrap_or_else(std::env::temp_dir),
            )
            .args((!options.users.is_empty()).then_some("--authentication"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tansu starts (scripts/services.sh installs it)");
        let target = std::net::SocketAddr::from(([127, 0, 0, 1], broker_port));
        wait_for_port(broker_port).await;
        let link = Link {
            up: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            connections: Default::default(),
        };
        let accept = link.clone();
        let tls = options.tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accept.up.load(std::sync::atomic::Ordering::Acquire) {
                    continue; // dropped: the connection is refused
                }
                let tls = tls.clone();
                let task = tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    match tls {
                        Some(tls) => {
                            // A client that does not speak TLS, or distrusts the certificate,
                            // fails the handshake and is dropped.
                            if let Ok(mut inbound) = tls.accept(inbound).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        }
                        None => {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }
                });
                accept
                    .connections
                    .lock()
                    .expect("lock")
                    .push(task.abort_handle());
            }
        });
        OwnBroker { addr, link, child }
    }

    /// Cuts every connection and refuses new ones, as a network partition would.
    pub fn cut(&self) {
        self.link
            .up
            .store(false, std::sync::atomic::Ordering::Release);
        for c in self.link.connections.lock().expect("lock").drain(..) {
            c.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.link
            .up
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Stops the broker process.
    pub async fn stop(mut self) {
        self.cut();
        let _ = self.child.kill().await;
    }
}

/// A ClickHouse server of a test's own (Debian's `clickhouse-server`, which
/// `scripts/services.sh` installs) answering HTTPS only, on a free loopback port, with the
/// given PEM certificate and key; with `client_ca`, it also requires a client certificate
/// signed by that CA (mutual TLS). One user, `leadstream`, with `password`. Stopped on drop.
pub struct OwnClickhouse {
    /// `https://localhost:<port>`.
    pub url: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl OwnClickhouse {
    pub async fn start_https(
        cert_pem: &str,
        key_pem: &str,
        client_ca_pem: Option<&str>,
        password: &str,
    ) -> OwnClickhouse {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let write = |name: &str, text: &str| std::fs::write(d.join(name), text).expect("write");
        write("server.pem", cert_pem);
        write("server.key", key_pem);
        let verification = match client_ca_pem {
            Some(ca) => {
                write("client-ca.pem", ca);
                format!(
                    "<verificationMode>strict</verificationMode><caConfig>{}</caConfig>",
                    d.join("client-ca.pem").display()
                )
            }
            None => "<verificationMode>none</verificationMode>".to_string(),
        };
        let port = free_port();
        write(
            "config.xml",
            &format!(
                r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <https_port>{port}</https_port>
    <openSSL><server>
        <certificateFile>{d}/server.pem</certificateFile>
        <privateKeyFile>{d}/server.key</privateKeyFile>
        {verification}
        <loadDefaultCAFile>false</loadDefaultCAFile>
        <cacheSessions>true</cacheSessions>
        <disableProtocols>sslv2,sslv3</disableProtocols>
        <preferServerCiphers>true</preferServerCiphers>
    </server></openSSL>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>536870912</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
"#,
                d = d.display()
            ),
        );
        write(
            "users.xml",
            &format!(
                r#"<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users>
        <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
        <leadstream><password>{password}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></leadstream>
    </users>
    <quotas><default></default></quotas>
</yandex>
"#
            ),
        );
        let child = tokio::process::Command::new("clickhouse-server")
            .arg(format!("--config-file={}", d.join("config.xml").display()))
            .current_dir(d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("clickhouse-server starts (scripts/services.sh installs it)");
        let target = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(target).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        OwnClickhouse {
            url: format!("https://localhost:{port}"),
            _child: child,
            _dir: dir,
        }
    }
}

/// The scheduling policy (0 SCHED_OTHER, 5 SCHED_IDLE) and the nice value in a Linux
/// `/proc/…/stat` file (fields 41 and 19), for tests of the threads' CPU share.
pub fn policy_and_nice(stat: &std::path::Path) -> (String, String) {
    let stat = std::fs::read_to_string(stat).expect("stat");
    // The fields after the parenthesised name start at field 3.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("name") + 2..]
        .split(' ')
        .collect();
    (fields[38].to_string(), fields[16].to_string())
}
