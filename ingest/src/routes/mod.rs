//! The collector's endpoints.

pub mod email;
pub mod email_webhooks;
pub mod forms;
pub mod health;
pub mod pixel;
pub mod posthog;
pub mod settings;
pub mod sms;
pub mod track;
pub mod tracker;
pub mod translate;

/// The collector's base URL as outsiders call it: `specific` (a channel's own setting, such as
/// `email.public_url`), else `ingest.public_url`, else `http://` and the request's `Host`.
pub(crate) fn public_base_url(
    config: &leadstream_platform::config::IngestConfig,
    specific: Option<&str>,
    headers: &axum::http::HeaderMap,
) -> String {
    match configured_base_url(config, specific) {
        Some(url) => url,
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            format!("http://{host}")
        }
    }
}

/// The base of the links the collector mints (email open pixels and tracked links), which end
/// up in mailboxes: `specific`, else `ingest.public_url`, else the collector's own address when
/// it listens on loopback only (the embedded quickstart). Never the request's `Host`, which the
/// caller chooses: without a public URL on a collector others can reach, minting is refused.
pub(crate) fn link_base_url(
    config: &leadstream_platform::config::IngestConfig,
    specific: Option<&str>,
) -> Result<String, crate::error::IngestError> {
    match configured_base_url(config, specific) {
        Some(url) => Ok(url),
        None if config.listen.ip().is_loopback() => Ok(format!("http://{}", config.listen)),
        None => Err(crate::error::IngestError::NotConfigured(
            "ingest.public_url (or ingest.email.public_url): the address minted links point \
             to; the request's Host is not used"
                .into(),
        )),
    }
}

/// The base URL the configuration gives: `specific` (a channel's own setting), else
/// `ingest.public_url`, without a trailing `/`.
fn configured_base_url(
    config: &leadstream_platform::config::IngestConfig,
    specific: Option<&str>,
) -> Option<String> {
    specific
        .or(config.public_url.as_deref())
        .map(|url| url.trim_end_matches('/').to_string())
}
