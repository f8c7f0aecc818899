//! The HTTP client under the ClickHouse client: plain `http://`, or `https://` with rustls (on
//! ring, already in the build), trusting the system's CA certificates or the configured
//! `clickhouse.ca_file`, with an optional client certificate for mutual TLS. ClickHouse Cloud
//! and every managed ClickHouse answer on https only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clickhouse::Client;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ClickhouseConfig;
use crate::store::StoreError;

/// As the clickhouse crate's own client: keep-alive probes, and idle connections dropped before
/// ClickHouse's own 3 s keep-alive timeout closes them under a request.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

fn tls_error(key: &str, problem: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("clickhouse.{key}: {problem}"))
}

fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(key, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_error(
            key,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

/// The rustls configuration `config` asks for.
pub fn tls_config(config: &ClickhouseConfig) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            for cert in certificates("ca_file", path)? {
                roots
                    .add(cert)
                    .map_err(|e| tls_error("ca_file", format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system store may hold certificates rustls cannot parse: skip those.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(tls_error(
                    "url",
                    "https:// but the system has no CA certificates (set clickhouse.ca_file)",
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("url", e))?
        .with_root_certificates(roots);
    match (&config.client_cert_file, &config.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = certificates("client_cert_file", cert)?;
            let key_der = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_error("client_key_file", format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| tls_error("client_key_file", e))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(tls_error(
            "client_cert_file",
            "a client certificate needs its key (client_key_file), and a key its certificate",
        )),
    }
}

/// A ClickHouse client for `config.url` with its user and password, no database chosen yet.
pub fn client(config: &ClickhouseConfig) -> Result<Client, StoreError> {
    let mut http = HttpConnector::new();
    http.set_keepalive(Some(TCP_KEEPALIVE));
    let client = if config.url.starts_with("https://") {
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(config)?)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        Client::with_http_client(
            HyperClient::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(https),
        )
    } else {
        Client::with_http_client(
            HyperClient::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(http),
        )
    };
    Ok(client
        .with_url(&config.url)
        .with_user(&config.user)
        .with_password(&config.password))
}
