//! `POST /v1/forms/{id}`: lead capture from a plain HTML form (urlencoded or multipart).
//!
//! Fields become traits: `email`, `name`, `first_name`, `last_name`, `company`, `phone`, `title`
//! (and their usual spellings: `firstName`, `organization`, `tel`, …). The submission is written as
//! an `identify` (the person is their lower-cased email, and the anonymous-id cookie's visitor;
//! an `anonymous_id` field is ignored) and a `Form Submitted` event with every other field as a
//! property. The identify's traits are marked as submitted (`enrichment.submitted_traits`): the
//! scorer lets them fill traits the person does not have and never overwrite one already set.
//!
//! The answer is 303 to the form's `thank_you_url`, or JSON when the request asks for it
//! (`Accept: application/json`) or the form has no thank-you page. A filled honeypot field is
//! answered the same way but writes nothing; a client IP over its per-minute limit gets 429.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Map, Value, json};

use crate::error::IngestError;
use crate::intake::{accept_value, append, facts_for_workspace};
use crate::metrics;
use crate::router::AppState;

/// Per-IP limit on form submissions.
pub struct FormLimits {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl FormLimits {
    pub fn new(per_minute: u32) -> FormLimits {
        FormLimits {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    fn allow(&self, ip: Option<IpAddr>) -> bool {
        match (&self.limiter, ip) {
            (Some(l), Some(ip)) => l.check_key(&ip).is_ok(),
            _ => true,
        }
    }
}

/// Form field names → trait names.
fn trait_name(field: &str) -> Option<&'static str> {
    Some(
        match field.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "email" | "e_mail" | "email_address" | "emailaddress" => "email",
            "name" | "full_name" | "fullname" => "name",
            "first_name" | "firstname" | "given_name" => "first_name",
            "last_name" | "lastname" | "family_name" | "surname" => "last_name",
            "company" | "company_name" | "companyname" | "organization" | "organisation" => {
                "company"
            }
            "phone" | "tel" | "telephone" | "phone_number" | "mobile" => "phone",
            "title" | "job_title" | "jobtitle" | "position" => "title",
            _ => return None,
        },
    )
}

/// Fields not to copy into properties: the honeypot and leadstream's own.
const INTERNAL: &[&str] = &["anonymous_id", "writeKey"];

async fn read_fields(
    request: Request,
    state: &AppState,
) -> Result<BTreeMap<String, String>, IngestError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let limit = state.config.max_event_bytes;
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, state).await.map_err(|e| {
            IngestError::InvalidField {
                field: "body".into(),
                problem: e.body_text(),
            }
        })?;
        let mut fields = BTreeMap::new();
        let mut total = 0usize;
        while let Some(field) =
            multipart
                .next_field()
                .await
                .map_err(|e| IngestError::InvalidField {
                    field: "body".into(),
                    problem: e.body_text(),
                })?
        {
            let name = field.name().unwrap_or_default().to_string();
            if field.file_name().is_some() {
                continue; // Uploads are not leads' data; skip them.
            }
            let value = field.text().await.map_err(|e| IngestError::InvalidField {
                field: name.clone(),
                problem: e.body_text(),
            })?;
            total += name.len() + value.len();
            if total > limit {
                return Err(IngestError::BodyTooLarge { limit });
            }
            fields.insert(name, value);
        }
        Ok(fields)
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.is_empty()
    {
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| IngestError::BodyTooLarge { limit })?;
        Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
    } else {
        Err(IngestError::InvalidField {
            field: "Content-Type".into(),
            problem: "must be application/x-www-form-urlencoded or multipart/form-data".into(),
        })
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

fn done(thank_you: Option<&str>, json_wanted: bool, form_id: &str) -> Response {
    match thank_you {
        Some(url) if !json_wanted => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response()
        }
        _ => (
            StatusCode::OK,
            axum::Json(json!({"success": true, "form_id": form_id})),
        )
            .into_response(),
    }
}

pub async fn submit(
    State(state): State<Arc<AppState>>,
    Path(form_id): Path<String>,
    request: Request,
) -> Result<Response, IngestError> {
    let Some(form) = state.config.forms.iter().find(|f| f.id == form_id).cloned() else {
        return Err(IngestError::NotFound(format!("no form `{form_id}`")));
    };
    if !state.registry.names().contains(&form.workspace) {
        return Err(IngestError::NotConfigured(format!(
            "form `{form_id}` names workspace `{}`, which does not exist",
            form.workspace
        )));
    }
    let headers = request.headers().clone();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client_ip = state.enricher.client_ip(peer.map(|p| p.ip()), &headers);
    if !state.form_limits.allow(client_ip) {
        metrics::FORM_SUBMISSIONS
            .with_label_values(&["rate_limited"])
            .inc();
        return Err(IngestError::RateLimited {
            retry_after_secs: 60,
        });
    }
    let json_wanted = wants_json(&headers);
    let fields = read_fields(request, &state).await?;

    if fields
        .get(&form.honeypot_field)
        .is_some_and(|v| !v.trim().is_empty())
    {
        metrics::FORM_SUBMISSIONS.with_label_values(&["spam"]).inc();
        return Ok(done(form.thank_you_url.as_deref(), json_wanted, &form_id));
    }

    let mut traits = Map::new();
    let mut properties = Map::new();
    properties.insert("form_id".into(), json!(form_id));
    for (name, value) in &fields {
        let value = value.trim();
        if value.is_empty() || *name == form.honeypot_field || INTERNAL.contains(&name.as_str()) {
            continue;
        }
        match trait_name(name) {
            Some(t) => {
                traits.insert(t.into(), json!(value));
            }
            None => {
                properties.insert(name.clone(), json!(value));
            }
        }
    }
    let email = traits
        .get("email")
        .and_then(Value::as_str)
        .map(|e| e.to_ascii_lowercase());
    if let Some(e) = &email {
        let valid = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !valid {
            return Err(IngestError::InvalidField {
                field: "email".into(),
                problem: "is not an email address".into(),
            });
        }
        traits.insert("email".into(), json!(e));
    }
    // The visitor is who the first-party cookie says, never what the post says: a field could
    // tie anyone's anonymous id to any email.
    let cookie = &state.config.cookie;
    let anonymous_id = cookie
        .enabled
        .then(|| crate::routes::pixel::read_cookie(&headers, &cookie.name))
        .flatten();
    if email.is_none() && anonymous_id.is_none() {
        return Err(IngestError::InvalidField {
            field: "email".into(),
            problem: "is required (or an anonymous-id cookie)".into(),
        });
    }

    let facts = facts_for_workspace(&state, &headers, peer, form.workspace.clone(), None);
    let ids = json!({"userId": email, "anonymousId": anonymous_id});
    let mut identify = json!({"type": "identify", "traits": traits, "context": {"channel": "web"}});
    let mut submitted = json!({"type": "track", "event": "Form Submitted", "properties": properties, "context": {"channel": "web"}});
    for event in [&mut identify, &mut submitted] {
        for key in ["userId", "anonymousId"] {
            if !ids[key].is_null() {
                event[key] = ids[key].clone();
            }
        }
    }
    let mut records = Vec::new();
    for value in [identify, submitted] {
        let payload = value.to_string();
        match accept_value(value, &facts, &state) {
            Ok(mut r) => {
                if let Some(e) = r.event.enrichment.as_mut() {
                    e.submitted_traits = true;
                }
                records.push(r);
            }
            Err(r) => {
                let endpoint = format!("/v1/forms/{form_id}");
                return Err(
                    crate::intake::refuse_one(&state, &facts, &endpoint, r, &payload).await,
                );
            }
        }
    }
    append(&state, records).await?;
    metrics::FORM_SUBMISSIONS
        .with_label_values(&["accepted"])
        .inc();
    Ok(done(form.thank_you_url.as_deref(), json_wanted, &form_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_map_to_traits() {
        assert_eq!(trait_name("Email"), Some("email"));
        assert_eq!(trait_name("first-name"), Some("first_name"));
        assert_eq!(trait_name("Organization"), Some("company"));
        assert_eq!(trait_name("tel"), Some("phone"));
        assert_eq!(trait_name("message"), None);
    }

    #[test]
    fn the_per_ip_limit_counts_each_address() {
        let limits = FormLimits::new(2);
        let (a, b): (IpAddr, IpAddr) = (
            "192.0.2.1".parse().expect("ip"),
            "192.0.2.2".parse().expect("ip"),
        );
        assert!(limits.allow(Some(a)) && limits.allow(Some(a)));
        assert!(!limits.allow(Some(a)));
        assert!(limits.allow(Some(b)));
        assert!(FormLimits::new(0).allow(Some(a)));
    }
}
