//! A person in the token's workspace: `GET /v1/profiles/{id}` (the profile, following a merge),
//! `GET /v1/profiles?email=` (by email), `…/timeline` (their events, paged, newest first) and
//! `…/memberships` (the lists and saved segments they are in).

use axum::Json;
use axum::extract::{Path, State};
use leadstream_schemas::Profile;

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::extract::{Params, check_id};
use crate::router::AppState;

/// The profile; for an anonymous id that was merged into a person, that person's profile (its
/// `merged_ids` lists the id).
pub async fn get_profile(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<Profile>, QueryError> {
    check_id(&id)?;
    let profile = state.store.profile(&workspace, &id).await?;
    // An anonymous id merged into a person answers with that person's profile.
    let profile = match profile {
        Some(p) if p.merged_into.is_some() => {
            let into = p.merged_into.clone().unwrap_or_default();
            state.store.profile(&workspace, &into).await?.or(Some(p))
        }
        other => other,
    };
    profile.map(Json).ok_or(QueryError::NotFound {
        what: "profile",
        id,
    })
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    pub email: String,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Found {
    /// Every current person with that email (compared case-insensitively), by id.
    pub profiles: Vec<Profile>,
}

/// `GET /v1/profiles?email=…`: people by email address.
pub async fn lookup(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<LookupQuery>,
) -> Result<Json<Found>, QueryError> {
    let email = q.email.trim();
    if email.is_empty() || email.len() > 320 || !email.contains('@') {
        return Err(QueryError::InvalidField {
            field: "email".into(),
            problem: "must be an email address".into(),
        });
    }
    let ids: Vec<String> = state
        .store
        .ids_by_email(&workspace, &[email.to_string()])
        .await?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    Ok(Json(Found {
        profiles: crate::export::profiles(&*state.store, &workspace, &ids).await?,
    }))
}

/// The person `id` stands for (following a merge), or 404.
async fn person(state: &AppState, workspace: &str, id: &str) -> Result<Profile, QueryError> {
    check_id(id)?;
    let not_found = || QueryError::NotFound {
        what: "profile",
        id: id.to_string(),
    };
    let p = state
        .store
        .profile(workspace, id)
        .await?
        .ok_or_else(not_found)?;
    match &p.merged_into {
        Some(into) => state
            .store
            .profile(workspace, into)
            .await?
            .ok_or_else(not_found),
        None => Ok(p),
    }
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// `next` of the previous page.
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct TimelineEvent {
    pub message_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub kind: String,
    pub event: String,
    pub timestamp: String,
    pub timestamp_ms: i64,
    pub properties: serde_json::Value,
    pub context: serde_json::Value,
    /// The id it was recorded under, when that is an id merged into this person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Timeline {
    pub profile_id: String,
    pub events: Vec<TimelineEvent>,
    /// Pass as `before` for the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /v1/profiles/{id}/timeline?before=&limit=50`: a person's events, newest first, with the
/// events of the anonymous ids merged into them.
pub async fn timeline(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<TimelineQuery>,
) -> Result<Json<Timeline>, QueryError> {
    let limit = crate::extract::limit(q.limit, 50, 500)?;
    let before = match q.before.as_deref() {
        None => None,
        Some(cursor) => {
            let parsed = cursor
                .split_once(':')
                .and_then(|(ms, mid)| ms.parse::<i64>().ok().map(|ms| (ms, mid.to_string())));
            Some(parsed.ok_or_else(|| QueryError::InvalidField {
                field: "before".into(),
                problem: "must be the `next` of a previous page".into(),
            })?)
        }
    };
    let p = person(&state, &workspace, &id).await?;
    let mut ids = vec![p.profile_id.clone()];
    ids.extend(p.merged_ids.iter().cloned());
    let rows = state
        .store
        .person_events(&workspace, &ids, before, limit)
        .await?;
    let next = (rows.len() == limit)
        .then(|| {
            rows.last()
                .map(|r| format!("{}:{}", r.timestamp_ms, r.message_id))
        })
        .flatten();
    let json = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
    let events = rows
        .into_iter()
        .map(|r| TimelineEvent {
            timestamp: chrono::DateTime::from_timestamp_millis(r.timestamp_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
            timestamp_ms: r.timestamp_ms,
            properties: json(&r.properties),
            context: json(&r.context),
            via: (r.profile_id != p.profile_id).then(|| r.profile_id.clone()),
            message_id: r.message_id,
            event_type: r.event_type,
            kind: r.kind,
            event: r.event,
        })
        .collect();
    Ok(Json(Timeline {
        profile_id: p.profile_id,
        events,
        next,
    }))
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Named {
    pub id: String,
    pub name: String,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Memberships {
    pub profile_id: String,
    /// Lists of people the person is on, and lists of accounts their account is on.
    pub lists: Vec<Named>,
    /// Saved segments the person is in now.
    pub segments: Vec<Named>,
}

/// `GET /v1/profiles/{id}/memberships`: the lists and saved segments a person is in now.
pub async fn memberships(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<Memberships>, QueryError> {
    use leadstream_platform::segment::{LIST, Resolver, SEGMENT};
    use leadstream_schemas::segment::Segment;
    let p = person(&state, &workspace, &id).await?;
    let mut sets = state.store.sets_of(&workspace, &p.profile_id).await?;
    if let Some(account) = &p.account {
        sets.extend(state.store.sets_of(&workspace, account).await?);
    }
    let lists = state
        .store
        .objects(&workspace, LIST)
        .await?
        .into_iter()
        .filter(|l| sets.contains(&l.id))
        .map(|l| Named {
            id: l.id,
            name: l.name,
        })
        .collect();
    let now = chrono::Utc::now().timestamp_millis();
    let resolver = Resolver::load(&*state.store, &workspace).await?;
    let mut segments = Vec::new();
    for row in state.store.objects(&workspace, SEGMENT).await? {
        let Some(def) = serde_json::from_str(&row.definition)
            .ok()
            .and_then(|v| Segment::parse(&v).ok())
        else {
            continue;
        };
        let only = Segment::And(vec![def, Segment::Ids(vec![p.profile_id.clone()])]);
        let Ok(resolved) = resolver.resolve(only, &state.segment_limits) else {
            continue;
        };
        if !state
            .store
            .segment_members(&workspace, &resolved, now)
            .await?
            .is_empty()
        {
            segments.push(Named {
                id: row.id,
                name: row.name,
            });
        }
    }
    Ok(Json(Memberships {
        profile_id: p.profile_id,
        lists,
        segments,
    }))
}
