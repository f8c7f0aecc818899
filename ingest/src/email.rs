//! Signed email links and the heuristics that tell a person's open or click from a machine's.
//!
//! A link token is `"v2." kid "." BASE64URL(nonce ‖ ChaCha20-Poly1305(payload JSON))`, with the
//! cipher's key derived from the signing key `kid` names and `"v2." kid` as associated data. The
//! payload (workspace, campaign, message, recipient, for clicks the target URL, when it was minted
//! and expires) is encrypted: a link in an email shows no address and no target to whoever reads
//! the URL, and the tag authenticates it like a signature. Verification takes the key `kid` names
//! from the configured set, so keys rotate without breaking links already sent; links minted
//! before v2 (`BASE64URL(payload) "." BASE64URL(HMAC-SHA256(secret, "v1." payload))`) still
//! verify. A token that does not verify, names an unknown key, or has expired is refused: the
//! collector never redirects to a target it did not sign.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::KeyInit as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use leadstream_platform::config::{EmailConfig, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a link carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    pub kid: String,
    /// Workspace.
    pub ws: String,
    /// Campaign id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmp: Option<String>,
    /// Message (one send to one recipient): the `email_id` of the events.
    pub msg: String,
    /// Recipient: the person's `userId`.
    pub rcp: String,
    /// Click target; absent for the open pixel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Minted at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("link token is malformed")]
    Malformed,
    #[error("link token was signed with a key this collector does not have")]
    UnknownKey,
    #[error("link token signature does not verify")]
    BadSignature,
    #[error("link token has expired")]
    Expired,
}

/// Signs and verifies link tokens with the configured keys.
pub struct LinkSigner {
    keys: Vec<SigningKey>,
    ttl: chrono::Duration,
}

impl LinkSigner {
    pub fn new(keys: Vec<SigningKey>, ttl_days: u32) -> LinkSigner {
        LinkSigner {
            keys,
            ttl: chrono::Duration::days(i64::from(ttl_days)),
        }
    }

    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty()
    }

    fn mac(secret: &str, payload_b64: &str) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
            .expect("hmac takes any key length");
        mac.update(b"v1.");
        mac.update(payload_b64.as_bytes());
        mac
    }

    /// The link cipher of a signing key: its own key, derived from the secret.
    fn cipher(secret: &str) -> ChaCha20Poly1305 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
            .expect("hmac takes any key length");
        mac.update(b"leadstream email link cipher v2");
        ChaCha20Poly1305::new(&mac.finalize().into_bytes())
    }

    /// A token for `claims` (its `kid`, `iat` and `exp` are set here). `None` without keys.
    pub fn sign(&self, mut claims: LinkClaims, now: i64) -> Option<String> {
        let key = self.keys.first()?;
        claims.kid = key.id.clone();
        claims.iat = now;
        claims.exp = now + self.ttl.num_seconds();
        let payload = serde_json::to_vec(&claims).ok()?;
        let nonce: [u8; 12] = rand::random();
        let aad = format!("v2.{}", key.id);
        let sealed = Self::cipher(&key.secret)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &payload,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        Some(format!("{aad}.{}", URL_SAFE_NO_PAD.encode(body)))
    }

    pub fn verify(&self, token: &str, now: i64) -> Result<LinkClaims, TokenError> {
        let claims = match token.strip_prefix("v2.") {
            Some(rest) => self.open_v2(rest)?,
            None => self.verify_v1(token)?,
        };
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn open_v2(&self, rest: &str) -> Result<LinkClaims, TokenError> {
        let (kid, body) = rest.split_once('.').ok_or(TokenError::Malformed)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        if body.len() < 12 + 16 {
            return Err(TokenError::Malformed);
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or(TokenError::UnknownKey)?;
        let (nonce, sealed) = body.split_at(12);
        let aad = format!("v2.{kid}");
        let payload = Self::cipher(&key.secret)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| TokenError::BadSignature)?;
        let claims: LinkClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.kid != kid {
            return Err(TokenError::BadSignature);
        }
        Ok(claims)
    }

    /// Links minted before v2: a readable payload and its HMAC.
    fn verify_v1(&self, token: &str) -> Result<LinkClaims, TokenError> {
        let (payload, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: LinkClaims =
            serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == claims.kid)
            .ok_or(TokenError::UnknownKey)?;
        Self::mac(&key.secret, payload)
            .verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(claims)
    }

    /// A v1 token (readable payload, HMAC), as links minted before v2 were: for tests.
    pub fn sign_v1(&self, mut claims: LinkClaims, now: i64) -> Option<String> {
        let key = self.keys.first()?;
        claims.kid = key.id.clone();
        claims.iat = now;
        claims.exp = now + self.ttl.num_seconds();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).ok()?);
        let sig = URL_SAFE_NO_PAD.encode(Self::mac(&key.secret, &payload).finalize().into_bytes());
        Some(format!("{payload}.{sig}"))
    }
}

/// A new random signing secret (64 hex characters).
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// The embedded default's signing key: read from `path`, or made and saved there (mode 0600) on
/// the first start, so that links survive restarts without any configuration.
pub fn load_or_create_key(path: &std::path::Path) -> std::io::Result<SigningKey> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey {
                id: "local1".into(),
                secret: new_secret(),
            };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(
                &tmp,
                serde_json::to_vec_pretty(&key).map_err(std::io::Error::other)?,
            )?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            }
            std::fs::rename(&tmp, path)?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// Tells scanners' opens and clicks from people's.
pub struct ScannerDetector {
    user_agents: Vec<String>,
    min_click_delay: Duration,
    burst_links: usize,
    burst_window: Duration,
    /// Recent clicks per (workspace, message): when and which link.
    recent: Mutex<HashMap<MessageKey, Vec<(Instant, String)>>>,
}

/// (workspace, message).
type MessageKey = (String, String);

/// Messages whose recent clicks are remembered at most; older ones are forgotten first.
const MAX_TRACKED_MESSAGES: usize = 100_000;

impl ScannerDetector {
    pub fn new(config: &EmailConfig) -> ScannerDetector {
        ScannerDetector {
            user_agents: config
                .scanner_user_agents
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            min_click_delay: Duration::from_secs(config.min_click_delay_secs),
            burst_links: config.burst_links.max(2),
            burst_window: Duration::from_millis(config.burst_window_ms),
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// A known scanner or mail proxy by its user agent.
    pub fn scanner_agent(&self, user_agent: Option<&str>) -> bool {
        user_agent.is_some_and(|ua| {
            let ua = ua.to_ascii_lowercase();
            self.user_agents.iter().any(|s| ua.contains(s.as_str()))
        })
    }

    /// Whether a click looks machine-made: too soon after the send, or one of several different
    /// links of the message clicked within the burst window.
    pub fn machine_click(&self, claims: &LinkClaims, now_secs: i64) -> bool {
        let too_soon = now_secs.saturating_sub(claims.iat) < self.min_click_delay.as_secs() as i64;
        let url = claims.url.clone().unwrap_or_default();
        let now = Instant::now();
        let Ok(mut recent) = self.recent.lock() else {
            return too_soon;
        };
        if recent.len() >= MAX_TRACKED_MESSAGES {
            let window = self.burst_window;
            recent.retain(|_, clicks| {
                clicks
                    .iter()
                    .any(|(at, _)| now.duration_since(*at) < window)
            });
        }
        let clicks = recent
            .entry((claims.ws.clone(), claims.msg.clone()))
            .or_default();
        clicks.retain(|(at, _)| now.duration_since(*at) < self.burst_window);
        clicks.push((now, url));
        let mut distinct: Vec<&str> = clicks.iter().map(|(_, u)| u.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        too_soon || distinct.len() >= self.burst_links
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> SigningKey {
        SigningKey {
            id: id.into(),
            secret: format!("{id}-secret-0123456789abcdefghijklmnop"),
        }
    }

    fn claims(url: Option<&str>) -> LinkClaims {
        LinkClaims {
            kid: String::new(),
            ws: "acme".into(),
            cmp: Some("c1".into()),
            msg: "m1".into(),
            rcp: "u1".into(),
            url: url.map(str::to_string),
            iat: 0,
            exp: 0,
        }
    }

    #[test]
    fn round_trips_and_refuses_tampering_unknown_keys_and_expiry() {
        let signer = LinkSigner::new(vec![key("k1")], 1);
        let token = signer
            .sign(claims(Some("https://acme.io/a")), 1_000)
            .expect("signed");
        let got = signer.verify(&token, 1_001).expect("verifies");
        assert_eq!(got.url.as_deref(), Some("https://acme.io/a"));
        assert_eq!(got.kid, "k1");
        assert_eq!(
            signer.verify(&token, 1_000 + 86_400),
            Err(TokenError::Expired)
        );
        // Opaque: neither the recipient nor the target can be read off the token.
        let (_, body) = token.rsplit_once('.').expect("dot");
        let bytes = URL_SAFE_NO_PAD.decode(body).expect("base64");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("acme.io") && !text.contains("\"rcp\""),
            "{text}"
        );

        // Any flipped byte fails the tag; so does another key id.
        let mut evil = bytes.clone();
        let last = evil.len() - 1;
        evil[last] ^= 1;
        let forged = format!("v2.k1.{}", URL_SAFE_NO_PAD.encode(&evil));
        assert_eq!(signer.verify(&forged, 1_001), Err(TokenError::BadSignature));
        let two = LinkSigner::new(vec![key("k1"), key("k2")], 1);
        assert_eq!(
            two.verify(&format!("v2.k2.{body}"), 1_001),
            Err(TokenError::BadSignature)
        );
        assert_eq!(signer.verify("no-dot", 1_001), Err(TokenError::Malformed));
        assert_eq!(
            signer.verify("v2.k1.AAAA", 1_001),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            LinkSigner::new(vec![key("other")], 1).verify(&token, 1_001),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn links_minted_before_v2_still_verify_and_are_still_checked() {
        let signer = LinkSigner::new(vec![key("k1")], 1);
        let token = signer
            .sign_v1(claims(Some("https://acme.io/a")), 1_000)
            .expect("signed");
        let got = signer.verify(&token, 1_001).expect("verifies");
        assert_eq!(got.url.as_deref(), Some("https://acme.io/a"));
        // Swap in another target, keep the signature.
        let (_, sig) = token.split_once('.').expect("dot");
        let mut evil = got.clone();
        evil.url = Some("https://evil.example".into());
        let forged = format!(
            "{}.{sig}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).expect("json"))
        );
        assert_eq!(signer.verify(&forged, 1_001), Err(TokenError::BadSignature));
        assert_eq!(
            signer.verify(&token, 1_000 + 86_400),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn rotation_signs_with_the_first_and_verifies_with_all() {
        let old = LinkSigner::new(vec![key("k1")], 30);
        let token = old.sign(claims(None), 1_000).expect("signed");
        let rotated = LinkSigner::new(vec![key("k2"), key("k1")], 30);
        assert!(
            rotated.verify(&token, 1_001).is_ok(),
            "links sent before the rotation still work"
        );
        let fresh = rotated.sign(claims(None), 1_000).expect("signed");
        assert_eq!(rotated.verify(&fresh, 1_001).expect("verifies").kid, "k2");
        assert!(old.verify(&fresh, 1_001).is_err());
    }

    #[test]
    fn the_embedded_key_is_made_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("email-signing-key.json");
        let first = load_or_create_key(&path).expect("create");
        let again = load_or_create_key(&path).expect("read");
        assert_eq!((first.id, first.secret.len()), (again.id, 64));
        assert_eq!(first.secret, again.secret);
    }

    #[test]
    fn machine_clicks_are_told_apart() {
        let detector = ScannerDetector::new(&EmailConfig::default());
        let mut c = claims(Some("https://acme.io/a"));
        c.iat = 1_000;
        assert!(
            detector.machine_click(&c, 1_002),
            "two seconds after the send"
        );
        let mut person = claims(Some("https://acme.io/a"));
        person.msg = "m2".into();
        person.iat = 1_000;
        assert!(!detector.machine_click(&person, 5_000));
        person.url = Some("https://acme.io/b".into());
        assert!(
            !detector.machine_click(&person, 5_000),
            "two links is a person"
        );
        person.url = Some("https://acme.io/c".into());
        assert!(
            detector.machine_click(&person, 5_000),
            "three different links at once is a scanner"
        );
        assert!(detector.scanner_agent(Some("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)")));
        assert!(!detector.scanner_agent(Some("Mozilla/5.0 (Macintosh) Safari/605")));
    }
}
