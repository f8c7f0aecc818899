//! Write keys: HTTP Basic auth with the key as user name and an empty password (what Segment's
//! and RudderStack's SDKs send), or `writeKey` in the JSON body.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;

/// The write key of a request: the Basic auth user name, else the body's `writeKey`.
pub fn write_key(headers: &HeaderMap, body_key: Option<&str>) -> Option<String> {
    basic_user(headers).or_else(|| body_key.filter(|k| !k.is_empty()).map(str::to_string))
}

/// The Basic auth user name, the write key of Segment's and RudderStack's server SDKs.
pub fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map(|(u, _)| u).unwrap_or(&text);
    (!user.is_empty()).then(|| user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_user_name_or_body() {
        let mut h = HeaderMap::new();
        assert_eq!(write_key(&h, Some("body-key")), Some("body-key".into()));
        assert_eq!(write_key(&h, Some("")), None);
        // "wk_1:" base64
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic d2tfMTo="));
        assert_eq!(write_key(&h, Some("body-key")), Some("wk_1".into()));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(write_key(&h, None), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(write_key(&h, None), None);
    }
}
