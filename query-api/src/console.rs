//! The marketer console: pages served by the query API under `/console`, reading and writing only
//! through the public `/v1` routes.
//!
//! - Assets (`console/` in this crate) are compiled into the binary: no build step, nothing
//!   fetched from elsewhere at run time. A Content-Security-Policy allows scripts, styles and
//!   connections to this origin only, and no inline script.
//! - Sign-in: `POST /console/session` with a workspace's API token sets it as an `HttpOnly`,
//!   `SameSite=Strict` cookie (never in a URL, never readable by the page's scripts), for eight
//!   hours; `DELETE /console/session` signs out.
//! - The cookie authenticates a `/v1` request only when the request says it comes from the
//!   console (`x-leadstream-console: 1`, a header other sites' pages cannot send without a CORS
//!   preflight this API never grants), and when the browser says it comes from this origin
//!   (`Origin` and `Sec-Fetch-Site`, where sent): the defences against cross-site request
//!   forgery besides `SameSite`. A read-only token's console shows no write actions, and the API
//!   refuses them anyway.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use leadstream_platform::workspaces::Scope;

use crate::auth::Caller;
use crate::error::QueryError;
use crate::router::AppState;

/// The session cookie.
pub const COOKIE: &str = "leadstream_console";
/// The header the console's scripts send with every call.
pub const HEADER: &str = "x-leadstream-console";
/// How long a session lasts.
const MAX_AGE_SECS: u32 = 8 * 3600;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'";

/// The files under `/console/assets/`: (name, content type, bytes).
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", JS, include_bytes!("../console/app.js")),
    ("api.js", JS, include_bytes!("../console/api.js")),
    ("builder.js", JS, include_bytes!("../console/builder.js")),
    (
        "campaigns.js",
        JS,
        include_bytes!("../console/campaigns.js"),
    ),
    ("charts.js", JS, include_bytes!("../console/charts.js")),
    ("lists.js", JS, include_bytes!("../console/lists.js")),
    ("models.js", JS, include_bytes!("../console/models.js")),
    (
        "operations.js",
        JS,
        include_bytes!("../console/operations.js"),
    ),
    ("overview.js", JS, include_bytes!("../console/overview.js")),
    ("people.js", JS, include_bytes!("../console/people.js")),
    ("rfm.js", JS, include_bytes!("../console/rfm.js")),
    ("segments.js", JS, include_bytes!("../console/segments.js")),
    ("ui.js", JS, include_bytes!("../console/ui.js")),
    ("style.css", CSS, include_bytes!("../console/style.css")),
    // Vendored (console/vendor/README.md: version, origin, licence).
    (
        "uplot.esm.js",
        JS,
        include_bytes!("../console/vendor/uplot.esm.js"),
    ),
    (
        "uplot.css",
        CSS,
        include_bytes!("../console/vendor/uplot.css"),
    ),
    (
        "uplot-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../console/vendor/uplot-LICENSE"),
    ),
];

const INDEX: &[u8] = include_bytes!("../console/index.html");

/// The token of a console request's session cookie, when the request is one the console's own
/// pages made (see the module's docs); `None` otherwise.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    if headers.get(HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
        return None;
    }
    if !same_origin(headers) {
        return None;
    }
    cookie(headers, COOKIE)
}

/// Whether the browser says the request comes from this origin (or says nothing: a client that
/// is not a browser sends neither header, and needs the token anyway).
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
    {
        return false;
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn page(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    // Revalidated on each load, so an upgrade shows at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /console`: to the page with its trailing slash (relative asset paths).
pub async fn redirect() -> Redirect {
    Redirect::permanent("/console/")
}

/// `GET /console/`: the one page; the script routes by the URL's fragment.
pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// `vocabulary.js`: the names the segment language accepts (event kinds, lifecycle stages,
/// grades, RFM segments), written from this build's own constants so the builder offers
/// exactly what the API takes.
static VOCABULARY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use leadstream_schemas::kinds::EventKind;
    use leadstream_schemas::profile::LifecycleStage;
    let kinds: Vec<(&str, Option<&str>)> = EventKind::all()
        .map(|k| (k.key(), k.event_name()))
        .collect();
    let stages = [
        LifecycleStage::Name,
        LifecycleStage::Mql,
        LifecycleStage::SalesAccepted,
        LifecycleStage::Recycled,
        LifecycleStage::Customer,
    ]
    .map(LifecycleStage::as_str);
    let json = serde_json::json!({
        "kinds": kinds.iter().map(|(k, name)| serde_json::json!({"key": k, "name": name})).collect::<Vec<_>>(),
        "stages": stages,
        "grades": ["A", "B", "C", "D", "E", "F"],
        "rfm": leadstream_schemas::rfm::SEGMENTS,
        "rfm_grid": leadstream_schemas::rfm::GRID,
        "campaign_channels": leadstream_schemas::campaign::CHANNELS,
    });
    format!(
        "// Written by the query API from its own constants.\nexport const VOCABULARY = {json};\n"
    )
});

/// `GET /console/assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    if name == "vocabulary.js" {
        return page(JS, VOCABULARY.as_bytes());
    }
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => page(content_type, body),
        None => QueryError::NotFound {
            what: "console asset",
            id: name,
        }
        .into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub token: String,
}

#[derive(Debug, serde::Serialize)]
pub struct Session {
    pub workspace: String,
    /// `read` or `read-write`.
    pub scope: &'static str,
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Read => "read",
        Scope::ReadWrite => "read-write",
    }
}

fn set_cookie(headers: &HeaderMap, value: &str, max_age: u32) -> HeaderValue {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let text = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `POST /console/session` `{"token": "…"}`: checks the token and keeps it in the session
/// cookie. Only from the console's own page (its header, this origin).
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, QueryError> {
    if headers.get(HEADER).and_then(|v| v.to_str().ok()) != Some("1") || !same_origin(&headers) {
        return Err(QueryError::InvalidField {
            field: HEADER.into(),
            problem: "sign-in is for the console's own page".into(),
        });
    }
    let request: SignIn = serde_json::from_slice(&body).map_err(|e| QueryError::InvalidField {
        field: "token".into(),
        problem: format!("the body must be {{\"token\": \"…\"}}: {e}"),
    })?;
    let token = request.token.trim();
    if token.is_empty() || token.len() > 512 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(QueryError::InvalidField {
            field: "token".into(),
            problem: "must be an API token".into(),
        });
    }
    let (workspace, scope) = crate::auth::check_token(&state, token).await?;
    let mut response = Json(Session {
        workspace,
        scope: scope_name(scope),
    })
    .into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, set_cookie(&headers, token, MAX_AGE_SECS));
    Ok(response)
}

/// `GET /console/session`: who is signed in (401 when nobody).
pub async fn current(Caller(workspace, scope): Caller) -> Json<Session> {
    Json(Session {
        workspace,
        scope: scope_name(scope),
    })
}

/// `DELETE /console/session`: signs out (the cookie is cleared).
pub async fn sign_out(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, set_cookie(&headers, "", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    /// The vendored chart library is the pinned release, unchanged (console/vendor/README.md).
    #[test]
    fn vendored_files_are_the_pinned_release() {
        use sha2::Digest;
        for (name, sha256) in [
            (
                "uplot.esm.js",
                "5dd9b3281aa64b461b42d9945f6adb2649d346502b12281a9ae0d46599a80eba",
            ),
            (
                "uplot.css",
                "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
            ),
        ] {
            let (_, _, bytes) = ASSETS.iter().find(|(n, _, _)| *n == name).expect(name);
            assert_eq!(hex::encode(sha2::Sha256::digest(bytes)), sha256, "{name}");
        }
    }

    /// Every module a console script imports is served.
    #[test]
    fn every_import_is_an_asset() {
        for (name, _, bytes) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let text = std::str::from_utf8(bytes).expect("utf-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(from) = line.split(" from '").nth(1) else {
                    continue;
                };
                let module = from.trim_end_matches(['\'', ';']).trim_start_matches("./");
                assert!(
                    module == "vocabulary.js" || ASSETS.iter().any(|(n, _, _)| *n == module),
                    "{name} imports {module}, which is not served"
                );
            }
        }
    }

    #[test]
    fn the_cookie_counts_only_on_the_consoles_own_requests() {
        let ok = [
            ("host", "127.0.0.1:8081"),
            ("origin", "http://127.0.0.1:8081"),
            ("sec-fetch-site", "same-origin"),
            ("x-leadstream-console", "1"),
            ("cookie", "a=b; leadstream_console=tok_1"),
        ];
        assert_eq!(session_token(&headers(&ok)).as_deref(), Some("tok_1"));
        // Without the console's header (a plain form or link from anywhere).
        assert_eq!(
            session_token(&headers(
                &ok[..3].iter().chain(&ok[4..]).copied().collect::<Vec<_>>()
            )),
            None
        );
        // From another site.
        let mut cross = ok;
        cross[1] = ("origin", "https://evil.example");
        assert_eq!(session_token(&headers(&cross)), None);
        let mut cross = ok;
        cross[2] = ("sec-fetch-site", "cross-site");
        assert_eq!(session_token(&headers(&cross)), None);
        // No cookie.
        assert_eq!(session_token(&headers(&ok[..4])), None);
    }
}
