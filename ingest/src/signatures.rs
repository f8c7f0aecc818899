//! The signature schemes of the webhooks the collector takes. Every check is constant time.
//!
//! - Twilio: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + each POST parameter's
//!   name and value, sorted by name)).
//! - SendGrid Event Webhook: `X-Twilio-Email-Event-Webhook-Signature` = base64(DER ECDSA P-256
//!   SHA-256 signature of `X-Twilio-Email-Event-Webhook-Timestamp` + raw body), checked with the
//!   account's verification key (base64 DER public key).
//! - leadstream's generic formats: `X-Leadstream-Signature: t=<unix seconds>,v1=HEX(HMAC-SHA256(
//!   secret, "<t>.<write key>.<raw body>"))`: the signature covers the workspace (its write key
//!   in the URL) and a timestamp, which must be within `security.webhook_tolerance_secs`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

fn twilio_mac(auth_token: &str, url: &str, params: &BTreeMap<String, String>) -> Hmac<sha1::Sha1> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("hmac takes any key length");
    mac.update(url.as_bytes());
    for (k, v) in params {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// `X-Twilio-Signature` check (constant time). As Twilio's own validators do, the URL is tried
/// as given, with the scheme's default port added when it has none, and without its port: Twilio
/// may sign `https://t.example.com:443/…` for a webhook configured as `https://t.example.com/…`.
pub fn twilio_signature_valid(
    auth_token: &str,
    url: &str,
    params: &BTreeMap<String, String>,
    signature: &str,
) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    twilio_url_variants(url).iter().any(|candidate| {
        twilio_mac(auth_token, candidate, params)
            .verify_slice(&expected)
            .is_ok()
    })
}

/// `url`, with its port (the scheme's default when it names none) and without any port.
fn twilio_url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Ok(parsed) = url::Url::parse(url) else {
        return variants;
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return variants;
    };
    let rest = &parsed[url::Position::BeforePath..];
    let scheme = parsed.scheme();
    for candidate in [
        format!("{scheme}://{host}:{port}{rest}"),
        format!("{scheme}://{host}{rest}"),
    ] {
        if !variants.contains(&candidate) {
            variants.push(candidate);
        }
    }
    variants
}

/// The `X-Twilio-Signature` Twilio would send (for tools and tests).
pub fn twilio_signature(auth_token: &str, url: &str, params: &BTreeMap<String, String>) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(twilio_mac(auth_token, url, params).finalize().into_bytes())
}

fn generic_mac(secret: &str, timestamp: &str, write_key: &str, body: &[u8]) -> Hmac<sha2::Sha256> {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(write_key.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Leadstream-Signature` value for `body` posted with write key `write_key` at
/// `timestamp` (Unix seconds), for senders and tests: `t=<timestamp>,v1=<hex HMAC-SHA256 of
/// "<timestamp>.<write key>.<body>">`.
pub fn generic_signature(secret: &str, timestamp: i64, write_key: &str, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = generic_mac(secret, &t, write_key, body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `X-Leadstream-Signature: t=…,v1=…` (several `v1` while a secret rotates): the MAC
/// must cover this body, this workspace's write key and a timestamp within `tolerance_secs` of
/// `now`. The error says what is wrong.
pub fn check_generic_signature(
    secret: &str,
    header_value: &str,
    write_key: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), String> {
    let mut timestamp = None;
    let mut macs = Vec::new();
    for part in header_value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.trim()),
            Some(("v1", m)) => macs.push(m.trim()),
            _ => {}
        }
    }
    let (Some(t), false) = (timestamp, macs.is_empty()) else {
        return Err(
            "X-Leadstream-Signature must be `t=<unix seconds>,v1=<hex HMAC-SHA256>`".into(),
        );
    };
    let at: i64 = t
        .parse()
        .map_err(|_| "X-Leadstream-Signature's t is not Unix seconds".to_string())?;
    check_fresh(at, now, tolerance_secs)?;
    let valid = macs.iter().any(|m| {
        hex::decode(m).is_ok_and(|expected| {
            generic_mac(secret, t, write_key, body)
                .verify_slice(&expected)
                .is_ok()
        })
    });
    if valid {
        Ok(())
    } else {
        Err("X-Leadstream-Signature does not verify".into())
    }
}

/// A signed timestamp must be within `tolerance_secs` of `now` (either way): an old signed body
/// replayed is refused.
pub fn check_fresh(at: i64, now: i64, tolerance_secs: u64) -> Result<(), String> {
    let off = now.saturating_sub(at).unsigned_abs();
    if off > tolerance_secs {
        return Err(format!(
            "the signed timestamp is {off} s from now; at most {tolerance_secs} s \
             (security.webhook_tolerance_secs)"
        ));
    }
    Ok(())
}

/// A SendGrid verification key, parsed once.
pub struct SendgridKey(VerifyingKey);

impl SendgridKey {
    /// From the base64 DER public key SendGrid shows in its settings.
    pub fn parse(base64_der: &str) -> Option<SendgridKey> {
        let der = STANDARD.decode(base64_der.trim()).ok()?;
        VerifyingKey::from_public_key_der(&der)
            .ok()
            .map(SendgridKey)
    }

    /// Checks SendGrid's signature of `timestamp` + `body`.
    pub fn verify(&self, timestamp: &str, body: &[u8], signature_b64: &str) -> bool {
        let Ok(der) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        let Ok(signature) = Signature::from_der(&der) else {
            return false;
        };
        let mut signed = Vec::with_capacity(timestamp.len() + body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.extend_from_slice(body);
        self.0.verify(&signed, &signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_twilio_documented_example() {
        // The vector of Twilio's own request-validator tests (twilio-php, twilio-csharp).
        let params: BTreeMap<String, String> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(twilio_signature_valid(
            "12345",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!twilio_signature_valid(
            "12346",
            url,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!twilio_signature_valid(
            "12345",
            &format!("{url}&x=1"),
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn twilio_signatures_over_the_url_with_or_without_its_port_verify() {
        let params: BTreeMap<String, String> = [("MessageSid", "SM1"), ("Body", "STOP")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let path = "/v1/webhooks/sms/twilio?wk=wk_1";
        let with_port = twilio_signature("tok", &format!("https://t.acme.io:443{path}"), &params);
        let without = twilio_signature("tok", &format!("https://t.acme.io{path}"), &params);
        assert!(twilio_signature_valid(
            "tok",
            &format!("https://t.acme.io{path}"),
            &params,
            &with_port
        ));
        assert!(twilio_signature_valid(
            "tok",
            &format!("https://t.acme.io:443{path}"),
            &params,
            &without
        ));
        // A port that is not the scheme's default is dropped as Twilio's validators drop it, but
        // never swapped for another.
        let odd = twilio_signature("tok", &format!("http://t.acme.io:8080{path}"), &params);
        assert!(twilio_signature_valid(
            "tok",
            &format!("http://t.acme.io:8080{path}"),
            &params,
            &odd
        ));
        assert!(!twilio_signature_valid(
            "tok",
            &format!("http://t.acme.io:8081{path}"),
            &params,
            &odd
        ));
        assert!(!twilio_signature_valid(
            "tok",
            &format!("https://t.acme.io{path}&x=1"),
            &params,
            &with_port
        ));
    }

    #[test]
    fn generic_signatures_cover_the_body_the_workspace_and_a_fresh_timestamp() {
        let now = 1_800_000_000;
        let body = br#"{"events":[]}"#;
        let sig = generic_signature("s3cret", now - 10, "wk_a", body);
        assert_eq!(
            check_generic_signature("s3cret", &sig, "wk_a", body, now, 300),
            Ok(())
        );
        // Rotating: any of several v1 values.
        let two = format!("{sig},v1={}", "00".repeat(32));
        assert_eq!(
            check_generic_signature("s3cret", &two, "wk_a", body, now, 300),
            Ok(())
        );
        for (secret, key, b, at) in [
            ("other", "wk_a", body.as_slice(), now),
            ("s3cret", "wk_b", body.as_slice(), now),
            ("s3cret", "wk_a", br#"{"events":[1]}"#.as_slice(), now),
            ("s3cret", "wk_a", body.as_slice(), now + 301),
        ] {
            assert!(check_generic_signature(secret, &sig, key, b, at, 300).is_err());
        }
        let stale = check_generic_signature("s3cret", &sig, "wk_a", body, now + 400, 300);
        assert!(stale.expect_err("stale").contains("410 s from now"));
        // The old body-only form is refused with a message saying what is wanted.
        assert!(
            check_generic_signature("s3cret", "sha256=00", "wk_a", body, now, 300)
                .expect_err("old form")
                .contains("t=<unix seconds>")
        );
    }

    #[test]
    fn sendgrid_signatures_verify_only_for_their_timestamp_and_body() {
        use p256::ecdsa::SigningKey;
        use p256::ecdsa::signature::Signer;
        use p256::pkcs8::EncodePublicKey;
        let signing = SigningKey::from_slice(&[7u8; 32]).expect("key");
        let public = p256::PublicKey::from(signing.verifying_key());
        let public = STANDARD.encode(public.to_public_key_der().expect("der").as_bytes());
        let key = SendgridKey::parse(&public).expect("parses");
        let body = br#"[{"event":"open"}]"#;
        let sig: Signature = signing.sign(&[b"1700000000".as_slice(), body].concat());
        let sig = STANDARD.encode(sig.to_der().as_bytes());
        assert!(key.verify("1700000000", body, &sig));
        assert!(!key.verify("1700000001", body, &sig));
        assert!(!key.verify("1700000000", br#"[{"event":"click"}]"#, &sig));
        assert!(!key.verify("1700000000", body, "bm90IGEgc2lnbmF0dXJl"));
        assert!(SendgridKey::parse("not a key").is_none());
    }
}
