//! The signature schemes of the webhooks the collector takes. Every check is constant time.
//!
//! - Twilio: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + each POST parameter's
//!   name and value, sorted by name)).
//! - SendGrid Event Webhook: `X-Twilio-Email-Event-Webhook-Signature` = base64(DER ECDSA P-256
//!   SHA-256 signature of `X-Twilio-Email-Event-Webhook-Timestamp` + raw body), checked with the
//!   account's verification key (base64 DER public key).
//! - leadstream's generic formats: `X-Leadstream-Signature: sha256=HEX(HMAC-SHA256(secret, raw body))`.

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

/// The `X-Leadstream-Signature` value for `body` (for senders and tests).
pub fn generic_signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `X-Leadstream-Signature: sha256=HEX` check.
pub fn generic_signature_valid(secret: &str, body: &[u8], header_value: &str) -> bool {
    let Some(Ok(expected)) = header_value.trim().strip_prefix("sha256=").map(hex::decode) else {
        return false;
    };
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
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
