//! What-if re-scoring end to end, in both modes: the live model over the stored history gives back
//! the live scores and hand-offs; a lowered threshold reports the leads it would have handed over
//! and when; nothing live changes. Bad requests are field-named errors.

mod common;

use serde_json::{Value, json};

const DEFAULT_MODEL: &str = include_str!("../../scoring/models/default.toml");

fn history() -> Vec<Value> {
    let track = |who: &str, key: &str, event: &str, props: Value, id: &str| json!({"type": "track", key: who, "event": event, "properties": props, "messageId": id});
    let mut first = vec![
        // lead-1 qualifies live: 10 + 15 + 10 + 3 × 8 = 59, grade C.
        json!({"type": "identify", "userId": "lead-1", "traits": {"title": "VP Sales", "company_size": 200}, "messageId": "i1"}),
        track(
            "lead-1",
            "userId",
            "Webinar Registered",
            json!({"webinar_id": "w1"}),
            "w1r",
        ),
        track(
            "lead-1",
            "userId",
            "Webinar Attended",
            json!({"webinar_id": "w1"}),
            "w1a",
        ),
        track(
            "lead-1",
            "userId",
            "Form Submitted",
            json!({"form_id": "contact"}),
            "f1",
        ),
        // lead-2 stays below 50 live.
        json!({"type": "identify", "userId": "lead-2", "traits": {"title": "VP Sales", "company_size": 200}, "messageId": "i2"}),
        track(
            "lead-2",
            "userId",
            "Webinar Registered",
            json!({"webinar_id": "w1"}),
            "w2r",
        ),
        track(
            "lead-2",
            "userId",
            "Form Submitted",
            json!({"form_id": "contact"}),
            "f2",
        ),
        track(
            "lead-2",
            "userId",
            "File Downloaded",
            json!({"file_name": "a.pdf"}),
            "d2a",
        ),
    ];
    for (i, f) in ["a.pdf", "b.pdf", "c.pdf"].iter().enumerate() {
        first.push(track(
            "lead-1",
            "userId",
            "File Downloaded",
            json!({"file_name": f}),
            &format!("d1{i}"),
        ));
        // An anonymous visitor reads the same papers before saying who they are.
        first.push(track(
            "dev-3",
            "anonymousId",
            "File Downloaded",
            json!({"file_name": f}),
            &format!("d3{i}"),
        ));
    }
    let second = vec![
        json!({"type": "identify", "userId": "lead-3", "anonymousId": "dev-3", "traits": {"title": "Engineer"}, "messageId": "i3"}),
        track(
            "lead-3",
            "userId",
            "Webinar Registered",
            json!({"webinar_id": "w2"}),
            "w3r",
        ),
    ];
    vec![json!({"batch": first}), json!({"batch": second})]
}

async fn what_if(run: &common::Running, body: &Value) -> (u16, Value) {
    run.post_query("/v1/models/what-if", body).await
}

fn lead<'a>(report: &'a Value, list: &str, id: &str) -> Option<&'a Value> {
    report[list]
        .as_array()
        .expect("list")
        .iter()
        .find(|l| l["profile_id"] == id)
}

/// The live model (`GET /v1/models/live`) and checking a changed one (`POST /v1/models/check`).
async fn models(run: &common::Running, file: Option<&std::path::Path>) {
    let (status, live) = run.get("/v1/models/live").await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["text"], DEFAULT_MODEL);
    assert_eq!(live["score_name"], "engagement");
    assert_eq!(live["threshold"], 50.0);
    assert_eq!(live["scores"], json!(["engagement", "buying_intent"]));
    match file {
        None => assert_eq!(live["source"], "default", "{live}"),
        Some(path) => {
            assert_eq!(live["source"], "file", "{live}");
            assert_eq!(live["path"], path.display().to_string());
        }
    }
    let (status, ok) = run
        .post_query("/v1/models/check", &json!({"model": DEFAULT_MODEL}))
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["digest"], live["digest"]);
    let broken = DEFAULT_MODEL.replace("threshold = 50", "threshold = \"high\"");
    let line = DEFAULT_MODEL
        .lines()
        .position(|l| l == "threshold = 50")
        .expect("the line")
        + 1;
    let (status, err) = run
        .post_query("/v1/models/check", &json!({"model": broken}))
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        err["error"]["field"],
        format!("model (line {line})"),
        "{err}"
    );
}

async fn check(run: &common::Running) {
    for batch in history() {
        let (status, body) = run.post_batch(&batch).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    run.wait_for_profile("lead-1", |p| p["handoffs"] == 1).await;
    run.wait_for_profile("lead-2", |p| p["event_count"] == 4)
        .await;
    let lead3 = run
        .wait_for_profile("lead-3", |p| p["event_count"] == 5)
        .await;
    assert_eq!(lead3["merged_ids"], json!(["dev-3"]), "{lead3}");
    let (_, before) = run.get("/v1/profiles/lead-2").await;

    // The live model over the stored history: the live outcome, score for score.
    let (status, same) = what_if(run, &json!({"model": DEFAULT_MODEL})).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["events"], 16, "{same}");
    assert_eq!(same["people"], 3, "dev-3 counts as lead-3: {same}");
    assert_eq!(same["qualified"]["what_if"], 1, "{same}");
    assert_eq!(same["qualified"]["live"], 1, "{same}");
    assert_eq!(same["qualified"]["both"], 1, "{same}");
    assert_eq!(same["scores"]["raised"], 0, "{same}");
    assert_eq!(same["scores"]["lowered"], 0, "{same}");
    assert_eq!(same["biggest_changes"], json!([]), "{same}");
    let l1 = lead(&same, "leads", "lead-1").expect("lead-1");
    assert_eq!(
        (l1["crossings"].as_u64(), l1["live_handoffs"].as_u64()),
        (Some(1), Some(1)),
        "{same}"
    );

    // A lower threshold: lead-2 would have been handed over too, today.
    let lowered = DEFAULT_MODEL.replace("threshold = 50", "threshold = 20");
    assert_ne!(lowered, DEFAULT_MODEL);
    let (status, report) = what_if(run, &json!({"model": lowered, "top": 10})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["threshold"], 20.0, "{report}");
    assert!(
        report["qualified"]["what_if"].as_u64() >= Some(2),
        "{report}"
    );
    assert!(report["qualified"]["newly"].as_u64() >= Some(1), "{report}");
    assert_eq!(report["qualified"]["no_longer"], 0, "{report}");
    let l2 = lead(&report, "leads", "lead-2").expect("lead-2 would qualify");
    assert_eq!(l2["live_handoffs"], 0, "{report}");
    assert_eq!(l2["crossings"], 1, "{report}");
    let when = l2["first_qualified_ms"].as_i64().expect("when");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        (chrono::Utc::now().timestamp_millis() - when).abs() < 600_000,
        "{report}"
    );
    assert!(
        report["qualified_by_day"][&today].as_u64() >= Some(2),
        "{report}"
    );
    // Beside it, the live first qualifications of the same people (lead-1, today).
    assert_eq!(report["live_qualified_by_day"][&today], 1, "{report}");
    let l1 = lead(&report, "leads", "lead-1").expect("lead-1");
    assert!(l1["live_first_qualified_ms"].as_i64().is_some(), "{report}");
    // Nothing live changed.
    let (_, after) = run.get("/v1/profiles/lead-2").await;
    assert_eq!(after, before);

    // A window without events reports nothing.
    let (status, empty) = what_if(run, &json!({"model": DEFAULT_MODEL, "to_ms": 1000})).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(
        (empty["events"].as_u64(), empty["people"].as_u64()),
        (Some(0), Some(0))
    );

    // Bad requests name the field (and the model's line).
    let broken = DEFAULT_MODEL.replace("threshold = 50", "threshold = \"high\"");
    for (body, field) in [
        (json!({"model": broken}), "model (line"),
        (json!({"modle": DEFAULT_MODEL}), "modle"),
        (
            json!({"model": DEFAULT_MODEL, "from_ms": 10, "to_ms": 5}),
            "to_ms",
        ),
        (json!({"model": DEFAULT_MODEL, "top": 0}), "top"),
        (json!({"model": 5}), "model"),
    ] {
        let (status, err) = what_if(run, &body).await;
        assert_eq!(status, 400, "{body}: {err}");
        let named = err["error"]["field"].as_str().unwrap_or_default();
        assert!(named.starts_with(field), "{body}: {err}");
    }
}

#[tokio::test]
async fn what_if_rescoring_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The model from a file (the shipped one's text): the live model is that file.
    let file = dir.path().join("model.toml");
    std::fs::write(&file, DEFAULT_MODEL).expect("model file");
    let mut config = common::embedded_config(dir.path());
    config.scorer.model = Some(file.clone());
    let running = common::start(config).await;
    models(&running, Some(&file)).await;
    check(&running).await;
    running.stop().await;
}

#[tokio::test]
async fn what_if_rescoring_on_kafka_and_clickhouse() {
    let config = common::distributed_config();
    let running = common::start(config.clone()).await;
    models(&running, None).await;
    check(&running).await;
    running.stop().await;
    common::drop_database(&config.clickhouse).await;
}
