//! The `[clickhouse]` section: where the store is, who to log in as, and how to trust it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid, read_secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickhouseConfig {
    /// HTTP interface.
    pub url: String,
    pub database: String,
    pub user: String,
    /// The password; better from `password_file` or `LEADSTREAM__CLICKHOUSE__PASSWORD`.
    pub password: String,
    /// A file holding the password (a mounted secret), read at start.
    pub password_file: Option<PathBuf>,
    /// Create the database and run migrations at start.
    pub migrate: bool,
    /// For an `https://` url: a PEM file of the CA certificates to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// For mutual TLS: a PEM client certificate (chain) and its PEM private key.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

impl Default for ClickhouseConfig {
    fn default() -> Self {
        ClickhouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "leadstream".into(),
            user: "default".into(),
            password: String::new(),
            password_file: None,
            migrate: true,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

impl ClickhouseConfig {
    /// Checks the `[clickhouse]` section (distributed mode).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(invalid(
                "clickhouse.url",
                "must be an http:// or https:// URL",
            ));
        }
        if !crate::store::clickhouse::valid_identifier(&self.database) {
            return Err(invalid(
                "clickhouse.database",
                "must be letters, digits and '_', not starting with a digit",
            ));
        }
        let tls = [
            ("clickhouse.ca_file", &self.ca_file),
            ("clickhouse.client_cert_file", &self.client_cert_file),
            ("clickhouse.client_key_file", &self.client_key_file),
        ];
        for (key, path) in tls {
            if let Some(path) = path {
                if !self.url.starts_with("https://") {
                    return Err(invalid(key, "is only used with an https:// clickhouse.url"));
                }
                if !path.is_file() {
                    return Err(invalid(
                        key,
                        format!("{} is not a readable file", path.display()),
                    ));
                }
            }
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            return Err(invalid(
                "clickhouse.client_cert_file",
                "a client certificate needs its key (client_key_file), and a key its certificate",
            ));
        }
        Ok(())
    }

    /// Reads `password_file` into `password`.
    pub(super) fn read_secrets(&mut self) -> Result<(), ConfigError> {
        let mut password = (!self.password.is_empty()).then(|| std::mem::take(&mut self.password));
        read_secret("clickhouse.password", &mut password, &self.password_file)?;
        self.password = password.unwrap_or_default();
        Ok(())
    }

    /// Where the store is, with no secret in it (for `config check`, logs).
    pub fn describe(&self) -> String {
        format!(
            "{} database {} as {}",
            super::origin(&self.url),
            self.database,
            self.user
        )
    }
}
