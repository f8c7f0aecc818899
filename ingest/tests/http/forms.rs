//! HTML form posts: identify + submission, multipart, spam, per-address limits.

use super::*;

fn forms_harness(per_minute: u32) -> Harness {
    let form = |id: &str, workspace: &str, thank_you_url: Option<&str>| {
        leadstream_platform::config::FormConfig {
            id: id.into(),
            workspace: workspace.into(),
            thank_you_url: thank_you_url.map(str::to_string),
            honeypot_field: "website_url".into(),
        }
    };
    harness_with(IngestConfig {
        forms: vec![
            form("demo-request", "acme", Some("https://acme.io/thanks")),
            form("ghost", "no-such-workspace", None),
        ],
        form_submissions_per_ip_per_minute: per_minute,
        ..IngestConfig::default()
    })
}

async fn submit_form(
    h: &Harness,
    form: &str,
    content_type: &str,
    body: impl Into<Body>,
    accept_json: bool,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    submit_form_with(h, form, content_type, body, accept_json, None).await
}

async fn submit_form_with(
    h: &Harness,
    form: &str,
    content_type: &str,
    body: impl Into<Body>,
    accept_json: bool,
    cookie: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req =
        Request::post(format!("/v1/forms/{form}")).header(header::CONTENT_TYPE, content_type);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if accept_json {
        req = req.header(header::ACCEPT, "application/json");
    }
    let mut req = req.body(body.into()).expect("req");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [198, 51, 100, 9],
            4444,
        ))));
    h.send(req).await
}

const URLENCODED: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_form_post_becomes_an_identify_and_a_submission_and_redirects() {
    let h = forms_harness(10);
    let body = "Email=Ada%40Example.com&first-name=Ada&Organization=Analytical+Engines&message=Call+me&website_url=";
    let (status, headers, _) = submit_form(&h, "demo-request", URLENCODED, body, false).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "https://acme.io/thanks");

    let written = h.written().await;
    assert_eq!(written.len(), 2);
    let (identify, submitted) = (&written[0].1.event, &written[1].1.event);
    assert_eq!(identify.event_type.as_str(), "identify");
    assert_eq!(identify.user_id.as_deref(), Some("ada@example.com"));
    assert_eq!(identify.traits["email"], "ada@example.com");
    assert_eq!(identify.traits["first_name"], "Ada");
    assert_eq!(identify.traits["company"], "Analytical Engines");
    assert_eq!(submitted.event.as_deref(), Some("Form Submitted"));
    assert_eq!(submitted.properties["form_id"], "demo-request");
    assert_eq!(submitted.properties["message"], "Call me");
    assert!(
        submitted.properties.get("website_url").is_none(),
        "the honeypot is not data"
    );
    assert_eq!(written[0].1.workspace, "acme");
}

#[tokio::test]
async fn multipart_forms_answer_json_when_asked_and_keep_the_cookie_identity() {
    let h = forms_harness(10);
    let boundary = "XyZ";
    // The visitor is the cookie's: an `anonymous_id` field would let anyone tie any visitor's
    // history to an email of their choosing.
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\ngrace@example.com\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"anonymous_id\"\r\n\r\nvictim-7\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n\
         --{boundary}--\r\n"
    );
    let (status, _, resp) = submit_form_with(
        &h,
        "demo-request",
        &format!("multipart/form-data; boundary={boundary}"),
        body,
        true,
        Some("ls_aid=anon-42"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp, json!({"success": true, "form_id": "demo-request"}));
    let written = h.written().await;
    assert_eq!(
        written[0].1.event.user_id.as_deref(),
        Some("grace@example.com")
    );
    assert_eq!(written[0].1.event.anonymous_id.as_deref(), Some("anon-42"));
    assert!(
        written.iter().all(|(_, r)| r
            .event
            .enrichment
            .as_ref()
            .is_some_and(|e| e.submitted_traits)),
        "what a visitor typed is marked as submitted"
    );
    // Without the cookie, the field alone identifies nobody.
    let (status, _, resp) = submit_form(
        &h,
        "demo-request",
        URLENCODED,
        "anonymous_id=victim-7&message=hi",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_eq!(
        written[0].0, "acme/grace@example.com",
        "keyed by the person; the scorer merges the device's history into it"
    );
    assert!(
        written[1].1.event.properties.get("cv").is_none(),
        "uploads are skipped"
    );
}

#[tokio::test]
async fn spam_and_bad_form_posts_write_nothing() {
    let h = forms_harness(10);
    // The honeypot: answered as a success, nothing written.
    let (status, headers, _) = submit_form(
        &h,
        "demo-request",
        URLENCODED,
        "email=bot%40spam.io&website_url=http%3A%2F%2Fspam",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "https://acme.io/thanks");

    let (status, _, resp) =
        submit_form(&h, "demo-request", URLENCODED, "email=not-an-address", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "email");
    let (status, _, resp) =
        submit_form(&h, "demo-request", URLENCODED, "message=hello", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "email");
    let (status, _, resp) = submit_form(&h, "demo-request", "application/json", "{}", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "Content-Type");
    let (status, _, resp) =
        submit_form(&h, "no-such-form", URLENCODED, "email=a%40b.io", true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(resp["error"]["code"], "not_found");
    let (status, _, _) = submit_form(&h, "ghost", URLENCODED, "email=a%40b.io", true).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.written().await.is_empty());
}

#[tokio::test]
async fn one_ip_cannot_flood_a_form() {
    let h = forms_harness(2);
    for i in 0..2 {
        let (status, _, _) = submit_form(
            &h,
            "demo-request",
            URLENCODED,
            format!("email=p{i}%40acme.io"),
            true,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, resp) =
        submit_form(&h, "demo-request", URLENCODED, "email=p3%40acme.io", true).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp["error"]["code"], "rate_limited");
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert_eq!(h.written().await.len(), 4);
}
