//! The `leadstream` command line: workspace creation in both modes, the schema, and refusing an
//! invalid config with a message that names the key.

use std::process::Command;

fn leadstream() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_leadstream"));
    c.env_remove("LEADSTREAM_CONFIG");
    c
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn workspace_create_embedded_saves_hashed_and_refuses_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = leadstream()
        .args(["workspace", "create", "marketing-eu", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    let token = printed
        .lines()
        .find(|l| l.contains("API token"))
        .and_then(|l| l.split_whitespace().last())
        .expect("token");
    let saved = std::fs::read_to_string(dir.path().join("workspaces.json")).expect("registry");
    assert!(saved.contains("marketing-eu"));
    assert!(!saved.contains(token), "the token must be stored hashed");

    let out = leadstream()
        .args(["workspace", "create", "marketing-eu", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(text(&out).contains("exists already"), "{}", text(&out));
    let out = leadstream()
        .args(["workspace", "create", "Bad Name!", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[test]
fn workspace_create_distributed_prints_a_config_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = leadstream()
        .args([
            "workspace",
            "create",
            "acme",
            "--mode",
            "distributed",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(
        printed.contains("[[workspaces]]") && printed.contains("name = \"acme\""),
        "{printed}"
    );
    assert!(printed.contains("api_token_sha256"), "{printed}");
    assert!(
        !dir.path().join("workspaces.json").exists(),
        "distributed mode keeps workspaces in the config"
    );
}

#[test]
fn schema_is_printed_and_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = leadstream()
        .args(["schema", "--out"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    let batch: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("batch.schema.json")).expect("file"),
    )
    .expect("json");
    assert_eq!(batch["title"], "BatchRequest");
}

#[test]
fn an_invalid_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = leadstream()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("LEADSTREAM__INGEST__MAX_BATCH_BYTES", "10")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("ingest.max_batch_bytes"),
        "{}",
        text(&out)
    );

    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[ingest]\nlisen = \"127.0.0.1:1\"\n").expect("write");
    let out = leadstream()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(text(&out).contains("lisen"), "{}", text(&out));

    let out = leadstream()
        .args(["serve", "--mode", "distributed", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(text(&out).contains("`workspaces`"), "{}", text(&out));
    assert!(
        !dir.path().join("workspaces.json").exists(),
        "nothing is created before the config is valid"
    );
}

#[test]
fn every_binary_says_its_version() {
    let out = leadstream().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(
        text(&out).trim(),
        format!("leadstream {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A distributed config on the broker and ClickHouse the suite uses, as a file.
fn distributed_file(dir: &std::path::Path, database: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("leadstream.toml");
    std::fs::write(
        &path,
        format!(
            r#"mode = "distributed"
data_dir = "{data}"

[kafka]
brokers = "{brokers}"
events_topic = "{topic}"
consumer_group = "{group}"
sasl_password_file = "{secret}"
security_protocol = "plaintext"

[clickhouse]
url = "{clickhouse}"
database = "{database}"
password = ""
{extra}
[[workspaces]]
name = "acme"
write_keys = ["wk_cli_test_key"]
api_tokens = ["tok_cli_test_token"]
"#,
            data = dir.join("data").display(),
            brokers = leadstream_platform::testing::kafka_brokers(),
            topic = leadstream_platform::testing::unique("leadstream_cli"),
            group = leadstream_platform::testing::unique("leadstream_cli_group"),
            secret = dir.join("kafka-secret").display(),
            clickhouse = leadstream_platform::testing::clickhouse_url(),
        ),
    )
    .expect("write config");
    std::fs::write(dir.join("kafka-secret"), "sasl-secret-value\n").expect("secret");
    path
}

#[test]
fn config_check_says_what_it_connects_to_and_print_masks_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = distributed_file(dir.path(), "leadstream_cli_check", "");
    let out = leadstream()
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("valid"), "{said}");
    assert!(said.contains("over plaintext"), "{said}");
    assert!(said.contains("database leadstream_cli_check"), "{said}");
    assert!(said.contains("1 declared workspace(s): acme"), "{said}");

    let out = leadstream()
        .args(["config", "print", "--config"])
        .arg(&file)
        .env("LEADSTREAM__CLICKHOUSE__PASSWORD", "from-the-environment")
        .output()
        .expect("run");
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    for secret in [
        "sasl-secret-value",
        "from-the-environment",
        "wk_cli_test_key",
        "tok_cli_test_token",
    ] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    assert!(printed.contains("********"), "{printed}");
    assert!(
        printed.contains("database = \"leadstream_cli_check\""),
        "{printed}"
    );

    // A librdkafka property librdkafka does not know: its own message, naming the key.
    let bad = distributed_file(
        dir.path(),
        "leadstream_cli_check",
        "\n[kafka.properties]\n\"no.such.property\" = \"1\"\n",
    );
    let out = leadstream()
        .args(["config", "check", "--config"])
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(text(&out).contains("no.such.property"), "{}", text(&out));
    // One leadstream's guarantees rest on: refused with the reason.
    let owned = distributed_file(
        dir.path(),
        "leadstream_cli_check",
        "\n[kafka.properties]\n\"enable.idempotence\" = \"false\"\n",
    );
    let out = leadstream()
        .args(["config", "check", "--config"])
        .arg(&owned)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("kafka.properties.enable.idempotence"),
        "{}",
        text(&out)
    );
}

#[test]
fn migrate_then_doctor_against_the_real_services() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = leadstream_platform::testing::unique("leadstream_cli");
    let file = distributed_file(dir.path(), &database, "");
    let out = leadstream()
        .args(["migrate", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("applied migration(s) 1, 2"),
        "{}",
        text(&out)
    );
    let out = leadstream()
        .args(["migrate", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        text(&out).contains("the schema is current"),
        "{}",
        text(&out)
    );

    let out = leadstream()
        .args(["doctor", "--json", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    let checks: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let find = |what: &str| {
        checks
            .iter()
            .find(|c| c["what"] == what)
            .unwrap_or_else(|| panic!("no {what} check in {checks:?}"))
    };
    assert_eq!(find("kafka")["status"], "ok", "{checks:?}");
    assert_eq!(find("clickhouse")["status"], "ok", "{checks:?}");
    assert_eq!(find("migrations")["status"], "ok", "{checks:?}");
    // The topic does not exist before a first start: a warning, not a failure.
    assert_eq!(find("topic")["status"], "warn", "{checks:?}");
    assert!(out.status.success(), "{}", text(&out));

    // Nothing listening: doctor fails and says where.
    let down = distributed_file(dir.path(), &database, "");
    let text_of = std::fs::read_to_string(&down).expect("read").replace(
        &leadstream_platform::testing::clickhouse_url(),
        "http://127.0.0.1:9",
    );
    std::fs::write(&down, text_of).expect("write");
    let out = leadstream()
        .args(["doctor", "--config"])
        .arg(&down)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(text(&out).contains("FAIL  clickhouse"), "{}", text(&out));

    let client = clickhouse::Client::default()
        .with_url(leadstream_platform::testing::clickhouse_url())
        .with_validation(false);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let _ = client
            .query("DROP DATABASE IF EXISTS ?")
            .bind(clickhouse::sql::Identifier(&database))
            .execute()
            .await;
    });
}

#[test]
fn completions_for_bash() {
    let out = leadstream()
        .args(["completions", "bash"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("doctor") && script.contains("migrate"),
        "{script}"
    );
}

/// `leadstream serve` as an operator runs it, with `/metrics` moved to an admin listener:
/// 404 on the public ports, everything on the admin one (the process's own `process_*`,
/// `leadstream_build_info`, request latency by service and route); every answer carries a
/// request id, the caller's when it sent one, and an error body quotes it.
#[tokio::test]
async fn serve_with_an_admin_listener_and_request_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (collector, query, admin) = (
        leadstream_platform::testing::free_port(),
        leadstream_platform::testing::free_port(),
        leadstream_platform::testing::free_port(),
    );
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadstream"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args([
            "--collector-listen",
            &format!("127.0.0.1:{collector}"),
            "--query-listen",
            &format!("127.0.0.1:{query}"),
        ])
        .env_remove("LEADSTREAM_CONFIG")
        .env(
            "LEADSTREAM__SECURITY__METRICS_LISTEN",
            format!("127.0.0.1:{admin}"),
        )
        .env("LEADSTREAM__LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while http
        .get(format!("http://127.0.0.1:{query}/health"))
        .send()
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not come up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Ready once the scorer in the process has its partitions (embedded: at once).
    let ready = http
        .get(format!("http://127.0.0.1:{query}/ready"))
        .send()
        .await
        .expect("answer");
    assert_eq!(ready.status(), 200, "{:?}", ready.text().await);
    for port in [collector, query] {
        let r = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), 404, "metrics are not on the public port {port}");
    }
    // A refused request: its id in the header and in the body; the caller's id is kept.
    let r = http
        .post(format!("http://127.0.0.1:{collector}/v1/batch"))
        .header("x-request-id", "lb-7f3a9c")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answer");
    let refused_status = r.status().as_u16();
    assert!(r.status().is_client_error(), "{refused_status}");
    assert_eq!(r.headers()["x-request-id"], "lb-7f3a9c");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["request_id"], "lb-7f3a9c", "{body}");
    let r = http
        .get(format!("http://127.0.0.1:{query}/v1/profiles/nobody"))
        .send()
        .await
        .expect("answer");
    let id = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(id.len(), 32, "a new id: {id}");

    let metrics = http
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    for want in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        &format!(
            "leadstream_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        &format!(
            "leadstream_http_request_duration_seconds_count{{method=\"POST\",route=\"/v1/batch\",service=\"ingest\",status=\"{refused_status}\"}} 1"
        ),
        "service=\"query\"",
    ] {
        assert!(metrics.contains(want), "{want} missing from:\n{metrics}");
    }

    // Graceful: SIGTERM, exit 0; the logs were JSON lines with flat fields, the refused
    // request's among them.
    let pid = child.id().expect("pid");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .expect("output");
    assert!(out.status.success(), "{:?}", out.status);
    let logs = String::from_utf8_lossy(&out.stderr);
    let refused = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["request_id"] == "lb-7f3a9c")
        .unwrap_or_else(|| panic!("no log line for the refused request in:\n{logs}"));
    assert_eq!(refused["status"], refused_status);
    assert_eq!(refused["route"], "/v1/batch");
}

#[test]
fn workspace_keys_rotate_and_revoke_and_a_workspace_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = leadstream()
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .expect("run");
        (out.status.success(), text(&out))
    };
    let (ok, said) = run(&["workspace", "create", "marketing"]);
    assert!(ok, "{said}");
    let first = said
        .lines()
        .find(|l| l.contains("write key"))
        .and_then(|l| l.split_whitespace().last())
        .expect("key")
        .to_string();
    let (ok, said) = run(&["workspace", "rotate-key", "marketing"]);
    assert!(ok, "{said}");
    let second = said
        .split_whitespace()
        .find(|w| w.starts_with("wk_"))
        .expect("new key")
        .to_string();
    let saved = std::fs::read_to_string(dir.path().join("workspaces.json")).expect("registry");
    assert!(
        saved.contains(&first) && saved.contains(&second),
        "both work until one is revoked"
    );
    let (ok, said) = run(&["workspace", "revoke-key", "marketing", &first]);
    assert!(ok, "{said}");
    let saved = std::fs::read_to_string(dir.path().join("workspaces.json")).expect("registry");
    assert!(!saved.contains(&first) && saved.contains(&second));
    let (ok, said) = run(&["workspace", "revoke-key", "marketing", &second]);
    assert!(!ok && said.contains("last write key"), "{said}");
    let (ok, said) = run(&["workspace", "list"]);
    assert!(ok && said.contains("marketing"), "{said}");
    let (ok, said) = run(&["workspace", "delete", "marketing"]);
    assert!(!ok && said.contains("--yes"), "{said}");
    let (ok, said) = run(&["workspace", "delete", "marketing", "--yes"]);
    assert!(ok, "{said}");
    let (ok, said) = run(&["workspace", "list"]);
    assert!(ok && !said.contains("marketing"), "{said}");
    let (ok, said) = run(&["workspace", "rotate-key", "marketing"]);
    assert!(!ok && said.contains("no workspace"), "{said}");
}

#[test]
fn help_lists_the_values_of_enumerated_flags() {
    let out = leadstream()
        .args(["serve", "--help"])
        .output()
        .expect("run");
    let help = text(&out);
    assert!(
        help.contains("[possible values: embedded, distributed]"),
        "{help}"
    );
    let out = leadstream()
        .args(["token", "issue", "--help"])
        .output()
        .expect("run");
    assert!(
        text(&out).contains("[possible values: read, read-write]"),
        "{}",
        text(&out)
    );
    for command in [
        "config",
        "doctor",
        "migrate",
        "import",
        "token",
        "workspace",
        "completions",
    ] {
        let out = leadstream()
            .args([command, "--help"])
            .output()
            .expect("run");
        assert!(out.status.success(), "{command} --help: {}", text(&out));
    }
}
