//! The tracking pixel: page views and events from a GIF request, its cookie.

use super::*;

async fn pixel(
    h: &Harness,
    query: &str,
    cookie: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(format!("/v1/p.gif?{query}"));
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let response = h
        .app
        .clone()
        .oneshot(req.body(Body::empty()).expect("req"))
        .await
        .expect("response");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, bytes.to_vec())
}

#[tokio::test]
async fn the_pixel_records_page_views_and_events_and_sets_the_anonymous_cookie() {
    let h = harness();
    let (status, headers, body) =
        pixel(&h, &format!("wk={KEY}&url=https%3A%2F%2Facme.io%2Fpricing%3Futm_source%3Dnews&title=Pricing&ref=https%3A%2F%2Fgoogle.com"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, leadstream_ingest::routes::pixel::GIF.to_vec());
    assert_eq!(headers[header::CONTENT_TYPE], "image/gif");
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("no-store")
    );
    assert_eq!(headers["x-leadstream-outcome"], "accepted");
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        cookie.starts_with("ls_aid=") && cookie.contains("Max-Age=31536000"),
        "{cookie}"
    );
    let id = cookie
        .trim_start_matches("ls_aid=")
        .split(';')
        .next()
        .expect("id")
        .to_string();

    // The next hit carries the cookie: same anonymous id, no new cookie.
    let (_, headers, _) = pixel(
        &h,
        &format!("wk={KEY}&e=Email%20Opened&p.email_id=m-7&p.campaign_id=c-1"),
        Some(&format!("ls_aid={id}")),
    )
    .await;
    assert_eq!(headers["x-leadstream-outcome"], "accepted");
    assert!(headers.get(header::SET_COOKIE).is_none());

    let written = h.written().await;
    assert_eq!(written.len(), 2);
    let page = &written[0].1.event;
    assert_eq!(page.event_type.as_str(), "page");
    assert_eq!(page.anonymous_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        page.context
            .page
            .as_ref()
            .and_then(|p| p.referrer.as_deref()),
        Some("https://google.com")
    );
    assert_eq!(
        page.context
            .campaign
            .as_ref()
            .and_then(|c| c.source.as_deref()),
        Some("news")
    );
    let open = &written[1].1.event;
    assert_eq!(open.event.as_deref(), Some("Email Opened"));
    assert_eq!(open.anonymous_id.as_deref(), Some(id.as_str()));
    assert_eq!(open.properties["email_id"], "m-7");
    assert_eq!(written[1].0, format!("acme/{id}"));
}

#[tokio::test]
async fn the_pixel_answers_a_gif_also_when_it_refuses_the_event() {
    let h = harness();
    for (query, outcome) in [
        ("e=Email%20Opened&aid=a1", "unauthorized"),
        ("wk=wk_nobody&aid=a1", "unauthorized"),
        // Reserved for the query API: refused (and kept among failed events).
        (
            &*format!("wk={KEY}&aid=a1&e=Lead%20Created"),
            "rejected; field=event; `Lead Created` is reserved: turn a campaign response into a lead with the query API",
        ),
    ] {
        let (status, headers, body) = pixel(&h, query, None).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(body, leadstream_ingest::routes::pixel::GIF.to_vec());
        assert_eq!(headers["x-leadstream-outcome"], outcome, "{query}");
    }
    assert!(h.written().await.is_empty());
    let failed = h.failed_events().await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].endpoint, "/v1/p.gif");
    assert_eq!(failed[0].event_name.as_deref(), Some("Lead Created"));
    let (_, text) = h.get("/metrics").await;
    assert!(
        text.contains("leadstream_ingest_pixel_hits_total{outcome=\"rejected\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn the_pixel_keeps_an_event_missing_what_its_kind_expects() {
    let h = harness();
    let (_, headers, _) = pixel(
        &h,
        &format!("wk={KEY}&aid=a1&e=Order%20Completed&p.order_id=o&p.revenue=-5"),
        None,
    )
    .await;
    assert_eq!(headers["x-leadstream-outcome"], "accepted");
    let written = h.written().await;
    let enrichment = written[0].1.event.enrichment.clone().expect("enriched");
    assert_eq!(enrichment.expectation_misses[0].field, "properties.revenue");
    // No currency sent: the workspace's (the default, USD).
    assert_eq!(enrichment.currency.as_deref(), Some("USD"));
}

#[tokio::test]
async fn the_pixel_cookie_can_be_switched_off_or_renamed() {
    let h = harness_with(IngestConfig {
        cookie: leadstream_platform::config::CookieConfig {
            enabled: false,
            ..Default::default()
        },
        ..IngestConfig::default()
    });
    // No cookie and no id: nothing identifies the visitor, so the event is refused.
    let (_, headers, _) = pixel(&h, &format!("wk={KEY}"), None).await;
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert_eq!(
        headers["x-leadstream-outcome"],
        "rejected; field=userId; one of userId or anonymousId is required"
    );

    let h = harness_with(IngestConfig {
        cookie: leadstream_platform::config::CookieConfig {
            name: "vid".into(),
            domain: Some(".acme.io".into()),
            max_age_days: 30,
            enabled: true,
        },
        ..IngestConfig::default()
    });
    let (_, headers, _) = pixel(&h, &format!("wk={KEY}"), None).await;
    let cookie = headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(
        cookie.starts_with("vid=")
            && cookie.contains("Domain=.acme.io")
            && cookie.contains("Max-Age=2592000"),
        "{cookie}"
    );
}
