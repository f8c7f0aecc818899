//! The console in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromedriver`, which `scripts/services.sh` installs) against the all-in-one, on the
//! embedded default and on Kafka with ClickHouse. Signs in (a wrong token first), finds a person by
//! email, reads why their score is what it is (the same value and rules the API gives), sees the
//! merged device's events marked, signs out; a read-only token sees no write action and the API
//! refuses one anyway; the session cookie is out of the page's reach and counts only on the
//! console's own requests. Screenshots of each page land in the target directory
//! (`console-screens/`), not in the repository.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

struct Driver {
    _process: tokio::process::Child,
    url: String,
}

async fn chromedriver() -> Driver {
    let port = leadstream_platform::testing::free_port();
    let process = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver (scripts/services.sh installs it)");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver {
        _process: process,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver, width: u32, height: u32) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            format!("--window-size={width},{height}"),
        ]}),
    );
    // chromedriver on loopback: plain HTTP.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screens() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screens");
    std::fs::create_dir_all(&dir).expect("screens dir");
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screens().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never showed: {e}"))
}

async fn text_of(c: &Client, css: &str) -> String {
    find(c, css).await.text().await.expect("text")
}

/// Waits until the element's text contains `want`.
async fn wait_text(c: &Client, css: &str, want: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && t.contains(want)
        {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never said {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(c: &Client, token: &str) {
    let input = find(c, "#token").await;
    input.clear().await.expect("clear");
    input.send_keys(token).await.expect("type");
    find(c, "#signin button[type=submit]")
        .await
        .click()
        .await
        .expect("submit");
}

/// A script's answer from the page (the browser's own fetch, with its cookie).
async fn in_page(c: &Client, script: &str) -> Value {
    c.execute_async(script, vec![]).await.expect("script")
}

/// Waits until the element's attribute is `want`.
async fn wait_attr(c: &Client, css: &str, attr: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut last = None;
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(v) = e.attr(attr).await
        {
            if v.as_deref() == Some(want) {
                return;
            }
            last = v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css}[{attr}] never was {want:?} (last {last:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sets a text control's value as typing would (an `input` event), for long texts.
async fn set_value(c: &Client, css: &str, value: &str) {
    find(c, css).await;
    c.execute(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
         el.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![json!(css), json!(value)],
    )
    .await
    .expect("set value");
}

/// Picks an option of a select (a `change` event, as a person's choice makes; the builder
/// draws itself again on it, which a WebDriver select would see as a stale element).
async fn choose(c: &Client, css: &str, value: &str) {
    find(c, css).await;
    c.execute(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
         if (el.value !== arguments[1]) throw new Error('no option ' + arguments[1]); \
         el.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![json!(css), json!(value)],
    )
    .await
    .expect("choose");
}

async fn scroll_to(c: &Client, css: &str) {
    find(c, css).await;
    c.execute(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'start'})",
        vec![json!(css)],
    )
    .await
    .expect("scroll");
}

async fn click(c: &Client, css: &str) {
    find(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

const DAY_MS: i64 = 86_400_000;

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Ten customers `c0`..`c9`: `c{i}` bought i + 1 times, the last 20·i days before `as_of`;
/// the even ones are VPs.
fn customers(as_of: i64) -> Value {
    let mut batch = Vec::new();
    for i in 0..10i64 {
        batch.push(json!({
            "type": "identify", "userId": format!("c{i}"), "messageId": format!("id-{i}"),
            "traits": {"email": format!("c{i}@example.com"), "title": if i % 2 == 0 { "VP Sales" } else { "Engineer" }},
        }));
        for j in 0..=i {
            batch.push(json!({
                "type": "track", "userId": format!("c{i}"), "event": "Order Completed",
                "properties": {"order_id": format!("o{i}-{j}"), "revenue": 10 * (i + 1), "currency": "EUR"},
                "timestamp": iso(as_of - (20 * i + j) * DAY_MS),
                "messageId": format!("buy-{i}-{j}"),
            }));
        }
    }
    json!({ "batch": batch })
}

/// The JSON the builder's JSON pane holds.
async fn builder_json(c: &Client) -> Value {
    let text = c
        .execute(
            "return document.querySelector('#segment-json').value",
            vec![],
        )
        .await
        .expect("json");
    serde_json::from_str(text.as_str().expect("text")).expect("the pane holds JSON")
}

/// Segments, lists, RFM and the scoring model, each against what the API answers.
async fn pages(c: &Client, running: &common::Running, base: &str, tag: &str) {
    let now = chrono::Utc::now().timestamp_millis();
    let as_of = now - now % DAY_MS - DAY_MS;
    let (status, body) = running.post_batch(&customers(as_of)).await;
    assert_eq!(status, 200, "{body}");
    for i in 0..10 {
        running
            .wait_for_profile(&format!("c{i}"), |p| p["purchases"]["count"] == i + 1)
            .await;
    }

    // A saved segment using much of the language opens in the builder exactly as saved, with
    // the API's count.
    let (status, with_email) = running
        .post_query(
            "/v1/segments",
            &json!({"name": "Has an email", "definition": {"trait": "email", "contains": "@"}}),
        )
        .await;
    assert_eq!(status, 201, "{with_email}");
    let definition = json!({"and": [
        {"trait": "title", "starts_with": "VP"},
        {"or": [{"score": {"gte": 0, "lt": 1000}}, {"grade": ["B", "A"]}]},
        {"did": "purchase_completed", "at_least": 2, "at_most": 9, "within_days": 365,
         "where": [{"property": "revenue", "gte": 10}]},
        {"not": {"trait": "email", "eq": "nobody@example.com"}},
        {"or": [{"trait": "plan", "eq": 3}, {"trait": "plan", "ne": "x"}]},
        {"rfm": ["Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising",
                 "Need Attention", "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"],
         "spec": {"window_days": 365}},
        {"trait": "employees", "exists": false},
        {"did_not": "file_downloaded", "within_days": 30},
        {"in_segment": with_email["id"]},
        {"trait": "title", "in": ["VP Sales", "VP Marketing"]},
        {"or": [{"trait": "seats", "between": [1, 2]}, {"trait": "seats", "exists": false}]},
    ]});
    let (status, saved) = running
        .post_query(
            "/v1/segments",
            &json!({"name": "VP buyers, every condition", "definition": definition}),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    let id = saved["id"].as_str().expect("id").to_string();
    let (_, api_count) = running.get(&format!("/v1/segments/{id}/preview")).await;
    let count = api_count["count"].as_u64().expect("count");
    assert_eq!(count, 4, "c2, c4, c6 and c8: {api_count}");
    c.goto(&format!("{base}/console/#/segments/{id}"))
        .await
        .expect("segment");
    wait_attr(c, "#segment-count", "data-count", &count.to_string()).await;
    assert_eq!(builder_json(c).await, definition, "opens exactly as saved");
    shot(c, &format!("{tag}-7-segment-saved")).await;
    // Saved again untouched: the same definition.
    click(c, "#save-segment").await;
    wait_text(c, "#toast", "saved").await;
    let (_, again) = running.get(&format!("/v1/segments/{id}")).await;
    assert_eq!(again["definition"], definition);

    // A new segment built in the builder: the live count is the API's for the same JSON.
    c.goto(&format!("{base}/console/#/segments/new"))
        .await
        .expect("new");
    wait_text(c, "h1", "New segment").await;
    choose(c, "#builder > .group > select.add", "trait").await;
    find(c, "#builder .leaf.trait .test input")
        .await
        .send_keys("VP")
        .await
        .expect("type");
    let vp = json!({"and": [{"trait": "title", "contains": "VP"}]});
    let (_, p) = running
        .post_query("/v1/segments/preview", &json!({"segment": vp}))
        .await;
    wait_attr(c, "#segment-count", "data-count", &p["count"].to_string()).await;
    assert_eq!(p["count"], 5, "{p}");
    choose(c, "#builder > .group > select.add", "did").await;
    choose(
        c,
        "#builder .leaf.did select[aria-label=Event]",
        "purchase_completed",
    )
    .await;
    find(c, "#builder .leaf.did input[name=at_least]")
        .await
        .send_keys("3")
        .await
        .expect("at least");
    // A value the API refuses is shown on its condition.
    let days = find(c, "#builder .leaf.did input[name=within_days]").await;
    days.clear().await.expect("clear");
    days.send_keys("many").await.expect("type");
    wait_text(c, "#builder .leaf.did .node-error", "within_days").await;
    shot(c, &format!("{tag}-8-segment-error")).await;
    set_value(c, "#builder .leaf.did input[name=within_days]", "400").await;
    let built = json!({"and": [
        {"trait": "title", "contains": "VP"},
        {"did": "purchase_completed", "within_days": 400, "at_least": 3},
    ]});
    let (_, p) = running
        .post_query("/v1/segments/preview", &json!({"segment": built}))
        .await;
    assert_eq!(p["count"], 4, "{p}");
    wait_attr(c, "#segment-count", "data-count", "4").await;
    assert_eq!(builder_json(c).await, built);
    assert!(
        c.find(Locator::Css("#builder .node-error")).await.is_err(),
        "the error went with the fix"
    );
    find(c, "#segment-name")
        .await
        .send_keys("Repeat VP buyers")
        .await
        .expect("name");
    click(c, "#save-segment").await;
    wait_text(c, "h1", "Repeat VP buyers").await;
    let (_, all) = running.get("/v1/segments").await;
    let mine = all["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .find(|s| s["name"] == "Repeat VP buyers")
        .expect("saved from the builder")
        .clone();
    assert_eq!(mine["definition"], built);
    // Snapshot, then compare with now: everybody stayed.
    click(c, "#take-snapshot").await;
    click(c, "button[data-compare]").await;
    wait_attr(c, "#comparison [data-stayed]", "data-stayed", "4").await;
    shot(c, &format!("{tag}-9-segment-built")).await;

    // Lists: create one, import a CSV with a row that matches nobody.
    c.goto(&format!("{base}/console/#/lists"))
        .await
        .expect("lists");
    find(c, "#list-name")
        .await
        .send_keys("Webinar attendees")
        .await
        .expect("name");
    click(c, "#create-list button[type=submit]").await;
    let csv = screens().join(format!("{tag}-attendees.csv"));
    std::fs::write(
        &csv,
        "email,name\nc1@example.com,One\nC3@Example.com,Three\nnobody@example.com,No one\n",
    )
    .expect("csv");
    find(c, "#import-file")
        .await
        .send_keys(csv.to_str().expect("path"))
        .await
        .expect("choose the file");
    click(c, "#import button[type=submit]").await;
    wait_attr(c, "#import-summary [data-unmatched]", "data-unmatched", "1").await;
    wait_attr(c, "#import-summary [data-added]", "data-added", "2").await;
    let unmatched = text_of(c, "#import-report table").await;
    assert!(unmatched.contains("nobody@example.com"), "{unmatched}");
    assert!(unmatched.contains('3'), "the row number: {unmatched}");
    wait_attr(c, "#list-count", "data-count", "2").await;
    shot(c, &format!("{tag}-10-list-import")).await;
    let (_, lists) = running.get("/v1/lists").await;
    let list_id = lists["lists"]
        .as_array()
        .expect("lists")
        .iter()
        .find(|l| l["name"] == "Webinar attendees")
        .expect("created")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (_, members) = running.get(&format!("/v1/lists/{list_id}/members")).await;
    let ids: Vec<&str> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["profile_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["c1", "c3"]);

    // RFM: every cell of the heat map is the API's.
    let day = iso(as_of)[..10].to_string();
    let (_, report) = running.post_query("/v1/rfm", &json!({"as_of": day})).await;
    assert_eq!(report["customers"], 10, "{report}");
    c.goto(&format!("{base}/console/#/rfm?as_of={day}"))
        .await
        .expect("rfm");
    find(c, ".heat .cell").await;
    let cells = c
        .execute(
            "return [...document.querySelectorAll('.heat .cell')].map(c => [Number(c.dataset.r), Number(c.dataset.fm), Number(c.dataset.people), Number(c.dataset.revenue)])",
            vec![],
        )
        .await
        .expect("cells");
    let cells = cells.as_array().expect("cells");
    assert_eq!(cells.len(), 25);
    for cell in report["grid"].as_array().expect("grid") {
        let shown = cells
            .iter()
            .find(|x| x[0] == cell["r"] && x[1] == cell["fm"])
            .unwrap_or_else(|| panic!("no cell for {cell}"));
        assert_eq!(shown[2].as_f64(), cell["people"].as_f64(), "{cell}");
        assert_eq!(shown[3].as_f64(), cell["revenue"].as_f64(), "{cell}");
    }
    let people: u64 = report["grid"]
        .as_array()
        .expect("grid")
        .iter()
        .map(|x| x["people"].as_u64().expect("n"))
        .sum();
    assert_eq!(people, 10);
    shot(c, &format!("{tag}-11-rfm")).await;
    // A cell's customers, saved as a list.
    let busiest = report["grid"]
        .as_array()
        .expect("grid")
        .iter()
        .max_by_key(|x| x["people"].as_u64())
        .expect("a cell")
        .clone();
    click(
        c,
        &format!(
            ".heat .cell[data-r='{}'][data-fm='{}']",
            busiest["r"], busiest["fm"]
        ),
    )
    .await;
    wait_text(
        c,
        "#rfm-people h2",
        &format!("{} customers", busiest["people"]),
    )
    .await;
    click(c, "#rfm-save button[type=submit]").await;
    wait_attr(
        c,
        "#list-count",
        "data-count",
        &busiest["people"].to_string(),
    )
    .await;
    // The two lists combined into a third: their union, as the API counts it.
    let (_, lists) = running.get("/v1/lists").await;
    let mut union = std::collections::BTreeSet::new();
    for l in lists["lists"].as_array().expect("lists") {
        let (_, m) = running
            .get(&format!(
                "/v1/lists/{}/members",
                l["id"].as_str().expect("id")
            ))
            .await;
        for p in m["members"].as_array().expect("members") {
            union.insert(p["profile_id"].as_str().expect("id").to_string());
        }
    }
    c.goto(&format!("{base}/console/#/lists"))
        .await
        .expect("lists");
    find(c, "#combine").await;
    c.execute(
        "for (const b of document.querySelectorAll('#combine-lists input')) { b.checked = true; b.dispatchEvent(new Event('change', {bubbles: true})); }",
        vec![],
    )
    .await
    .expect("pick");
    find(c, "#combine-name")
        .await
        .send_keys("Everybody we know")
        .await
        .expect("name");
    click(c, "#combine button[type=submit]").await;
    wait_text(c, "h1", "Everybody we know").await;
    wait_attr(c, "#list-count", "data-count", &union.len().to_string()).await;
    // Exported as a file the browser downloads.
    click(c, "button[data-format=csv]").await;
    wait_text(c, "#toast", "Exported").await;
    // The migration matrix between two dates, each cell the API's.
    c.goto(&format!("{base}/console/#/rfm?as_of={day}"))
        .await
        .expect("rfm");
    let from = iso(as_of - 100 * DAY_MS)[..10].to_string();
    set_value(c, "#migration-from", &from).await;
    set_value(c, "#migration-to", &day).await;
    click(c, "#migration-form button[type=submit]").await;
    find(c, "#rfm-migration").await;
    let (_, migration) = running
        .post_query("/v1/rfm/migration", &json!({"from": from, "to": day}))
        .await;
    let names = migration["segments"].as_array().expect("segments");
    for (i, row) in migration["matrix"]
        .as_array()
        .expect("matrix")
        .iter()
        .enumerate()
    {
        for (j, v) in row.as_array().expect("row").iter().enumerate() {
            let css = format!(
                "#rfm-migration td[data-from=\"{}\"][data-to=\"{}\"]",
                names[i].as_str().expect("name"),
                names[j].as_str().expect("name")
            );
            let shown = text_of(c, &css).await;
            let want = if v == 0 {
                "·".to_string()
            } else {
                v.to_string()
            };
            assert_eq!(shown, want, "{css}");
        }
    }
    shot(c, &format!("{tag}-12-rfm-migration")).await;

    // The scoring model: the live one, an error on its line, a what-if run whose numbers are
    // the API's for the same model.
    let (_, live) = running.get("/v1/models/live").await;
    c.goto(&format!("{base}/console/#/model"))
        .await
        .expect("model");
    find(c, "#model-text").await;
    let shown = c
        .execute("return document.querySelector('#model-text').value", vec![])
        .await
        .expect("text");
    assert_eq!(shown, live["text"]);
    let text = live["text"].as_str().expect("text");
    assert!(text.contains("threshold = 50"), "{text}");
    let broken = text.replace("threshold = 50", "threshold = fifty");
    let (status, refused) = running
        .post_query("/v1/models/check", &json!({"model": broken}))
        .await;
    assert_eq!(status, 400, "{refused}");
    let field = refused["error"]["field"].as_str().expect("field");
    let line = field
        .trim_start_matches("model (line ")
        .trim_end_matches(')')
        .to_string();
    let expected_line = text
        .lines()
        .position(|l| l.starts_with("threshold = 50"))
        .expect("line")
        + 1;
    assert_eq!(line, expected_line.to_string(), "{refused}");
    set_value(c, "#model-text", &broken).await;
    wait_attr(c, "#model-line-error", "data-line", &line).await;
    wait_attr(
        c,
        &format!(".gutter span[data-line='{line}']"),
        "class",
        "bad",
    )
    .await;
    scroll_to(c, "#model-line-error").await;
    shot(c, &format!("{tag}-13-model-error")).await;
    // A lower bar: a score of 5 and any grade.
    let changed = text
        .replace("threshold = 50", "threshold = 5")
        .replace("min_grade = \"D\"", "min_grade = \"F\"");
    assert_ne!(changed, text);
    set_value(c, "#model-text", &changed).await;
    wait_text(c, "#model-status", "Valid").await;
    click(c, "#run-whatif").await;
    let (status, whatif) = running
        .post_query("/v1/models/what-if", &json!({"model": changed, "top": 50}))
        .await;
    assert_eq!(status, 200, "{whatif}");
    assert!(
        whatif["qualified"]["what_if"].as_u64() > Some(0),
        "{whatif}"
    );
    wait_attr(
        c,
        "#whatif-facts [data-whatif]",
        "data-whatif",
        &whatif["qualified"]["what_if"].to_string(),
    )
    .await;
    wait_attr(
        c,
        "#whatif-facts [data-live]",
        "data-live",
        &whatif["qualified"]["live"].to_string(),
    )
    .await;
    find(c, "#whatif-chart canvas").await;
    scroll_to(c, "#whatif-report").await;
    shot(c, &format!("{tag}-14-whatif")).await;

    // The overview over the customers' 400 days: the page's numbers are the API's.
    let from = iso(as_of - 400 * DAY_MS)[..10].to_string();
    let to = iso(now + DAY_MS)[..10].to_string();
    let (status, o) = running
        .get(&format!("/v1/overview?from={from}&to={to}"))
        .await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["events_by_kind"]["purchase_completed"], 55, "{o}");
    assert_eq!(o["days"].as_array().map(Vec::len), Some(401 + 1), "{o}");
    let commerce: u64 = o["events_by_channel"]["commerce"]
        .as_array()
        .expect("commerce")
        .iter()
        .map(|v| v.as_u64().expect("n"))
        .sum();
    assert_eq!(commerce, 55, "{o}");
    let histogram: u64 = o["score_histogram"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["people"].as_u64().expect("n"))
        .sum();
    assert_eq!(histogram, o["people"].as_u64().expect("people"));
    assert_eq!(o["stages"]["customer"], 10, "{o}");
    c.goto(&format!("{base}/console/#/overview?from={from}&to={to}"))
        .await
        .expect("overview");
    wait_attr(
        c,
        "#overview-facts [data-events]",
        "data-events",
        &o["events"].to_string(),
    )
    .await;
    wait_attr(
        c,
        "#overview-facts [data-people]",
        "data-people",
        &o["people"].to_string(),
    )
    .await;
    let shown = c
        .execute(
            "return [...document.querySelectorAll('#score-histogram li')].map(li => [li.dataset.label, Number(li.dataset.count)])",
            vec![],
        )
        .await
        .expect("histogram");
    let want: Vec<Value> = o["score_histogram"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| json!([b["label"], b["people"]]))
        .collect();
    assert_eq!(shown, json!(want));
    find(c, "#events-chart canvas").await;
    find(c, "#people-chart canvas").await;
    c.execute("window.scrollTo(0, 0)", vec![])
        .await
        .expect("top");
    shot(c, &format!("{tag}-15-overview")).await;

    // Campaigns: one created on the page; ada's visit from it is a response, turned into a lead.
    c.goto(&format!("{base}/console/#/campaigns"))
        .await
        .expect("campaigns");
    find(c, "#campaign-name")
        .await
        .send_keys("Winter webinar")
        .await
        .expect("name");
    choose(c, "#campaign-channel", "events").await;
    set_value(c, "#campaign-utm", "winter").await;
    set_value(c, "#campaign-cost", "120").await;
    // Every list a target: three arms.
    c.execute(
        "for (const o of document.querySelectorAll('#campaign-lists option')) o.selected = true;",
        vec![],
    )
    .await
    .expect("lists");
    click(c, "#create-campaign button[type=submit]").await;
    wait_text(c, "h1", "Winter webinar").await;
    let (status, body) = running
        .post_batch(&json!({"batch": [
            {"type": "page", "userId": "ada", "messageId": "winter-1", "context": {"campaign": {"name": "winter"}, "page": {"url": "https://acme.io/webinar"}}},
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    running
        .wait_for_profile("ada", |p| p["event_count"] == 6)
        .await;
    let (_, campaigns) = running.get("/v1/campaigns").await;
    let campaign = campaigns["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .find(|x| x["name"] == "Winter webinar")
        .expect("created on the page")
        .clone();
    assert_eq!(campaign["utm_campaigns"], json!(["winter"]));
    assert_eq!(campaign["actual_cost"], 120.0);
    let cid = campaign["id"].as_str().expect("id");
    c.refresh().await.expect("reload");
    let (_, report) = running.get(&format!("/v1/campaigns/{cid}/report")).await;
    assert_eq!(report["figures"]["responses"], 1, "{report}");
    wait_attr(c, "#campaign-facts [data-responses]", "data-responses", "1").await;
    // The arms side by side: the whole campaign, each list, and those on no list (ada).
    let arms = report["arms"].as_array().expect("arms");
    assert_eq!(arms.len(), 3, "every list is an arm: {report}");
    let mut want = vec![report["figures"]["responses"].to_string()];
    want.extend(arms.iter().map(|a| a["figures"]["responses"].to_string()));
    want.push(report["untargeted"]["responses"].to_string());
    let shown = c
        .execute(
            "return [...document.querySelectorAll('#arms-table td[data-figure=Responses]')].map(td => td.textContent)",
            vec![],
        )
        .await
        .expect("arms");
    assert_eq!(shown, json!(want), "{report}");
    // The report with its first responders (one count for both), and the overview's top
    // campaigns from the same responses.
    let (_, with) = running
        .get(&format!("/v1/campaigns/{cid}/report?responders=10"))
        .await;
    assert_eq!(with["responders"]["count"], 1, "{with}");
    assert_eq!(with["responders"]["responders"][0]["profile_id"], "ada");
    let (_, o) = running.get("/v1/overview").await;
    assert_eq!(o["top_campaigns"][0]["name"], "Winter webinar", "{o}");
    assert_eq!(o["top_campaigns"][0]["responses"], 1, "{o}");
    click(c, "button[data-lead=ada]").await;
    wait_text(c, "#toast", "goes to sales").await;
    running
        .wait_for_profile("ada", |p| {
            p["handoffs"] == 1 && p["lifecycle_stage"] == "sales_accepted"
        })
        .await;
    shot(c, &format!("{tag}-16-campaign")).await;
}

/// A TCP path to ClickHouse the test can cut (every open connection dropped, new ones refused)
/// and mend: the store going down under a running console, for real.
struct Cable {
    addr: std::net::SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

async fn cable(to: &str) -> Cable {
    let target = to
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (up, watch) = tokio::sync::watch::channel(true);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut watch = watch.clone();
            if !*watch.borrow() {
                continue; // cut: the connection is dropped at once
            }
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = watch.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    Cable { addr, up }
}

/// With the store cut off, a page says so (and not a blank or a crash); mended, it works again.
async fn store_down(c: &Client, base: &str, cable: &Cable, tag: &str) {
    cable.up.send_replace(false);
    c.goto(&format!("{base}/console/#/segments"))
        .await
        .expect("segments");
    let said = wait_text(c, "#main .error", "store").await;
    assert!(said.contains("Try again"), "{said}");
    shot(c, &format!("{tag}-18-store-down")).await;
    cable.up.send_replace(true);
    c.refresh().await.expect("reload");
    find(c, "#new-segment").await;
}

async fn check(running: common::Running, tag: &str) {
    check_with(running, tag, None).await;
}

async fn check_with(running: common::Running, tag: &str, cut: Option<&Cable>) {
    // Ada: a device's visit, then identified on it, then her activity.
    let (status, body) = running
        .post_batch(&json!({"batch": [
            {"type": "page", "anonymousId": "dev-ada", "messageId": "c-1", "context": {"page": {"url": "https://acme.io/pricing"}}},
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    running
        .wait_for_profile("dev-ada", |p| p["event_count"] == 1)
        .await;
    let mut batch = common::slice_batch();
    batch["batch"][1]["anonymousId"] = json!("dev-ada");
    let (status, body) = running.post_batch(&batch).await;
    assert_eq!(status, 200, "{body}");
    let api = running
        .wait_for_profile("ada", |p| p["event_count"] == 5)
        .await;
    let (_, why) = running.get("/v1/profiles/ada/scores/why").await;

    let base = format!("http://{}", running.query);
    // The page's headers: no inline script allowed, nothing from elsewhere.
    let page = reqwest::get(format!("{base}/console/"))
        .await
        .expect("page");
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    let driver = chromedriver().await;
    let c = browser(&driver, 1280, 900).await;
    c.goto(&format!("{base}/console")).await.expect("open");
    find(&c, "#token").await;
    shot(&c, &format!("{tag}-1-sign-in")).await;

    // A wrong token is refused beside the input.
    sign_in(&c, "tok_nobody_0123456789").await;
    wait_text(&c, "#token-error", "not valid").await;

    sign_in(&c, common::TOKEN).await;
    wait_text(&c, "#who", "acme · read-write").await;
    // The token is in an HttpOnly cookie: out of the page's scripts' reach.
    let cookie = c
        .execute("return document.cookie", vec![])
        .await
        .expect("cookie");
    assert_eq!(cookie, json!(""), "the session cookie must be HttpOnly");
    // The cookie alone (a request without the console's header, as another site's form would
    // send) authenticates nothing.
    let bare = in_page(
        &c,
        "const done = arguments[0]; fetch('/v1/profiles/ada').then(r => done(r.status));",
    )
    .await;
    assert_eq!(bare, json!(401));

    // The first page is the overview; People from the navigation.
    find(&c, "#overview-facts").await;
    click(&c, "nav a[data-section=people]").await;
    // Find her by email, open her page.
    let q = find(&c, "#q").await;
    q.send_keys("ada@example.com").await.expect("type");
    find(&c, "form.search button")
        .await
        .click()
        .await
        .expect("find");
    let link = find(&c, "#results a[href='#/people/ada']").await;
    shot(&c, &format!("{tag}-2-search")).await;
    link.click().await.expect("open ada");
    let why_text = wait_text(&c, "#why", "engagement is").await;
    for rule in why["by_rule"].as_array().expect("rules") {
        let rule = rule["rule"].as_str().expect("rule");
        assert!(why_text.contains(rule), "{why_text} lacks {rule}");
    }
    let shown = text_of(&c, "dd.score[data-score=engagement]").await;
    assert_eq!(
        shown,
        format!("{}", api["scores"]["engagement"].as_f64().expect("score")),
        "the page shows the API's score"
    );
    // The device's visit is in her timeline, marked as coming from the merged id.
    wait_text(&c, "ol.timeline", "as dev-ada").await;
    // Each change names its rule and event.
    let changes = text_of(&c, "section[aria-labelledby=sec-score-history] table").await;
    assert!(changes.contains("webinar registration"), "{changes}");
    assert!(changes.contains("Webinar Registered"), "{changes}");
    find(&c, "#won").await;
    shot(&c, &format!("{tag}-3-person")).await;

    pages(&c, &running, &base, tag).await;
    if let Some(cable) = cut {
        store_down(&c, &base, cable, tag).await;
    }

    // Operations: issue a read-only token, see it listed, sign in with it later.
    c.goto(&format!("{base}/console/#/operations"))
        .await
        .expect("operations");
    find(&c, "#token-name")
        .await
        .send_keys("console-reader")
        .await
        .expect("type");
    find(&c, "#issue-token button[type=submit]")
        .await
        .click()
        .await
        .expect("issue");
    let issued = text_of(&c, "#new-token").await;
    assert!(issued.starts_with("lsk_acme."), "{issued}");
    wait_text(
        &c,
        "section[aria-labelledby=sec-api-tokens] table",
        "console-reader",
    )
    .await;
    // A name the API refuses is shown beside the form with the field.
    find(&c, "#token-name").await.clear().await.expect("clear");
    find(&c, "#issue-token button[type=submit]")
        .await
        .click()
        .await
        .expect("issue");
    wait_text(&c, "#token-form-error", "name").await;
    // What the collector refused (the batch's event without an id) is there, with its reason,
    // and a replay of it is refused again, said so.
    let (_, failed) = running.get("/v1/failed-events?pending=true").await;
    let pending = failed["count"].as_u64().expect("count");
    assert!(pending >= 1, "{failed}");
    let shown = c
        .execute(
            "return document.querySelectorAll('[data-replay-failed]').length",
            vec![],
        )
        .await
        .expect("rows");
    assert_eq!(shown, json!(pending.min(50)));
    let first = failed["failed_events"][0]["id"].as_str().expect("id");
    click(&c, &format!("button[data-replay-failed='{first}']")).await;
    wait_text(&c, "#toast", "1 refused again").await;
    // The workspace's settings, secrets only as whether they are set.
    wait_text(&c, "#workspace-settings", "acme.io").await;
    shot(&c, &format!("{tag}-6-operations")).await;

    // Sign out: the sign-in form, and the session is gone on reload.
    find(&c, "#signout").await.click().await.expect("sign out");
    find(&c, "#token").await;
    c.refresh().await.expect("reload");
    find(&c, "#token").await;

    // A read-only token (the one just issued): no write action on the page, and the API
    // refuses one anyway.
    sign_in(&c, &issued).await;
    wait_text(&c, "#who", "read-only").await;
    c.goto(&format!("{base}/console/#/people/ada"))
        .await
        .expect("open ada");
    wait_text(&c, "#why", "engagement is").await;
    assert!(
        c.find(Locator::Css("#won")).await.is_err(),
        "a read-only user sees no write action"
    );
    let refused = in_page(
        &c,
        "const done = arguments[0]; fetch('/v1/profiles/ada/won', {method: 'POST', headers: {'x-leadstream-console': '1', 'content-type': 'application/json'}, body: '{}'}).then(r => done(r.status));",
    )
    .await;
    assert_eq!(refused, json!(403));
    shot(&c, &format!("{tag}-4-person-read-only")).await;
    // Nor on the other pages.
    c.goto(&format!("{base}/console/#/segments/new"))
        .await
        .expect("segments");
    find(&c, "#builder").await;
    assert!(c.find(Locator::Css("#save-segment")).await.is_err());
    c.goto(&format!("{base}/console/#/lists"))
        .await
        .expect("lists");
    wait_text(&c, "h1", "Lists").await;
    assert!(c.find(Locator::Css("#create-list")).await.is_err());
    c.close().await.expect("close");

    // A phone's width.
    let phone = browser(&driver, 390, 844).await;
    phone
        .goto(&format!("{base}/console/#/people/ada"))
        .await
        .expect("open");
    sign_in(&phone, common::TOKEN).await;
    wait_text(&phone, "#why", "engagement is").await;
    let fits = phone
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            vec![],
        )
        .await
        .expect("width");
    assert_eq!(fits, json!(true), "the page fits a phone's width");
    shot(&phone, &format!("{tag}-5-person-phone")).await;
    for (page, ready) in [
        ("overview", "#overview-facts"),
        ("segments/new", "#builder"),
        ("rfm", "#rfm-controls"),
        ("model", "#model-text"),
        ("campaigns", "#create-campaign"),
    ] {
        phone
            .goto(&format!("{base}/console/#/{page}"))
            .await
            .expect("open");
        find(&phone, ready).await;
        let fits = phone
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth",
                vec![],
            )
            .await
            .expect("width");
        assert_eq!(fits, json!(true), "{page} fits a phone's width");
    }
    shot(&phone, &format!("{tag}-17-campaigns-phone")).await;
    phone.close().await.expect("close");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_in_chromium_embedded() {
    let dir = tempfile::tempdir().expect("dir");
    let running = common::start(common::embedded_config(dir.path())).await;
    check(running, "embedded").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_in_chromium_on_clickhouse() {
    let mut config = common::distributed_config();
    // ClickHouse through a cable the test can cut.
    let cable = cable(&config.clickhouse.url).await;
    config.clickhouse.url = format!("http://{}", cable.addr);
    let running = common::start(config.clone()).await;
    check_with(running, "clickhouse", Some(&cable)).await;
    common::drop_database(&config.clickhouse).await;
}
