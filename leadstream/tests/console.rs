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

async fn check(running: common::Running, tag: &str) {
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
    let config = common::distributed_config();
    let running = common::start(config.clone()).await;
    check(running, "clickhouse").await;
    common::drop_database(&config.clickhouse).await;
}
