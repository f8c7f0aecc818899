//! How long each console page takes to show, in headless Chromium, on the `query-scale` data
//! (1M profiles, 10M events: load it first with `query-scale`), against the embedded store and
//! ClickHouse. The query API runs in this process (release build) on the stores `query-scale`
//! filled; Chromium (Debian's, over chromedriver) signs in once, then each page is opened the way
//! a person moves through the console (its link: the URL's fragment changes) and timed from then
//! until the page is complete: its ready element is there and nothing on it still says it is
//! loading. The time is the page's own clock (`performance.now()`), so it covers the API calls
//! the page makes, their JSON, and drawing.
//!
//! ```sh
//! bash scripts/services.sh                                   # ClickHouse, tansu, Chromium
//! cargo run --release -p leadstream-benches --bin query-scale -- --profiles 1000000 --events 10000000
//! cargo run --release -p leadstream-benches --bin console-pages -- --runs 5
//! ```
//!
//! Each figure is the median (and the slowest) of `--runs` after one warm-up visit. Before the
//! pages are timed, the program saves the objects the pages show (a segment, a list of that
//! segment's people, a campaign) through the API, as a user would.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use leadstream_platform::config::{Config, Mode, WorkspaceConfig};
use leadstream_platform::telemetry::Heartbeats;
use leadstream_platform::workspaces::Registry;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "tok_console_bench_0123456789";

struct Args {
    runs: usize,
    dir: PathBuf,
    clickhouse: String,
    stores: Vec<String>,
    /// Where to save a screenshot of each page (e.g. for the README); none by default.
    screens: Option<PathBuf>,
    /// Only serve the API (and print its address) until stopped: for timing calls by hand.
    serve_only: bool,
}

fn args() -> Args {
    let mut a = Args {
        runs: 5,
        dir: PathBuf::from("/var/tmp/leadstream-bench"),
        clickhouse: "http://127.0.0.1:8123".into(),
        stores: vec!["embedded".into(), "clickhouse".into()],
        screens: None,
        serve_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match flag.as_str() {
            "--runs" => a.runs = value().parse().expect("a number"),
            "--dir" => a.dir = PathBuf::from(value()),
            "--clickhouse" => a.clickhouse = value(),
            "--store" => a.stores = vec![value()],
            "--screens" => a.screens = Some(PathBuf::from(value())),
            "--serve" => a.serve_only = true,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn config(store: &str, a: &Args, data_dir: &std::path::Path) -> Config {
    let mut c = Config {
        mode: if store == "embedded" {
            Mode::Embedded
        } else {
            Mode::Distributed
        },
        data_dir: data_dir.to_path_buf(),
        workspaces: vec![WorkspaceConfig {
            name: "bench".into(),
            write_keys: vec!["wk_console_bench_0001".into()],
            api_tokens: vec![TOKEN.into()],
            ..Default::default()
        }],
        ..Config::default()
    };
    c.clickhouse.url = a.clickhouse.clone();
    c.clickhouse.database = "leadstream_bench".into();
    c.kafka.brokers = "127.0.0.1:9092".into();
    c.kafka.events_topic = "leadstream_console_bench".into();
    c
}

/// The query API on a loopback port, over `config`'s store.
async fn serve(config: Config, shutdown: CancellationToken) -> String {
    let backends = Arc::new(leadstream_platform::Backends::new(config.clone()));
    let registry = Arc::new(Registry::from_parts(&config.workspaces, &[]));
    let state = leadstream_query_api::server::state(&backends, registry, Heartbeats::default())
        .await
        .expect("query api state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        leadstream_query_api::server::serve(state, listener, shutdown)
            .await
            .expect("serve");
    });
    format!("http://{addr}")
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Value) -> Value {
    let r = http
        .request(method, url)
        .bearer_auth(TOKEN)
        .json(&body)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .expect("call");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

/// The objects the pages show, saved as a user would (once per store; found again on later runs).
async fn objects(base: &str) -> (String, String, String) {
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move { call(&http, reqwest::Method::GET, &url, Value::Null).await }
    };
    let post = |path: &str, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move { call(&http, reqwest::Method::POST, &url, body).await }
    };
    let named = |all: &Value, key: &str, name: &str| {
        all[key]
            .as_array()
            .and_then(|xs| xs.iter().find(|x| x["name"] == name))
            .and_then(|x| x["id"].as_str())
            .map(str::to_string)
    };
    let segment = match named(&get("/v1/segments").await, "segments", "German downloaders") {
        Some(id) => id,
        None => post(
            "/v1/segments",
            json!({"name": "German downloaders", "definition": {"and": [
                {"trait": "country", "eq": "DE"},
                {"score": {"gte": 30}},
                {"did": "file_downloaded", "at_least": 2, "within_days": 400},
            ]}}),
        )
        .await["id"]
            .as_str()
            .expect("id")
            .to_string(),
    };
    let list = match named(&get("/v1/lists").await, "lists", "German buyers, kept") {
        Some(id) => id,
        None => {
            let id = post(
                "/v1/lists",
                json!({"name": "German buyers, kept", "entity": "people"}),
            )
            .await["id"]
                .as_str()
                .expect("id")
                .to_string();
            post(
                &format!("/v1/lists/{id}/members/from-segment"),
                json!({"definition": {"trait": "country", "eq": "DE"}}),
            )
            .await;
            id
        }
    };
    let campaign = match named(&get("/v1/campaigns").await, "campaigns", "Spring webinar") {
        Some(id) => id,
        None => post(
            "/v1/campaigns",
            json!({"name": "Spring webinar", "channel": "events", "utm_campaigns": ["spring"],
                   "start": "2026-03-01", "end": "2026-05-31", "actual_cost": 5000, "target_lists": [list]}),
        )
        .await["id"]
            .as_str()
            .expect("id")
            .to_string(),
    };
    (segment, list, campaign)
}

/// Opens `hash` from the page already loaded and answers the milliseconds until `ready` is there
/// and nothing says it is loading.
async fn visit(c: &Client, hash: &str, ready: &str) -> f64 {
    let script = r#"
        const [hash, ready, done] = arguments;
        const main = document.getElementById('main');
        const before = main.firstElementChild;
        const t0 = performance.now();
        location.hash = hash;
        const settled = () => main.firstElementChild !== before
            && document.querySelector(ready)
            && !document.querySelector('.loading, [aria-busy="true"]');
        (function poll() {
            if (settled()) requestAnimationFrame(() => done(performance.now() - t0));
            else if (main.firstElementChild !== before && main.querySelector('.error:not([hidden])')) done('error: ' + main.querySelector('.error:not([hidden])').textContent);
            else if (performance.now() - t0 > 25000) done(-1);
            else setTimeout(poll, 5);
        })();
    "#;
    let ms = c
        .execute_async(script, vec![json!(hash), json!(ready)])
        .await
        .expect("visit");
    if let Some(text) = ms.as_str() {
        panic!("{hash}: {text}");
    }
    let ms = ms.as_f64().expect("ms");
    assert!(ms >= 0.0, "{hash} never got to {ready}");
    // Errors shown instead of the page would be timed as a page: refuse them.
    if let Ok(e) = c.find(Locator::Css("#main .error:not([hidden])")).await {
        panic!("{hash}: {}", e.text().await.unwrap_or_default());
    }
    ms
}

async fn browser() -> (tokio::process::Child, Client) {
    let port = 9600 + (std::process::id() % 300) as u16;
    let driver = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver (scripts/services.sh installs it)");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"]}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a Chromium session");
    (driver, client)
}

#[tokio::main]
async fn main() {
    // RUST_LOG=… shows the query API's logs (an internal error's cause among them).
    if std::env::var_os("RUST_LOG").is_some() {
        leadstream_platform::telemetry::init_tracing(leadstream_platform::config::LogFormat::Text);
    }
    let a = args();
    for store in a.stores.clone() {
        let data = std::env::temp_dir().join(format!("leadstream-console-bench-{store}"));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("data dir");
        if store == "embedded" {
            // The embedded store `query-scale` filled, as this data directory's store.
            std::os::unix::fs::symlink(&a.dir, data.join("store")).expect("link the store");
        }
        let shutdown = CancellationToken::new();
        let base = serve(config(&store, &a, &data), shutdown.clone()).await;
        if a.serve_only {
            println!("{store}: {base} (token {TOKEN})");
            tokio::signal::ctrl_c().await.expect("ctrl-c");
            return;
        }
        let (segment, list, campaign) = objects(&base).await;
        let (_driver, c) = browser().await;
        c.goto(&format!("{base}/console/")).await.expect("open");
        let input = c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("#token"))
            .await
            .expect("sign-in form");
        input.send_keys(TOKEN).await.expect("token");
        c.find(Locator::Css("#signin button[type=submit]"))
            .await
            .expect("button")
            .click()
            .await
            .expect("sign in");
        c.wait()
            .at_most(Duration::from_secs(120))
            .for_element(Locator::Css("#overview-facts"))
            .await
            .expect("signed in");
        let pages: Vec<(&str, String, &str)> = vec![
            (
                "Overview (30 days)",
                "#/overview?from=2026-05-02&to=2026-06-01".into(),
                "#events-chart canvas",
            ),
            (
                "Overview (365 days)",
                "#/overview?from=2025-06-01&to=2026-06-01".into(),
                "#events-chart canvas",
            ),
            ("Person", "#/people/p0000001".into(), "#why"),
            ("Segments", "#/segments".into(), "#new-segment"),
            (
                "Segment in the builder (count)",
                format!("#/segments/{segment}"),
                "#segment-count[data-count]:not([data-count=''])",
            ),
            ("Lists", "#/lists".into(), "#create-list"),
            (
                "List (members)",
                format!("#/lists/{list}"),
                "#list-members table",
            ),
            ("RFM", "#/rfm?as_of=2026-06-01".into(), ".heat .cell"),
            ("Campaigns", "#/campaigns".into(), "#create-campaign"),
            (
                "Campaign report",
                format!("#/campaigns/{campaign}"),
                "#arms-table",
            ),
            ("Scoring model", "#/model".into(), "#model-text"),
            ("Operations", "#/operations".into(), "#issue-token"),
        ];
        println!("\n{store}: median / slowest of {} visits (ms)", a.runs);
        for (name, hash, ready) in &pages {
            // The warm-up, then the runs; between visits another page, so each is a fresh open.
            let _ = visit(&c, hash, ready).await;
            let mut times = Vec::new();
            for _ in 0..a.runs {
                visit(&c, "#/people", "#q").await;
                times.push(visit(&c, hash, ready).await);
            }
            times.sort_by(f64::total_cmp);
            if let Some(dir) = &a.screens {
                std::fs::create_dir_all(dir).expect("screens dir");
                c.execute("window.scrollTo(0, 0)", vec![])
                    .await
                    .expect("top");
                let png = c.screenshot().await.expect("screenshot");
                let file: String = name
                    .to_lowercase()
                    .chars()
                    .map(|ch| if ch.is_alphanumeric() { ch } else { '-' })
                    .collect();
                std::fs::write(dir.join(format!("{store}-{file}.png")), png).expect("write");
            }
            println!(
                "| {name} | {store} | {:.0} | {:.0} |",
                times[times.len() / 2],
                times[times.len() - 1]
            );
        }
        c.close().await.expect("close");
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
