//! What can be checked of `deploy/` without a container engine or a cluster (this machine has
//! neither; deploy/README.md says so):
//! - the compose file: every service restarts, is health-checked and starts after what it needs
//!   is healthy; named volumes for state; every file it mounts exists; the collectors sit behind
//!   the load balancer with no port of their own; every `LEADSTREAM__*` variable it sets is a
//!   config key that parses and validates on the template;
//! - the image: the binaries it copies are the workspace's, the files it copies exist, the build
//!   context leaves `target/` out;
//! - the first start (`deploy/init.sh`), run for real against the suite's ClickHouse: a config
//!   with a new workspace and its keys printed once, a metrics token, the migrations; a second
//!   start keeps them;
//! - Prometheus' scrape targets are compose services; every metric the alert rules and the
//!   Grafana dashboard query is one the code registers;
//! - the Helm chart: `helm lint`, `helm template`, and every rendered manifest validated against
//!   the Kubernetes schemas (kubernetes-validate, strict), with `scripts/deploy-tools.sh`'s tools.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use leadstream_platform::config::Config;
use serde_yaml::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut v: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    v.apply_merge().expect("merge keys");
    // Nested merges (an anchor that merges another) need a second pass.
    v.apply_merge().expect("merge keys");
    v
}

fn compose() -> Value {
    yaml(&root().join("deploy/docker-compose.yml"))
}

fn services(c: &Value) -> Vec<(String, Value)> {
    c["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(k, v)| (k.as_str().expect("name").to_string(), v.clone()))
        .collect()
}

fn is_leadstream(service: &Value) -> bool {
    service["image"].as_str() == Some("leadstream:local")
}

#[test]
fn the_compose_stack_starts_in_order_and_keeps_its_state() {
    let c = compose();
    let declared: BTreeSet<String> = c["volumes"]
        .as_mapping()
        .expect("named volumes")
        .keys()
        .map(|k| k.as_str().expect("name").to_string())
        .collect();
    let names: BTreeSet<String> = services(&c).into_iter().map(|(n, _)| n).collect();
    for (name, s) in services(&c) {
        let restart = s["restart"].as_str().unwrap_or("");
        if name == "init" {
            assert_eq!(restart, "no", "init runs once per start");
        } else {
            assert_eq!(restart, "unless-stopped", "{name} restarts");
            assert!(
                s["healthcheck"]["test"].is_sequence(),
                "{name} has a health check"
            );
        }
        if let Some(image) = s["image"].as_str() {
            assert!(
                image.contains(':') && !image.ends_with(":latest"),
                "{name}: pinned image, not {image}"
            );
        }
        if let Some(deps) = s["depends_on"].as_mapping() {
            for (dep, how) in deps {
                let dep = dep.as_str().expect("name");
                assert!(names.contains(dep), "{name} depends on unknown {dep}");
                let condition = how["condition"].as_str().unwrap_or("");
                assert!(
                    condition == "service_healthy"
                        || (dep == "init" && condition == "service_completed_successfully"),
                    "{name} waits for {dep} to be healthy, not just started: {condition}"
                );
            }
        } else {
            assert!(
                ["kafka", "clickhouse"].contains(&name.as_str()),
                "{name} depends on nothing"
            );
        }
        for volume in s["volumes"].as_sequence().into_iter().flatten() {
            let spec = volume.as_str().expect("short volume syntax");
            let source = spec.split(':').next().expect("source");
            if source.starts_with('.') {
                let path = root().join("deploy").join(source);
                assert!(
                    path.exists(),
                    "{name} mounts {}, which is missing",
                    path.display()
                );
            } else {
                assert!(
                    declared.contains(source),
                    "{name}: volume {source} is declared"
                );
            }
        }
        if name.starts_with("ingest-") {
            assert!(
                s["ports"].is_null(),
                "{name} is reached through the load balancer only"
            );
        }
        if is_leadstream(&s) && name != "init" {
            let probe = s["healthcheck"]["test"][1].as_str().unwrap_or("");
            assert_eq!(
                probe, "leadstream",
                "{name} is probed with `leadstream probe`"
            );
        }
    }
    // State lives in volumes: the broker's log, ClickHouse's data, each collector's own spool.
    for (service, mount) in [
        ("kafka", "kafka-data:"),
        ("clickhouse", "clickhouse-data:"),
        ("ingest-1", "spool-1:"),
        ("ingest-2", "spool-2:"),
    ] {
        let s = &c["services"][service];
        assert!(
            s["volumes"]
                .as_sequence()
                .expect("volumes")
                .iter()
                .any(|v| v.as_str().is_some_and(|v| v.starts_with(mount))),
            "{service} keeps {mount} in a volume"
        );
    }
    // The scorer's stop outlasts a revocation's flush (30 s).
    assert_eq!(c["services"]["scorer"]["stop_grace_period"], "45s");
    // ClickHouse has its own user; the services log in as it with the same password.
    let ch = &c["services"]["clickhouse"]["environment"];
    assert_eq!(ch["CLICKHOUSE_USER"], "leadstream");
    assert_eq!(
        ch["CLICKHOUSE_PASSWORD"],
        c["services"]["scorer"]["environment"]["LEADSTREAM__CLICKHOUSE__PASSWORD"]
    );
    // Caddy's address is the one the collectors trust, and it balances over both.
    let caddy_ip = c["services"]["collector"]["networks"]["default"]["ipv4_address"]
        .as_str()
        .expect("fixed address");
    let trusted = c["services"]["ingest-1"]["environment"]["LEADSTREAM__INGEST__TRUSTED_PROXIES"]
        .as_str()
        .expect("trusted proxies");
    assert!(trusted.contains(&format!("{caddy_ip}/32")), "{trusted}");
    let caddyfile =
        std::fs::read_to_string(root().join("deploy/caddy/Caddyfile")).expect("Caddyfile");
    assert!(caddyfile.contains("reverse_proxy ingest-1:8080 ingest-2:8080"));
}

/// Every `LEADSTREAM__*` variable the compose file gives a leadstream service, applied to the
/// config template as the services' figment does: unknown keys and bad values fail here.
#[test]
fn every_variable_the_compose_file_sets_is_a_config_key() {
    let c = compose();
    let template = root().join("deploy/leadstream.distributed.toml");
    let mut seen = 0;
    for (name, s) in services(&c) {
        if !is_leadstream(&s) {
            continue;
        }
        let mut figment =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::file(&template));
        for (key, value) in s["environment"].as_mapping().expect("environment") {
            let key = key.as_str().expect("key");
            let Some(path) = key.strip_prefix("LEADSTREAM__") else {
                continue;
            };
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => panic!("{name}: {key} = {other:?}"),
            };
            // As `${VAR:-default}` expands without the variable set.
            let value = match value.strip_prefix("${").and_then(|v| v.split_once(":-")) {
                Some((_, default)) => default.trim_end_matches('}').to_string(),
                None => value,
            };
            let parsed: figment::value::Value = value.parse().expect("infallible");
            figment = figment.merge(Serialized::default(
                &path.to_ascii_lowercase().replace("__", "."),
                parsed,
            ));
            seen += 1;
        }
        let config: Config = figment
            .extract()
            .unwrap_or_else(|e| panic!("{name}: the compose file's variables: {e}"));
        config
            .validate_with(false)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.starts_with("ingest-") {
            assert_eq!(config.ingest.instances, 2);
            assert_eq!(config.ingest.trusted_proxies.len(), 1);
        }
        assert_eq!(config.clickhouse.user, "leadstream");
    }
    assert!(seen > 10, "the services' variables were read ({seen})");
}

#[test]
fn the_image_ships_the_workspace_binaries_and_leaves_target_out() {
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).expect("Dockerfile");
    for bin in [
        "leadstream",
        "leadstream-ingest",
        "leadstream-scorer",
        "leadstream-query-api",
    ] {
        assert!(
            dockerfile.contains(&format!("/src/target/release/{bin} "))
                || dockerfile.contains(&format!("/src/target/release/{bin}\n"))
                || dockerfile.contains(&format!("/src/target/release/{bin} /usr/local/bin/")),
            "the image copies {bin}"
        );
        // …and it is a binary the workspace builds.
        let package = if bin == "leadstream" {
            "leadstream"
        } else {
            bin.trim_start_matches("leadstream-")
        };
        let manifest =
            std::fs::read_to_string(root().join(package).join("Cargo.toml")).expect("manifest");
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{bin} is built by {package}"
        );
    }
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY deploy") || l.starts_with("COPY scoring"))
    {
        let source = line.split_whitespace().nth(1).expect("source");
        assert!(
            root().join(source).exists(),
            "the image copies {source}, which is missing"
        );
    }
    assert!(dockerfile.contains("USER leadstream"), "not root");
    assert!(dockerfile.contains("HEALTHCHECK"), "a health check");
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"));
    // What the entrypoints run exists in the image: the compose services' commands.
    let c = compose();
    for (name, s) in services(&c) {
        if let Some(cmd) = s["command"][0].as_str()
            && is_leadstream(&s)
        {
            assert!(
                dockerfile.contains(&format!("/usr/local/bin/{cmd}"))
                    || dockerfile.contains(&format!("release/{cmd} ")),
                "{name} runs {cmd}, which the image has"
            );
        }
    }
}

/// The first start, as the `init` service runs it, against the suite's ClickHouse.
#[test]
fn the_first_start_writes_a_workspace_and_a_token_and_migrates_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_leadstream"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let database = leadstream_platform::testing::unique("leadstream_init");
    let config = dir.path().join("leadstream.toml");
    let run = || {
        Command::new("sh")
            .arg(root().join("deploy/init.sh"))
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("LEADSTREAM_CONFIG", &config)
            .env(
                "LEADSTREAM_TEMPLATE",
                root().join("deploy/leadstream.distributed.toml"),
            )
            .env("LEADSTREAM_WORKSPACE", "acme")
            .env(
                "LEADSTREAM__SECURITY__METRICS_TOKEN_FILE",
                dir.path().join("metrics-token"),
            )
            .env(
                "LEADSTREAM__CLICKHOUSE__URL",
                leadstream_platform::testing::clickhouse_url(),
            )
            .env("LEADSTREAM__CLICKHOUSE__USER", "default")
            .env("LEADSTREAM__CLICKHOUSE__DATABASE", &database)
            .env(
                "LEADSTREAM__KAFKA__BROKERS",
                leadstream_platform::testing::kafka_brokers(),
            )
            .env(
                "LEADSTREAM__SCORER__MODEL",
                root().join("scoring/models/default.toml"),
            )
            .env("LEADSTREAM__INGEST__SPOOL__DIR", dir.path().join("spool"))
            .output()
            .expect("init runs")
    };
    let first = run();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(first.status.success(), "{said}");
    assert!(said.contains("write key"), "the keys are shown: {said}");
    assert!(said.contains("applied migration(s) 1, 2"), "{said}");
    let written = std::fs::read_to_string(&config).expect("config written");
    assert!(written.contains("name = \"acme\""), "{written}");
    assert!(!written.contains("0000000000000000"), "no placeholder hash");
    let token = std::fs::read_to_string(dir.path().join("metrics-token")).expect("token");
    assert_eq!(token.len(), 48, "24 random bytes in hex");
    // `config check` in the script passed on it: a config every service accepts, workspace
    // included.
    assert!(said.contains("1 declared workspace(s): acme"), "{said}");

    let second = run();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&second.stdout),
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(second.status.success(), "{said}");
    assert!(said.contains("exists"), "{said}");
    assert!(said.contains("the schema is current"), "{said}");
    assert_eq!(std::fs::read_to_string(&config).expect("config"), written);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("metrics-token")).expect("token"),
        token
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(leadstream_platform::testing::drop_database(
        &leadstream_platform::config::ClickhouseConfig {
            url: leadstream_platform::testing::clickhouse_url(),
            database,
            ..Default::default()
        },
    ));
}

/// Metric names the code registers (string literals `"leadstream_…"` in the services' sources)
/// and the process collector's.
fn registered_metrics() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_threads",
        "up",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    fn walk(dir: &Path, names: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, names);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for piece in text.split('"').skip(1).step_by(2) {
                    if piece.starts_with("leadstream_")
                        && piece.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    {
                        names.insert(piece.to_string());
                    }
                }
            }
        }
    }
    for krate in ["platform", "ingest", "scorer", "query-api"] {
        walk(&root().join(krate).join("src"), &mut names);
    }
    names
}

/// The metric names a PromQL expression reads.
fn queried_metrics(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = expr[i..].starts_with("leadstream_")
            || expr[i..].starts_with("process_")
            || expr[i..].starts_with("up{");
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |e| i + e);
            let name = &expr[i..end];
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|_| name.contains("duration")))
                .unwrap_or(name);
            out.push(base.to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn prometheus_scrapes_the_services_and_alerts_and_dashboards_read_real_metrics() {
    let registered = registered_metrics();
    let names: BTreeSet<String> = services(&compose()).into_iter().map(|(n, _)| n).collect();
    let prometheus = yaml(&root().join("deploy/prometheus/prometheus.yml"));
    let jobs = prometheus["scrape_configs"].as_sequence().expect("jobs");
    assert_eq!(jobs.len(), 3, "one job per service");
    for job in jobs {
        assert_eq!(
            job["authorization"]["credentials_file"], "/config/metrics-token",
            "the first start's token"
        );
        let hosts: Vec<String> = job["static_configs"][0]["targets"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|t| {
                t.as_str()
                    .expect("target")
                    .split(':')
                    .next()
                    .expect("host")
                    .to_string()
            })
            .chain(
                job["dns_sd_configs"][0]["names"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|n| n.as_str().expect("name").to_string()),
            )
            .collect();
        assert!(!hosts.is_empty());
        for host in hosts {
            assert!(
                names.contains(&host),
                "scrape target {host} is a compose service"
            );
        }
    }
    let alerts = yaml(&root().join("deploy/prometheus/alerts.yml"));
    let mut checked = 0;
    for rule in alerts["groups"][0]["rules"].as_sequence().expect("rules") {
        let expr = rule["expr"].as_str().expect("expr");
        for metric in queried_metrics(expr) {
            assert!(
                registered.contains(&metric),
                "alert {} reads {metric}, which nothing registers",
                rule["alert"].as_str().unwrap_or("")
            );
            checked += 1;
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/dashboards/leadstream.json"))
            .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let datasource = yaml(&root().join("deploy/grafana/provisioning/datasources/prometheus.yml"));
    let uid = datasource["datasources"][0]["uid"].as_str().expect("uid");
    let mut panels = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            continue;
        }
        panels += 1;
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let metrics = queried_metrics(expr);
            assert!(!metrics.is_empty(), "{expr}");
            for metric in metrics {
                assert!(
                    registered.contains(&metric),
                    "panel {} reads {metric}, which nothing registers",
                    panel["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(panels >= 12, "{panels} panels");
    assert!(checked > 20);
    // What the issue asks the dashboard to show.
    let text = dashboard.to_string();
    for needed in [
        "leadstream_ingest_requests_total",
        "leadstream_ingest_spool_messages",
        "leadstream_consumer_partition_lag_events",
        "leadstream_scorer_flush_duration_seconds",
        "leadstream_scorer_handoffs_total",
        "leadstream_scorer_webhook_calls_total",
        "leadstream_http_request_duration_seconds_bucket{service=\\\"query\\\"}",
    ] {
        assert!(text.contains(needed), "the dashboard shows {needed}");
    }
}

/// `helm`, `kubernetes-validate`: from `scripts/deploy-tools.sh` (PyPI), or on the PATH.
fn tool(name: &str) -> PathBuf {
    let dir = std::env::var("LEADSTREAM_DEPLOY_TOOLS")
        .unwrap_or_else(|_| "/var/tmp/leadstream-deploy-tools".into());
    let installed = Path::new(&dir).join("bin").join(name);
    if installed.exists() {
        return installed;
    }
    panic!(
        "{name} is missing: run `bash scripts/deploy-tools.sh` (scripts/test.sh does) or set \
         LEADSTREAM_DEPLOY_TOOLS"
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}:\n{text}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_helm_chart_renders_manifests_kubernetes_accepts() {
    let chart = root().join("deploy/helm/leadstream");
    let helm = tool("helm");
    run(Command::new(&helm).arg("lint").arg("--strict").arg(&chart));
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, extra) in [
        ("defaults", vec![]),
        (
            "production",
            vec![
                "--set",
                "scorer.replicas=6",
                "--set",
                "serviceMonitor.enabled=true",
                "--set",
                "ingest.autoscaling.maxReplicas=10",
                "--set",
                "secrets.existingSecret=leadstream-secrets",
                "--set",
                "kafka.securityProtocol=sasl_ssl",
                "--set",
                "kafka.saslMechanism=SCRAM-SHA-512",
                "--set",
                "kafka.saslUsername=leadstream",
                "--set",
                "workspaces=[[workspaces]]\nname = \"acme\"\nwrite_keys = [\"wk_helm_test\"]\n",
            ],
        ),
    ] {
        let rendered = run(Command::new(&helm)
            .args(["template", "leadstream"])
            .arg(&chart)
            .args(["--namespace", "leadstream"])
            .args(&extra));
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&rendered)
            .map(|d| Value::deserialize(d).expect("yaml"))
            .filter(|d| !d.is_null())
            .collect();
        let kinds: BTreeSet<String> = docs
            .iter()
            .map(|d| d["kind"].as_str().expect("kind").to_string())
            .collect();
        for kind in [
            "Deployment",
            "Service",
            "ConfigMap",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
        ] {
            assert!(kinds.contains(kind), "{name}: a {kind} in {kinds:?}");
        }
        // The Kubernetes schemas know every kind but the ServiceMonitor (a CRD): validate the
        // others strictly, that one by its required shape.
        let mut files = Vec::new();
        for (i, doc) in docs.iter().enumerate() {
            if doc["kind"] == "ServiceMonitor" {
                assert_eq!(doc["apiVersion"], "monitoring.coreos.com/v1");
                assert!(doc["spec"]["endpoints"].is_sequence());
                continue;
            }
            let path = dir.path().join(format!("{name}-{i}.yaml"));
            std::fs::write(&path, serde_yaml::to_string(doc).expect("yaml")).expect("write");
            files.push(path);
        }
        run(Command::new(tool("kubernetes-validate"))
            .args(["--strict", "--kubernetes-version", "1.33.0"])
            .args(&files));
        // The config every pod reads is one leadstream accepts (secrets are files in the pod).
        let configmap = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap")
            .expect("config map");
        let toml_text = configmap["data"]["leadstream.toml"]
            .as_str()
            .expect("leadstream.toml");
        let config: Config = toml::from_str(toml_text)
            .unwrap_or_else(|e| panic!("{name}: the chart's leadstream.toml: {e}\n{toml_text}"));
        config
            .validate_with(name == "production")
            .unwrap_or_else(|e| panic!("{name}: {e}\n{toml_text}"));
        assert!(!config.clickhouse.migrate, "the migration Job runs them");
        if name == "production" {
            assert_eq!(config.workspaces[0].name, "acme");
            assert_eq!(
                config.kafka.sasl_password_file.as_deref(),
                Some(Path::new("/run/secrets/leadstream/kafka-password"))
            );
        }
        // Scorers: as many as asked, never more than the partitions; graceful stop longer than
        // a revocation's flush; probes on /health and /ready.
        let scorer = docs
            .iter()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "leadstream-scorer")
            .expect("scorer deployment");
        let pod = &scorer["spec"]["template"]["spec"];
        assert!(
            pod["terminationGracePeriodSeconds"]
                .as_u64()
                .expect("grace")
                > 30
        );
        let container = &pod["containers"][0];
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
        if name == "production" {
            assert_eq!(scorer["spec"]["replicas"], 6);
            assert!(kinds.contains("ServiceMonitor"));
            assert!(!kinds.contains("Secret"), "the existing Secret is used");
        }
    }
    // More scorers than partitions: refused with the reason.
    let out = Command::new(&helm)
        .args(["template", "leadstream"])
        .arg(&chart)
        .args(["--set", "scorer.replicas=13"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("more than kafka.partitions"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

use serde::Deserialize as _;
