//! `leadstream config check` and `leadstream config print`.

use leadstream_platform::config::{Config, Mode};

/// Keys whose values are secrets, wherever they sit in the config: masked by `config print`.
/// `*_sha256` (hashes) and `*_file` (paths) are shown.
fn is_secret(key: &str) -> bool {
    if key.ends_with("_sha256") || key.ends_with("_file") {
        return false;
    }
    ["password", "secret", "token", "write_keys"]
        .iter()
        .any(|s| key.contains(s))
}

fn mask(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) if !s.is_empty() => *s = "********".to_string(),
        toml::Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

fn mask_secrets(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table.iter_mut() {
                if is_secret(key) {
                    mask(v);
                } else {
                    mask_secrets(v);
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

/// The effective config (defaults < file < environment < flags) as TOML, secrets masked.
pub fn print(config: &Config) -> anyhow::Result<String> {
    let mut value = toml::Value::try_from(config)?;
    mask_secrets(&mut value);
    Ok(toml::to_string_pretty(&value)?)
}

/// What a valid config would do: where it listens and what it connects to, no secret shown.
pub fn describe(config: &Config) -> String {
    let mut lines = vec![format!("mode: {:?}", config.mode).to_lowercase()];
    lines.push(format!("collector listens on {}", config.ingest.listen));
    lines.push(format!("query API listens on {}", config.query.listen));
    if let Some(addr) = config.security.metrics_listen {
        lines.push(format!("metrics on the admin listener {addr}"));
    }
    match config.mode {
        Mode::Embedded => {
            lines.push(format!("data in {}", config.data_dir.display()));
        }
        Mode::Distributed => {
            lines.push(format!("scorer listens on {}", config.scorer.listen));
            lines.push(format!(
                "kafka: {}; events on {} ({} partitions when created), group {}",
                config.kafka.describe(),
                config.kafka.events_topic,
                config.kafka.partitions,
                config.kafka.consumer_group
            ));
            lines.push(format!("clickhouse: {}", config.clickhouse.describe()));
            lines.push(format!(
                "collector spool in {}",
                config
                    .ingest
                    .spool
                    .dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("spool"))
                    .display()
            ));
        }
    }
    let names: Vec<&str> = config.workspaces.iter().map(|w| w.name.as_str()).collect();
    lines.push(format!(
        "{} declared workspace(s){}",
        names.len(),
        if names.is_empty() {
            String::new()
        } else {
            format!(": {}", names.join(", "))
        }
    ));
    for w in &config.crm.webhooks {
        lines.push(format!(
            "CRM webhook {}: {}",
            w.name,
            leadstream_platform::config::origin(&w.url)
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_masks_every_secret_and_keeps_the_rest() {
        let mut config = Config::default();
        config.clickhouse.password = "ch-pass".into();
        config.kafka.sasl_password = Some("kafka-pass".into());
        config.security.metrics_token = Some("metrics-tok".into());
        config.workspaces = vec![leadstream_platform::config::WorkspaceConfig {
            name: "acme".into(),
            write_keys: vec!["wk_secret".into()],
            api_tokens: vec!["tok_secret".into()],
            api_token_sha256: vec!["ab".repeat(32)],
            ..Default::default()
        }];
        let text = print(&config).expect("prints");
        for secret in [
            "ch-pass",
            "kafka-pass",
            "metrics-tok",
            "wk_secret",
            "tok_secret",
        ] {
            assert!(!text.contains(secret), "{secret} shown:\n{text}");
        }
        assert!(text.contains(&"ab".repeat(32)), "hashes are shown");
        assert!(text.contains("name = \"acme\""));
        assert!(text.contains("events_topic = \"leadstream.events\""));
        // What it prints is a config that loads again.
        let back: Config = toml::from_str(&text).expect("a config again");
        assert_eq!(back.kafka.events_topic, "leadstream.events");
    }
}
