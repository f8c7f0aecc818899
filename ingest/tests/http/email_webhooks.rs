//! Email providers' event webhooks (SendGrid's signed events, the generic signed format).

use super::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;

const SECRET: &str = "generic-email-webhook-secret";

fn sendgrid_key() -> SigningKey {
    SigningKey::from_slice(&[42u8; 32]).expect("key")
}

fn harness() -> Harness {
    let public = p256::PublicKey::from(sendgrid_key().verifying_key());
    let mut c = IngestConfig::default();
    c.email.sendgrid_verification_key =
        Some(STANDARD.encode(public.to_public_key_der().expect("der").as_bytes()));
    c.email.webhook_secret = Some(SECRET.into());
    harness_with(c)
}

async fn sendgrid(h: &Harness, body: &str, tamper: bool) -> (StatusCode, Value) {
    sendgrid_at(h, body, tamper, chrono::Utc::now().timestamp()).await
}

async fn sendgrid_at(h: &Harness, body: &str, tamper: bool, at: i64) -> (StatusCode, Value) {
    let ts = at.to_string();
    let sig: Signature = sendgrid_key().sign(&[ts.as_bytes(), body.as_bytes()].concat());
    let tampered = (at + 1).to_string();
    let signed_ts = if tamper {
        tampered.as_str()
    } else {
        ts.as_str()
    };
    let req = Request::post(format!("/v1/webhooks/email/sendgrid?wk={KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            "x-twilio-email-event-webhook-signature",
            STANDARD.encode(sig.to_der().as_bytes()),
        )
        .header("x-twilio-email-event-webhook-timestamp", signed_ts)
        .body(Body::from(body.to_string()))
        .expect("req");
    let (status, _, body) = h.send(req).await;
    (status, body)
}

#[tokio::test]
async fn sendgrid_events_become_email_events() {
    let h = harness();
    let body = json!([
        {"email": "Ada@Example.com", "timestamp": 1763799000, "event": "delivered", "sg_event_id": "e1", "sg_message_id": "sm1.filter", "campaign_id": "spring"},
        {"email": "ada@example.com", "timestamp": 1763799100, "event": "open", "sg_event_id": "e2", "sg_message_id": "sm1.filter", "sg_machine_open": true, "useragent": "Mozilla/5.0"},
        {"email": "ada@example.com", "timestamp": 1763799200, "event": "click", "sg_event_id": "e3", "sg_message_id": "sm1.filter", "url": "https://acme.io/offer", "user_id": "crm-7"},
        {"email": "ada@example.com", "timestamp": 1763799300, "event": "deferred", "sg_event_id": "e4", "sg_message_id": "sm1.filter"},
        {"email": "ada@example.com", "timestamp": 1763799400, "event": "spamreport", "sg_event_id": "e5"},
        {"email": "bob@example.com", "timestamp": 1763799500, "event": "bounce", "sg_event_id": "e6", "sg_message_id": "sm2", "type": "bounce", "reason": "550 no such user"}
    ]).to_string();
    let (status, resp) = sendgrid(&h, &body, false).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 4);
    assert_eq!(resp["skipped"], 1, "deferred is not an event");
    assert_eq!(resp["rejected"][0]["field"], "[4].sg_message_id");

    let written = h.written().await;
    let got: Vec<(&str, &str, &str, bool)> = written
        .iter()
        .map(|(_, r)| {
            (
                r.event.event.as_deref().expect("name"),
                r.event.user_id.as_deref().expect("user"),
                r.event.message_id.as_deref().expect("id"),
                r.event.enrichment.as_ref().expect("enrichment").bot,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("Email Delivered", "ada@example.com", "e1", false),
            ("Email Opened", "ada@example.com", "e2", true),
            ("Email Clicked", "crm-7", "e3", false),
            ("Email Bounced", "bob@example.com", "e6", false),
        ]
    );
    assert_eq!(written[0].1.event.properties["campaign_id"], "spring");
    assert_eq!(
        written[2].1.event.properties["link_url"],
        "https://acme.io/offer"
    );
    assert_eq!(written[3].1.event.properties["reason"], "550 no such user");
    assert_eq!(
        written[0].1.event.timestamp.map(|t| t.timestamp()),
        Some(1763799000)
    );
}

/// A request signed by SendGrid, not by this test: the key, timestamp, signature and body of
/// SendGrid's own signature-verification example (sendgrid-python's event webhook tests),
/// body byte for byte, trailing CRLF included.
#[tokio::test]
async fn a_webhook_signed_by_sendgrid_itself_is_accepted() {
    const SENDGRID_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
    const SIGNATURE: &str = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
    const TIMESTAMP: &str = "1600112502";
    const BODY: &str = concat!(
        r#"[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","#,
        r#""sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","#,
        r#""sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","#,
        r#""smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]"#,
        "\r\n"
    );
    let mut c = IngestConfig::default();
    c.email.sendgrid_verification_key = Some(SENDGRID_KEY.into());
    // Signed in 2020: past any tolerance but this test's, which checks the signature alone.
    let h = harness_custom(c, |s| {
        s.security = Arc::new(leadstream_platform::config::SecurityConfig {
            webhook_tolerance_secs: 20 * 365 * 86_400,
            ..Default::default()
        })
    });
    let post = |body: &str, signature: &str| {
        Request::post(format!("/v1/webhooks/email/sendgrid?wk={KEY}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-twilio-email-event-webhook-signature", signature)
            .header("x-twilio-email-event-webhook-timestamp", TIMESTAMP)
            .body(Body::from(body.to_string()))
            .expect("req")
    };
    // Without the trailing CRLF SendGrid sends, the signature no longer matches.
    let (status, _, resp) = h.send(post(BODY.trim_end(), SIGNATURE)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
    let (status, _, resp) = h.send(post(BODY, SIGNATURE)).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let written = h.written().await;
    assert_eq!(written.len(), 1);
    let event = &written[0].1.event;
    assert_eq!(event.event.as_deref(), Some("Email Bounced"));
    assert_eq!(event.user_id.as_deref(), Some("hello@world.com"));
    assert_eq!(event.properties["reason"], "Bounced Address");
}

#[tokio::test]
async fn sendgrid_webhooks_must_carry_a_valid_signature() {
    let h = harness();
    let body = json!([{"email": "a@b.io", "event": "open", "sg_message_id": "m"}]).to_string();
    let (status, resp) = sendgrid(&h, &body, true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&resp, "bad_signature", "signature");
    let req = Request::post(format!("/v1/webhooks/email/sendgrid?wk={KEY}"))
        .body(Body::from(body.clone()))
        .expect("req");
    assert_eq!(h.send(req).await.0, StatusCode::UNAUTHORIZED);
    let (status, resp) = sendgrid(&h, "[{not json", false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");
    assert!(h.written().await.is_empty());
    // Not configured: refused.
    let unconfigured = super::harness();
    let req = Request::post(format!("/v1/webhooks/email/sendgrid?wk={KEY}"))
        .body(Body::from(body))
        .expect("req");
    assert_eq!(
        unconfigured.send(req).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let req = Request::post("/v1/webhooks/email/mailchimp")
        .body(Body::empty())
        .expect("req");
    assert_eq!(h.send(req).await.0, StatusCode::NOT_FOUND);
}

async fn generic(h: &Harness, body: &str) -> (StatusCode, Value) {
    let req = Request::post(format!("/v1/webhooks/email/generic?wk={KEY}"))
        .header(
            "x-leadstream-signature",
            leadstream_ingest::signatures::generic_signature(
                SECRET,
                chrono::Utc::now().timestamp(),
                KEY,
                body.as_bytes(),
            ),
        )
        .body(Body::from(body.to_string()))
        .expect("req");
    let (status, _, body) = h.send(req).await;
    (status, body)
}

#[tokio::test]
async fn signed_webhooks_refuse_replays_stale_timestamps_and_other_workspaces() {
    // SendGrid: a signed timestamp past the tolerance (default 5 min) is refused.
    let h = harness();
    let body = json!([{"email": "a@b.io", "event": "click", "sg_event_id": "ev-1",
        "sg_message_id": "m", "url": "https://acme.io/x"}])
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let (status, resp) = sendgrid_at(&h, &body, false, now - 301).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("from now"),
        "{resp}"
    );
    let (status, resp) = sendgrid_at(&h, &body, false, 1_000_000_000).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
    assert!(h.written().await.is_empty());
    // A fresh one posted three times is one event (its sg_event_id is the messageId).
    for _ in 0..3 {
        assert_eq!(sendgrid(&h, &body, false).await.0, StatusCode::OK);
    }
    assert_eq!(h.written().await.len(), 1);

    // Generic: the same signed post three times is one set of events, even without ids.
    let hook = json!({"events": [
        {"type": "clicked", "message_id": "m-9", "recipient": "ada@acme.io", "url": "https://acme.io/p"},
        {"type": "clicked", "message_id": "m-9", "recipient": "ada@acme.io", "url": "https://acme.io/p",
         "event_id": "click-2"}
    ]})
    .to_string();
    let post = |h: &Harness, wk: &str, signature: String, body: String| {
        let req = Request::post(format!("/v1/webhooks/email/generic?wk={wk}"))
            .header("x-leadstream-signature", signature)
            .body(Body::from(body))
            .expect("req");
        let h = h.app.clone();
        async move {
            let r = h.oneshot(req).await.expect("response");
            let status = r.status();
            let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .expect("body");
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let sign = |secret: &str, at: i64, wk: &str, body: &str| {
        leadstream_ingest::signatures::generic_signature(secret, at, wk, body.as_bytes())
    };
    let signed = sign(SECRET, now, KEY, &hook);
    for _ in 0..3 {
        let (status, resp) = post(&h, KEY, signed.clone(), hook.clone()).await;
        assert_eq!(status, StatusCode::OK, "{resp}");
    }
    let clicks = h
        .written()
        .await
        .into_iter()
        .filter(|(_, r)| r.event.event.as_deref() == Some("Email Clicked"))
        .count();
    assert_eq!(
        clicks, 3,
        "the SendGrid click and the two generic ones, once each"
    );
    // Old, or signed for another workspace's write key: refused.
    let (status, resp) = post(&h, KEY, sign(SECRET, now - 3600, KEY, &hook), hook.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
    let (status, resp) = post(&h, OTHER_KEY, signed.clone(), hook.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
    // The old body-only signature is refused with what is wanted.
    let old = format!("sha256={}", "00".repeat(32));
    let (status, resp) = post(&h, KEY, old, hook.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("t=<unix seconds>"),
        "{resp}"
    );

    // A workspace with a secret of its own: the global one does not sign for it.
    let mut c = IngestConfig::default();
    c.email.webhook_secret = Some(SECRET.into());
    let own = harness_custom(c, |s| {
        let ws = |name: &str, key: &str, secret: Option<&str>| WorkspaceConfig {
            name: name.into(),
            write_keys: vec![key.into()],
            email_webhook_secret: secret.map(str::to_string),
            ..Default::default()
        };
        s.registry = Arc::new(Registry::from_parts(
            &[
                ws("acme", KEY, None),
                ws("globex", OTHER_KEY, Some("globex-own-secret")),
            ],
            &[],
        ));
    });
    let (status, _) = post(
        &own,
        OTHER_KEY,
        sign(SECRET, now, OTHER_KEY, &hook),
        hook.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, resp) = post(
        &own,
        OTHER_KEY,
        sign("globex-own-secret", now, OTHER_KEY, &hook),
        hook.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, _) = post(&own, KEY, sign(SECRET, now, KEY, &hook), hook.clone()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_generic_email_format_validates_each_event() {
    let h = harness();
    let body = json!({"events": [
        {"type": "opened", "message_id": "m1", "recipient": "Ada@Example.com", "campaign_id": "c1"},
        {"type": "teleported", "message_id": "m1", "recipient": "ada@example.com"},
        {"type": "clicked", "message_id": "m1", "recipient": "ada@example.com", "url": "https://acme.io"},
        {"type": "clicked", "recipient": "ada@example.com"}
    ]}).to_string();
    let (status, resp) = generic(&h, &body).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 2);
    let fields: Vec<&str> = resp["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| r["field"].as_str().expect("f"))
        .collect();
    assert_eq!(fields, vec!["[1].type", "[3].message_id"]);
    let written = h.written().await;
    assert_eq!(written.len(), 2);
    assert_eq!(
        written[0].1.event.user_id.as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(written[1].1.event.properties["link_url"], "https://acme.io");
}
