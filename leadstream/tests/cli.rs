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
