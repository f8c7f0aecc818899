//! Minted email links: opens, clicks, signed redirects, expiry, scanners, who may mint.

use super::*;

#[tokio::test]
async fn minted_links_never_take_their_base_from_the_host_header() {
    let body = leadstream_ingest::routes::email::mint_body(
        "m-1",
        "user-1",
        None,
        &["https://acme.io/offer"],
    );
    // No public URL, listening on loopback (the quickstart): the collector's own address.
    let mut config = email_config(0);
    config.email.public_url = None;
    let h = harness_with(config.clone());
    let (status, minted) = mint(&h, Some(API_TOKEN), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let pixel = minted["open_pixel"].as_str().expect("pixel");
    assert!(pixel.starts_with("http://127.0.0.1:8080/v1/o/"), "{pixel}");
    // Reachable from elsewhere and no public URL: refused, naming the setting (never `Host`).
    config.listen = "0.0.0.0:8080".parse().expect("addr");
    let h = harness_with(config.clone());
    let (status, refused) = mint(&h, Some(API_TOKEN), body.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["code"], "not_configured", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("ingest.public_url")
    );
    // The public URL, whatever the request's Host says.
    config.public_url = Some("https://t.example.com/".into());
    let h = harness_with(config);
    let (status, minted) = mint(&h, Some(API_TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let link = minted["links"][0]["tracked_url"].as_str().expect("link");
    assert!(link.starts_with("https://t.example.com/v1/c/"), "{link}");
}

#[tokio::test]
async fn minted_links_record_opens_and_clicks_and_redirect_only_to_signed_targets() {
    let h = harness_with(email_config(0));
    let body = leadstream_ingest::routes::email::mint_body(
        "m-1",
        "user-1",
        Some("spring"),
        &["https://acme.io/offer", "https://acme.io/blog"],
    );
    // A read-only token may not mint links (they record opens and clicks for anyone).
    let (status, refused) = mint(&h, Some("tok_acme_read_0123456789"), body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_error(&refused, "forbidden", "Authorization");
    let (status, minted) = mint(&h, Some(API_TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    assert!(
        minted["open_pixel"]
            .as_str()
            .expect("pixel")
            .starts_with("http://t.acme.io/v1/o/")
    );

    let (status, headers, gif) = get_path(&h, &path_of(&minted["open_pixel"]), BROWSER).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gif, leadstream_ingest::routes::pixel::GIF.to_vec());
    assert_eq!(headers["x-leadstream-outcome"], "accepted");

    let (status, headers, _) =
        get_path(&h, &path_of(&minted["links"][0]["tracked_url"]), BROWSER).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(headers[header::LOCATION], "https://acme.io/offer");

    // Tampering with the token never redirects.
    let mut tampered = path_of(&minted["links"][1]["tracked_url"]).into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for path in [tampered.as_str(), "/v1/c/not-a-token", "/v1/c/abc.def"] {
        let (status, headers, body) = get_path(&h, path, BROWSER).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(headers.get(header::LOCATION).is_none());
        let body: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"]["code"], "invalid_link_token");
    }
    // An open token is not a click token.
    let open_as_click = path_of(&minted["open_pixel"])
        .replace("/v1/o/", "/v1/c/")
        .replace(".gif", "");
    assert_eq!(
        get_path(&h, &open_as_click, BROWSER).await.0,
        StatusCode::BAD_REQUEST
    );

    let written = h.written().await;
    assert_eq!(written.len(), 2);
    let (open, click) = (&written[0].1.event, &written[1].1.event);
    assert_eq!(open.event.as_deref(), Some("Email Opened"));
    assert_eq!(open.user_id.as_deref(), Some("user-1"));
    assert_eq!(open.properties["email_id"], "m-1");
    assert_eq!(open.properties["campaign_id"], "spring");
    assert_eq!(click.event.as_deref(), Some("Email Clicked"));
    assert_eq!(click.properties["link_url"], "https://acme.io/offer");
    assert!(
        !click.enrichment.as_ref().expect("enrichment").bot,
        "a person's click"
    );
    assert_eq!(written[1].1.workspace, "acme");
}

#[tokio::test]
async fn expired_links_are_refused() {
    use leadstream_ingest::email::{LinkClaims, LinkSigner};
    let h = harness();
    let signer = LinkSigner::new(email_config(0).email.signing_keys, 1);
    let claims = LinkClaims {
        kid: String::new(),
        ws: "acme".into(),
        cmp: None,
        msg: "m".into(),
        rcp: "u".into(),
        url: Some("https://acme.io".into()),
        iat: 0,
        exp: 0,
    };
    let old = signer
        .sign(claims, chrono::Utc::now().timestamp() - 2 * 86_400)
        .expect("signed");
    let (status, headers, body) = get_path(&h, &format!("/v1/c/{old}"), BROWSER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get(header::LOCATION).is_none());
    assert!(String::from_utf8_lossy(&body).contains("expired"));
}

#[tokio::test]
async fn scanner_opens_and_clicks_are_kept_but_flagged() {
    let h = harness(); // clicks within 5 s of the send are a scanner's
    let body =
        leadstream_ingest::routes::email::mint_body("m-2", "user-2", None, &["https://acme.io/a"]);
    let (_, minted) = mint(&h, Some(API_TOKEN), body).await;
    let scanner_ua =
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
    assert_eq!(
        get_path(&h, &path_of(&minted["open_pixel"]), scanner_ua)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get_path(&h, &path_of(&minted["links"][0]["tracked_url"]), BROWSER)
            .await
            .0,
        StatusCode::FOUND
    );
    let written = h.written().await;
    assert_eq!(written.len(), 2, "kept");
    assert!(
        written
            .iter()
            .all(|(_, r)| r.event.enrichment.as_ref().expect("enrichment").bot),
        "flagged"
    );
}

#[tokio::test]
async fn minting_needs_a_token_and_valid_links() {
    let h = harness();
    let good = leadstream_ingest::routes::email::mint_body("m", "u", None, &["https://acme.io"]);
    let (status, body) = mint(&h, None, good.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized", "Authorization");
    assert_eq!(
        mint(&h, Some("tok_wrong_000000000000"), good).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = mint(
        &h,
        Some(API_TOKEN),
        leadstream_ingest::routes::email::mint_body(
            "m",
            "u",
            None,
            &["https://acme.io", "javascript:alert(1)"],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_field", "links[1]");
    let (status, body) = mint(&h, Some(API_TOKEN), json!({"recipient": "u"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_field", "message_id");
    let (status, body) = mint(
        &h,
        Some(API_TOKEN),
        json!({"message_id": " ", "recipient": "u"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_field", "message_id");

    let unsigned = harness_with(IngestConfig::default());
    let (status, body) = mint(
        &unsigned,
        Some(API_TOKEN),
        leadstream_ingest::routes::email::mint_body("m", "u", None, &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "not_configured");
}

#[tokio::test]
async fn minted_links_go_only_to_the_workspace_sites_and_issued_tokens_mint() {
    let h = harness();
    // The workspace's site (acme.io) and its subdomains: yes. Anywhere else: a 400 naming the link.
    let ok = leadstream_ingest::routes::email::mint_body(
        "m",
        "u",
        None,
        &[
            "https://acme.io/a",
            "https://www.acme.io/b",
            "http://blog.acme.io",
        ],
    );
    let (status, resp) = mint(&h, Some(API_TOKEN), ok).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    for evil in [
        "https://evil.example/x",
        "https://acme.io.evil.example/",
        "https://notacme.io/",
    ] {
        let body =
            leadstream_ingest::routes::email::mint_body("m", "u", None, &["https://acme.io", evil]);
        let (status, resp) = mint(&h, Some(API_TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{evil}: {resp}");
        assert_error(&resp, "invalid_field", "links[1]");
    }
    // ingest.email.link_domains adds hosts for every workspace (`*.` takes subdomains).
    let mut c = email_config(5);
    c.email.link_domains = vec!["*.shop.example".into(), "partner.example".into()];
    let wider = harness_with(c);
    let body = leadstream_ingest::routes::email::mint_body(
        "m",
        "u",
        None,
        &["https://eu.shop.example/", "https://partner.example/"],
    );
    assert_eq!(mint(&wider, Some(API_TOKEN), body).await.0, StatusCode::OK);

    // Tokens issued through the query API (`lsk_…`) mint too; a read-only one is 403; an
    // expired one 401 token_expired; a well-shaped unknown one 401.
    let issued = |scope, expires_ms| {
        let token = format!("lsk_acme.{}", "ab".repeat(24));
        let stored = leadstream_platform::auth::StoredToken {
            sha256: leadstream_platform::workspaces::hash_token(&token),
            scope,
            hint: token[token.len() - 4..].to_string(),
            expires_ms,
        };
        (token, stored)
    };
    use leadstream_platform::workspaces::Scope;
    let (token, stored) = issued(Scope::ReadWrite, None);
    let body = leadstream_ingest::routes::email::mint_body("m", "u", None, &["https://acme.io"]);
    assert_eq!(
        mint(&h, Some(&token), body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    h.issued.insert("acme", &stored);
    let (status, resp) = mint(&h, Some(&token), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    h.issued.insert(
        "acme",
        &leadstream_platform::auth::StoredToken {
            scope: Scope::Read,
            ..stored.clone()
        },
    );
    assert_eq!(
        mint(&h, Some(&token), body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    h.issued.insert(
        "acme",
        &leadstream_platform::auth::StoredToken {
            expires_ms: Some(1),
            ..stored.clone()
        },
    );
    let (status, resp) = mint(&h, Some(&token), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp["error"]["code"], "token_expired", "{resp}");
    h.issued.forget(&stored.sha256);
    assert_eq!(
        mint(&h, Some(&token), body).await.0,
        StatusCode::UNAUTHORIZED
    );
}
