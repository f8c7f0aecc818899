//! Segment's and RudderStack's own SDKs, unchanged, pointed at the collector: the Python and
//! Node.js server SDKs with only their host set, Segment's browser SDK (analytics.js 2.0) on a
//! page (jsdom) with only its `cdnURL` set, and RudderStack's browser SDK with the collector as
//! data plane and config URL (its calls cross origins, so CORS preflights are part of it). Every call they make must be accepted, and the log
//! read back must hold each event as the SDK meant it, keyed by person.
//!
//! The SDKs are pinned in `tests/sdks/` and installed by `scripts/sdks.sh`, which the README's
//! test command runs first; this test says so when they are missing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use leadstream_ingest::AppState;
use leadstream_platform::config::IngestConfig;
use leadstream_platform::log::LogConsumer;
use leadstream_platform::log::embedded::EmbeddedLog;
use leadstream_platform::testing::workspace;
use leadstream_platform::workspaces::Registry;
use leadstream_schemas::{Event, EventType, LogRecord};
use serde_json::{Value, json};

const KEY: &str = "wk_test_sdks_server";
const PUBLIC_KEY: &str = "wk_test_sdks_public";

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdks")
}

/// Runs one SDK script against the collector; panics with its output when it fails.
async fn run(program: &Path, script: &str, base: &str, key: &str) -> String {
    assert!(
        program.exists() || program.components().count() == 1,
        "{} is missing: run scripts/sdks.sh (the README's test command does)",
        program.display()
    );
    let dir = sdk_dir();
    assert!(
        dir.join("node_modules").is_dir() && dir.join(".venv").is_dir(),
        "the SDKs are not installed: run scripts/sdks.sh (the README's test command does)"
    );
    let child = tokio::process::Command::new(program)
        .arg(dir.join(script))
        .arg(base)
        .arg(key)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within 120 s"))
        .unwrap_or_else(|e| panic!("{script}: cannot start {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The events written for `person` (its `userId`, else its `anonymousId`), in log order.
fn of<'a>(written: &'a [(String, LogRecord)], person: &str) -> Vec<&'a Event> {
    written
        .iter()
        .filter(|(_, r)| {
            r.event.user_id.as_deref() == Some(person)
                || (r.event.user_id.is_none() && r.event.anonymous_id.as_deref() == Some(person))
        })
        .map(|(_, r)| &r.event)
        .collect()
}

fn types(events: &[&Event]) -> Vec<EventType> {
    events.iter().map(|e| e.event_type).collect()
}

fn library(event: &Event) -> String {
    event.context.extra["library"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Serves `state` on an ephemeral loopback port with the collector's own server loop, as
/// `leadstream-ingest` runs it; its base URL.
async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(leadstream_ingest::serve(
        state,
        listener,
        tokio_util::sync::CancellationToken::new(),
    ));
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_and_rudderstack_sdks_work_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path()).expect("log");
    let registry = Registry::from_parts(&[workspace("acme", &[KEY], &[PUBLIC_KEY])], &[]);
    let state = AppState::new(
        Arc::new(registry),
        Arc::new(log.clone()),
        &IngestConfig::default(),
    );
    let base = serve(state).await;

    let python = sdk_dir().join(".venv/bin/python");
    let node = PathBuf::from("node");
    run(&python, "server_sdks.py", &base, KEY).await;
    run(&node, "server_sdks.js", &base, KEY).await;
    let visit: Value =
        serde_json::from_str(run(&node, "browser.js", &base, PUBLIC_KEY).await.trim())
            .expect("browser.js prints JSON");
    assert_eq!(
        visit["delivered"],
        json!(["page", "track", "identify", "group", "track", "track"])
    );
    let anonymous_id = visit["anonymousId"].as_str().expect("anonymousId");
    let rudder_visit: Value = serde_json::from_str(
        run(&node, "rudder_browser.js", &base, PUBLIC_KEY)
            .await
            .trim(),
    )
    .expect("rudder_browser.js prints JSON");
    // Sent concurrently: answered in any order.
    let mut delivered: Vec<&str> = rudder_visit["delivered"]
        .as_array()
        .expect("delivered")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    delivered.sort_unstable();
    assert_eq!(
        delivered,
        vec!["/v1/identify", "/v1/page", "/v1/track", "/v1/track"]
    );
    let rudder_anonymous_id = rudder_visit["anonymousId"].as_str().expect("anonymousId");

    let mut consumer = log.consumer("check").expect("consumer");
    let written: Vec<(String, LogRecord)> = consumer
        .poll(1_000, Duration::from_millis(100))
        .await
        .expect("poll")
        .into_iter()
        .map(|d| {
            let key = String::from_utf8(d.key.expect("key")).expect("utf8");
            (key, LogRecord::decode(&d.payload).expect("decodes"))
        })
        .collect();
    assert_eq!(written.len(), 6 + 3 + 3 + 2 + 6 + 4, "{written:#?}");
    for (key, record) in &written {
        let person = record
            .event
            .user_id
            .as_deref()
            .or(record.event.anonymous_id.as_deref())
            .expect("an id");
        assert_eq!(key, &format!("acme/{person}"));
        assert_eq!(record.workspace, "acme");
    }
    let mut ids: Vec<&str> = written
        .iter()
        .map(|(_, r)| r.event.message_id.as_deref().expect("messageId"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), written.len(), "the SDKs' own messageIds, kept");

    // Segment's Python SDK: every call type, one gzip batch.
    use EventType::*;
    let py = of(&written, "py-seg-1");
    assert_eq!(
        types(&py),
        vec![Identify, Track, Page, Group, Alias, Screen]
    );
    assert!(py.iter().all(|e| library(e) == "analytics-python"));
    assert_eq!(py[0].traits["email"], "py-seg-1@example.com");
    assert_eq!(py[1].event.as_deref(), Some("Trial Started"));
    assert_eq!(py[3].group_id.as_deref(), Some("acct-py-1"));
    assert_eq!(py[4].previous_id.as_deref(), Some("py-seg-1-old"));

    // RudderStack's Python SDK: the identify's traits arrive in `context.traits`.
    let rud = of(&written, "py-rud-1");
    assert_eq!(types(&rud), vec![Identify, Track, Page]);
    assert_eq!(rud[0].traits["email"], "py-rud-1@example.com");

    // Segment's and RudderStack's Node.js SDKs (RudderStack's: gzip with a form content type).
    let node_seg = of(&written, "node-seg-1");
    assert_eq!(types(&node_seg), vec![Identify, Track]);
    assert_eq!(node_seg[0].traits["title"], "VP Marketing");
    assert_eq!(node_seg[1].properties["webinar_id"], "w-42");
    assert!(
        node_seg
            .iter()
            .all(|e| library(e) == "@segment/analytics-node")
    );
    assert_eq!(types(&of(&written, "node-anon-1")), vec![Page]);
    let node_rud = of(&written, "node-rud-1");
    assert_eq!(types(&node_rud), vec![Identify, Track]);
    assert_eq!(node_rud[0].traits["email"], "node-rud-1@example.com");
    assert_eq!(node_rud[1].properties["revenue"], 99.5);

    // Segment's browser SDK: the page's URL, referrer and UTM campaign, one anonymous id across
    // the visit, then the identify that ties it to the person.
    let visit_of = |anonymous_id: &str| -> Vec<&Event> {
        written
            .iter()
            .map(|(_, r)| &r.event)
            .filter(|e| e.anonymous_id.as_deref() == Some(anonymous_id))
            .collect()
    };
    let browser = visit_of(anonymous_id);
    assert_eq!(
        types(&browser),
        vec![Page, Track, Identify, Group, Track, Track]
    );
    assert!(browser.iter().all(|e| library(e) == "analytics.js"));
    let page = browser[0].context.page.as_ref().expect("context.page");
    assert_eq!(
        page.url.as_deref(),
        Some(
            "https://shop.example/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
        )
    );
    assert_eq!(page.referrer.as_deref(), Some("https://www.google.com/"));
    let campaign = browser[0].context.campaign.as_ref().expect("campaign");
    assert_eq!(campaign.source.as_deref(), Some("newsletter"));
    assert_eq!(campaign.name.as_deref(), Some("spring"));
    assert_eq!(browser[1].event.as_deref(), Some("Pricing Viewed"));
    assert_eq!(browser[2].user_id.as_deref(), Some("web-user-1"));
    assert_eq!(browser[2].traits["email"], "web-user-1@example.com");
    assert_eq!(browser[3].group_id.as_deref(), Some("acct-web-1"));
    // Spec events without the properties a kind expects: accepted, the misses recorded.
    use leadstream_schemas::EventKind;
    assert_eq!(
        EventKind::classify(browser[4]),
        EventKind::PurchaseCompleted
    );
    assert_eq!(
        EventKind::PurchaseCompleted.money(&browser[4].properties),
        20.0
    );
    assert_eq!(EventKind::classify(browser[5]), EventKind::FormSubmitted);
    let misses = &browser[5]
        .enrichment
        .as_ref()
        .expect("enriched")
        .expectation_misses;
    assert_eq!(misses[0].field, "properties.form_id");

    // RudderStack's browser SDK: the identify's traits arrive in `context.traits`.
    let mut rudder = visit_of(rudder_anonymous_id);
    rudder.sort_by_key(|e| {
        (
            [Page, Track, Identify]
                .iter()
                .position(|t| *t == e.event_type),
            e.event.clone(),
        )
    });
    assert_eq!(
        types(&rudder),
        vec![Page, Track, Track, Identify],
        "{rudder:#?}"
    );
    let page = rudder[0].context.page.as_ref().expect("context.page");
    assert_eq!(
        page.url.as_deref(),
        Some(
            "https://shop.example/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
        )
    );
    let campaign = rudder[0].context.campaign.as_ref().expect("campaign");
    assert_eq!(rudder[1].event.as_deref(), Some("Order Completed"));
    assert_eq!(
        leadstream_schemas::EventKind::PurchaseCompleted.money(&rudder[1].properties),
        5.0
    );
    assert_eq!(rudder[2].event.as_deref(), Some("Pricing Viewed"));
    assert_eq!(campaign.name.as_deref(), Some("spring"));
    assert_eq!(rudder[3].user_id.as_deref(), Some("rud-web-1"));
    assert_eq!(rudder[3].traits["email"], "rud-web-1@example.com");
}

/// The calls in the SDKs' own docs, with and without the spec's optional properties (Segment's and
/// RudderStack's Python SDKs, and PostHog's in its own wire format), are all accepted and arrive
/// as the kinds they name, with what they missed recorded; a call the workspace's tracking plan
/// refuses is read by each SDK as an error (no crash) and kept among the failed events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_calls_are_accepted_and_plan_refusals_are_read_by_every_sdk() {
    use leadstream_platform::failed::{EmbeddedFailed, FailedEvents};
    use leadstream_schemas::EventKind;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path()).expect("log");
    let registry = Registry::from_parts(&[workspace("acme", &[KEY], &[PUBLIC_KEY])], &[]);
    let mut state = AppState::new(
        Arc::new(registry),
        Arc::new(log.clone()),
        &IngestConfig::default(),
    );
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[events.\"Plan Checked\"]\non_miss = \"refuse\"\nproperties.required_prop = { type = \"string\", required = true }\n",
    )
    .expect("plan");
    state.plans = Arc::new(
        leadstream_ingest::plan::Plans::load(&[("acme".to_string(), plan)].into())
            .expect("plan loads"),
    );
    let failed = EmbeddedFailed::open(&dir.path().join("failed")).expect("failed events");
    state.failed = Some(Arc::new(failed.clone()));
    let base = serve(state).await;

    let python = sdk_dir().join(".venv/bin/python");
    let errors: Value = serde_json::from_str(run(&python, "spec_sdks.py", &base, KEY).await.trim())
        .expect("spec_sdks.py prints JSON");
    // Each SDK reported the refusal with the collector's code: it read the body.
    for sdk in ["segment", "rudder", "posthog"] {
        let reported = errors[sdk].as_array().expect("errors");
        assert_eq!(reported.len(), 1, "{sdk}: {errors}");
        assert_eq!(reported[0]["status"], 400, "{sdk}: {errors}");
        assert!(
            reported[0]["text"]
                .as_str()
                .expect("text")
                .contains("required_prop"),
            "{sdk}: {errors}"
        );
    }
    for sdk in ["segment", "rudder"] {
        assert_eq!(errors[sdk][0]["code"], "invalid_events", "{sdk}: {errors}");
    }
    let node = PathBuf::from("node");
    let node_errors: Value =
        serde_json::from_str(run(&node, "spec_sdks.js", &base, KEY).await.trim())
            .expect("spec_sdks.js prints JSON");
    for sdk in ["segment", "rudder"] {
        let reported = node_errors[sdk].as_array().expect("errors");
        assert_eq!(reported.len(), 1, "node {sdk}: {node_errors}");
    }
    assert_eq!(node_errors["rudder"][0]["status"], 400, "{node_errors}");
    assert_eq!(
        node_errors["rudder"][0]["code"], "invalid_events",
        "{node_errors}"
    );

    let mut consumer = log.consumer("check").expect("consumer");
    let written: Vec<LogRecord> = consumer
        .poll(1_000, Duration::from_millis(100))
        .await
        .expect("poll")
        .into_iter()
        .map(|d| LogRecord::decode(&d.payload).expect("decodes"))
        .collect();
    let events: Vec<&Event> = written.iter().map(|r| &r.event).collect();
    assert!(
        events
            .iter()
            .all(|e| e.event.as_deref() != Some("Plan Checked")),
        "refused events are not written"
    );
    let kinds = |person: &str| -> Vec<EventKind> {
        of_records(&written, person)
            .iter()
            .map(|e| EventKind::classify(e))
            .collect()
    };
    let misses = |e: &Event| -> Vec<String> {
        e.enrichment
            .as_ref()
            .map(|x| {
                x.expectation_misses
                    .iter()
                    .map(|m| m.field.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    use EventKind::*;
    assert_eq!(
        kinds("spec-seg-1"),
        vec![FormSubmitted, PurchaseCompleted, SignedUp]
    );
    let seg1 = of_records(&written, "spec-seg-1");
    assert_eq!(misses(seg1[0]), vec!["properties.form_id"]);
    assert!(misses(seg1[1]).is_empty(), "{:?}", seg1[1].enrichment);
    assert_eq!(
        seg1[1]
            .enrichment
            .as_ref()
            .and_then(|e| e.currency.as_deref()),
        Some("USD")
    );
    assert_eq!(PurchaseCompleted.money(&seg1[1].properties), 49.0);
    let seg2 = of_records(&written, "spec-seg-2");
    assert_eq!(PurchaseCompleted.money(&seg2[0].properties), 30.5);
    assert_eq!(
        seg2[0]
            .enrichment
            .as_ref()
            .and_then(|e| e.currency.as_deref()),
        Some("EUR")
    );
    let seg3 = of_records(&written, "spec-seg-3");
    assert_eq!(kinds("spec-seg-3"), vec![PurchaseCompleted, OrderRefunded]);
    assert_eq!(PurchaseCompleted.money(&seg3[0].properties), 25.0);
    assert_eq!(OrderRefunded.money(&seg3[1].properties), -5.0);
    assert_eq!(kinds("spec-rud-1"), vec![FileDownloaded, CheckoutStarted]);
    assert_eq!(
        kinds("spec-node-seg"),
        vec![FormSubmitted, PurchaseCompleted]
    );
    assert_eq!(
        PurchaseCompleted.money(&of_records(&written, "spec-node-seg")[1].properties),
        15.0
    );
    assert_eq!(kinds("spec-node-rud"), vec![CheckoutStarted]);
    assert_eq!(
        misses(of_records(&written, "spec-rud-1")[0]),
        vec!["properties.file_name"]
    );

    // PostHog's SDK: its events as the calls they stand for.
    let ph = of_records(&written, "spec-ph-1");
    assert_eq!(
        types(&ph),
        vec![
            EventType::Track,
            EventType::Page,
            EventType::Track,
            EventType::Identify,
            EventType::Group
        ]
    );
    assert!(ph.iter().all(|e| library(e) == "posthog-python"), "{ph:#?}");
    assert_eq!(ph[0].event.as_deref(), Some("user_signed_up"));
    let campaign = ph[1]
        .context
        .campaign
        .as_ref()
        .expect("utm from $current_url");
    assert_eq!(campaign.name.as_deref(), Some("spring"));
    assert_eq!(PurchaseCompleted.money(&ph[2].properties), 20.0);
    assert_eq!(ph[3].traits["email"], "spec-ph-1@example.com");
    assert_eq!(ph[4].group_id.as_deref(), Some("acct-ph-1"));
    assert_eq!(ph[4].traits["name"], "Acme");
    let alias = of_records(&written, "spec-ph-1-alias");
    assert_eq!(types(&alias), vec![EventType::Alias]);
    assert_eq!(alias[0].previous_id.as_deref(), Some("spec-ph-1"));
    assert!(
        ph.iter()
            .all(|e| e.message_id.as_deref().is_some_and(|m| m.len() == 36))
    );

    // The three refusals are kept, with the plan as the reason.
    let kept = failed
        .list("acme", &Default::default(), 10)
        .await
        .expect("failed events");
    assert_eq!(kept.len(), 5, "{kept:#?}");
    assert!(kept.iter().all(|f| f.code == "tracking_plan"
        && f.field.as_deref() == Some("properties.required_prop")
        && f.event_name.as_deref() == Some("Plan Checked")));
    let mut endpoints: Vec<&str> = kept.iter().map(|f| f.endpoint.as_str()).collect();
    endpoints.sort_unstable();
    assert_eq!(
        endpoints,
        vec![
            "/batch/",
            "/v1/batch",
            "/v1/batch",
            "/v1/batch",
            "/v1/batch"
        ]
    );
}

/// The events written for `person` (its `userId`, else its `anonymousId`), in log order.
fn of_records<'a>(written: &'a [LogRecord], person: &str) -> Vec<&'a Event> {
    written
        .iter()
        .map(|r| &r.event)
        .filter(|e| {
            e.user_id.as_deref() == Some(person)
                || (e.user_id.is_none() && e.anonymous_id.as_deref() == Some(person))
        })
        .collect()
}
