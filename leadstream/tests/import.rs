//! `leadstream import prospects`: a CSV of people the product has never seen becomes profiles,
//! through a running collector (embedded default), with the refused and id-less rows reported by
//! line; run again, nobody is counted twice. (Multi-threaded: the command runs blocking while
//! the server answers it from this process's runtime.)

mod common;

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_of_prospects_becomes_profiles_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;
    let csv = dir.path().join("trade-show.csv");
    std::fs::write(
        &csv,
        "email,first_name,company,title\n\
         grace@example.com,Grace,Hopper Labs,CTO\n\
         alan@example.com,Alan,Turing Ltd,\n\
         ,Nobody,No Id Inc,\n\
         \"bad\tid@example.com\",Tab,Control Chars,\n\
         linus@example.com,Linus,,Maintainer\n",
    )
    .expect("csv");
    let import = || {
        let out = Command::new(env!("CARGO_BIN_EXE_leadstream"))
            .args(["import", "prospects"])
            .arg(&csv)
            .args([
                "--collector",
                &format!("http://{}", running.collector),
                "--write-key",
                common::WRITE_KEY,
                "--source",
                "trade-show-berlin",
                "--json",
            ])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("a JSON report")
    };
    let report = import();
    assert_eq!(report["rows"], 5, "{report}");
    assert_eq!(report["accepted"], 3, "{report}");
    assert_eq!(
        report["skipped"],
        serde_json::json!([4]),
        "the id-less row, by line"
    );
    let refused = report["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 1, "{report}");
    assert_eq!(
        refused[0][0], 5,
        "the row with a control character, by line"
    );
    assert!(
        refused[0][1]
            .as_str()
            .expect("why")
            .contains("control characters"),
        "{report}"
    );

    let grace = running
        .wait_for_profile("grace@example.com", |p| p["event_count"] == 1)
        .await;
    let traits = &grace["traits"];
    assert_eq!(traits["company"], "Hopper Labs", "{grace}");
    assert_eq!(traits["first_name"], "Grace");
    assert_eq!(traits["email"], "grace@example.com");
    assert_eq!(traits["lead_source"], "trade-show-berlin");
    let alan = running
        .wait_for_profile("alan@example.com", |p| p["event_count"] == 1)
        .await;
    assert!(
        alan["traits"].get("title").is_none(),
        "empty cells are no traits"
    );

    // Again (an interrupted import re-run): the same rows, nobody counted twice.
    let again = import();
    assert_eq!(again["accepted"], 3, "{again}");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for id in ["grace@example.com", "alan@example.com", "linus@example.com"] {
        let (status, p) = running.get_profile(id, common::TOKEN).await;
        assert_eq!(status, 200);
        assert_eq!(p["event_count"], 1, "{id} counted once: {p}");
    }
    running.stop().await;
}

/// `leadstream token issue | list | revoke` against the running query API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_leadstream"))
            .arg("token")
            .args(args)
            .args(["--query-api", &format!("http://{}", running.query)])
            .env("LEADSTREAM_API_TOKEN", common::TOKEN)
            .output()
            .expect("runs");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, said) = cli(&["issue", "dashboard", "--scope", "read"]);
    assert!(ok, "{said}");
    let token = said.lines().last().expect("the token").trim().to_string();
    let id = said.split_whitespace().nth(1).expect("the id").to_string();
    let (status, _) = running.get_profile("nobody", &token).await;
    assert_eq!(
        status, 404,
        "the new read token is accepted (nobody is not there)"
    );
    let (ok, listed) = cli(&["list"]);
    assert!(ok, "{listed}");
    assert!(
        listed.contains("dashboard") && listed.contains(&id),
        "{listed}"
    );
    assert!(!listed.contains(&token), "a list never shows a token");
    let (ok, said) = cli(&["revoke", &id]);
    assert!(ok, "{said}");
    let (status, _) = running.get_profile("nobody", &token).await;
    assert_eq!(status, 401, "revoked");
    // The API's refusal, with its message: a bad expiry.
    let (ok, said) = cli(&["issue", "x", "--expires-in-days", "0"]);
    assert!(!ok);
    assert!(said.contains("expires_in_days"), "{said}");
    running.stop().await;
}
