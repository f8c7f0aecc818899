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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
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

impl OwnBroker {
    /// Starts tansu on a free port behind a link on another, and waits until it answers.
    pub async fn start() -> OwnBroker {
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
                "memory://tansu/",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tansu starts (scripts/services.sh installs it)");
        let target = std::net::SocketAddr::from(([127, 0, 0, 1], broker_port));
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(target).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let link = Link {
            up: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            connections: Default::default(),
        };
        let accept = link.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accept.up.load(std::sync::atomic::Ordering::Acquire) {
                    continue; // dropped: the connection is refused
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
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
