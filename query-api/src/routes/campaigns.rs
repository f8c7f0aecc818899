//! Campaigns: records of what marketing ran and spent, responses attributed by UTM campaign and
//! promo code, and what came of them (`leadstream_schemas::campaign` defines attribution).
//!
//! | call | what |
//! |---|---|
//! | `POST /v1/campaigns` (a campaign record), `GET /v1/campaigns`, `GET`, `PUT`, `DELETE /v1/campaigns/{id}` | records |
//! | `GET /v1/campaigns/{id}/report` | responses, people reached, leads, customers won, revenue, cost per lead, ROI; per target list (A/B arms) |
//! | `GET /v1/campaigns/compare?ids=A,B,…` | the same figures side by side |
//! | `GET /v1/campaigns/{id}/responses?after=&limit=` | responders and their outcomes, paged by id |
//! | `POST /v1/campaigns/{id}/responses/{profile_id}/lead` | turn a response into a lead: sales gets the person now (202) |

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use leadstream_platform::campaign::ResponderQuery;
use leadstream_platform::segment::{Entity, LIST, list_entity};
use leadstream_platform::store::ObjectRow;
use leadstream_schemas::LifecycleStage;
use leadstream_schemas::campaign::{CampaignSpec, Figures, Responder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use crate::auth::{Workspace, Writer};
use crate::error::QueryError;
use crate::extract::Params;
use crate::extract::parse;
use crate::objects::{self, CAMPAIGNS};
use crate::router::AppState;
use crate::routes::crm_calls::{Accepted, append, message_id, profile_for};
use crate::routes::segments::{PageQuery, page};

pub const CAMPAIGN: &str = "campaign";

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Campaign {
    pub id: String,
    #[serde(flatten)]
    pub spec: CampaignSpec,
    pub created_ms: i64,
    pub updated_ms: i64,
}

fn shown(row: &ObjectRow) -> Result<Campaign, QueryError> {
    let spec = serde_json::from_str(&row.definition)
        .map_err(|e| QueryError::Internal(format!("campaign {}: {e}", row.id)))?;
    Ok(Campaign {
        id: row.id.clone(),
        spec,
        created_ms: row.created_ms,
        updated_ms: row.updated_ms,
    })
}

/// Reads and checks a record, and that its target lists are lists of people.
async fn spec(state: &AppState, workspace: &str, body: &Bytes) -> Result<CampaignSpec, QueryError> {
    let spec: CampaignSpec = parse(body)?;
    spec.check()
        .map_err(|(field, problem)| QueryError::InvalidField { field, problem })?;
    let lists = state.store.objects(workspace, LIST).await?;
    for (i, id) in spec.target_lists.iter().enumerate() {
        let field = format!("target_lists[{i}]");
        match lists.iter().find(|l| l.id == *id) {
            None => {
                return Err(QueryError::InvalidField {
                    field,
                    problem: format!("no list `{id}`"),
                });
            }
            Some(l) if list_entity(l) != Some(Entity::People) => {
                return Err(QueryError::InvalidField {
                    field,
                    problem: "a campaign targets lists of people".into(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(spec)
}

async fn load(state: &AppState, workspace: &str, id: &str) -> Result<ObjectRow, QueryError> {
    CAMPAIGNS.get(&*state.store, workspace, id).await
}

pub async fn create(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    body: Bytes,
) -> Result<(StatusCode, Json<Campaign>), QueryError> {
    let spec = spec(&state, &workspace, &body).await?;
    let row = CAMPAIGNS
        .create(
            &*state.store,
            &workspace,
            spec.name.trim().to_string(),
            spec.description.clone(),
            objects::definition(&spec)?,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(shown(&row)?)))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Campaigns {
    pub campaigns: Vec<Campaign>,
}

pub async fn list(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
) -> Result<Json<Campaigns>, QueryError> {
    let rows = CAMPAIGNS.all(&*state.store, &workspace).await?;
    Ok(Json(Campaigns {
        campaigns: rows.iter().map(shown).collect::<Result<_, _>>()?,
    }))
}

pub async fn get_campaign(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<Campaign>, QueryError> {
    Ok(Json(shown(&load(&state, &workspace, &id).await?)?))
}

pub async fn update(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Campaign>, QueryError> {
    let mut row = load(&state, &workspace, &id).await?;
    let spec = spec(&state, &workspace, &body).await?;
    let existing = CAMPAIGNS.all(&*state.store, &workspace).await?;
    objects::check_unique(&existing, spec.name.trim(), Some(&id))?;
    row.name = spec.name.trim().to_string();
    row.description = spec.description.clone();
    row.definition = objects::definition(&spec)?;
    CAMPAIGNS.save(&*state.store, &mut row).await?;
    Ok(Json(shown(&row)?))
}

pub async fn delete(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, QueryError> {
    CAMPAIGNS
        .delete(&*state.store, &workspace, &id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn responders(
    state: &AppState,
    workspace: &str,
    spec: &CampaignSpec,
    now: i64,
) -> Result<Vec<Responder>, QueryError> {
    let (from_ms, to_ms) = spec.window(now);
    Ok(state
        .store
        .campaign_responders(
            workspace,
            &ResponderQuery {
                utm_campaigns: spec.utm_campaigns.clone(),
                promo_codes: spec.promo_codes.clone(),
                from_ms,
                to_ms,
                until_ms: now,
            },
        )
        .await?)
}

/// One target list's arm of the campaign.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Arm {
    pub list_id: String,
    pub list_name: String,
    /// People on the list now.
    pub targeted: u64,
    /// `people_reached / targeted`.
    pub response_rate: f64,
    /// The arm's share of the cost is the campaign's cost split by people targeted.
    pub figures: Figures,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub campaign_id: String,
    pub name: String,
    pub channel: String,
    pub as_of_ms: i64,
    pub from_ms: i64,
    pub to_ms: i64,
    pub budget: f64,
    pub actual_cost: f64,
    pub expected_revenue: f64,
    pub currency: String,
    pub figures: Figures,
    /// Per target list, for A/B comparisons; responders on no target list are `untargeted`.
    pub arms: Vec<Arm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untargeted: Option<Figures>,
    /// The first page of responders, when asked for (`?responders=N`): what
    /// `GET /v1/campaigns/{id}/responses?limit=N` answers, from the same count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responders: Option<ResponsesPage>,
}

async fn report_of(
    state: &AppState,
    workspace: &str,
    row: &ObjectRow,
    first: Option<usize>,
) -> Result<Report, QueryError> {
    let spec = shown(row)?.spec;
    let now = objects::now_ms();
    let (from_ms, to_ms) = spec.window(now);
    let responders = responders(state, workspace, &spec, now).await?;
    let lists = state.store.objects(workspace, LIST).await?;
    let mut arms = Vec::new();
    let mut targeted_people: Vec<HashSet<String>> = Vec::new();
    for id in &spec.target_lists {
        let members: HashSet<String> = state
            .store
            .set_members(workspace, id)
            .await?
            .into_iter()
            .collect();
        targeted_people.push(members);
    }
    let total_targeted: usize = targeted_people.iter().map(HashSet::len).sum();
    for (id, members) in spec.target_lists.iter().zip(&targeted_people) {
        let cost = if total_targeted == 0 {
            0.0
        } else {
            spec.actual_cost * members.len() as f64 / total_targeted as f64
        };
        let figures = Figures::of(
            responders
                .iter()
                .filter(|r| members.contains(&r.profile_id)),
            cost,
        );
        arms.push(Arm {
            list_id: id.clone(),
            list_name: lists
                .iter()
                .find(|l| l.id == *id)
                .map(|l| l.name.clone())
                .unwrap_or_default(),
            targeted: members.len() as u64,
            response_rate: if members.is_empty() {
                0.0
            } else {
                figures.people_reached as f64 / members.len() as f64
            },
            figures,
        });
    }
    let untargeted = (!spec.target_lists.is_empty()).then(|| {
        Figures::of(
            responders
                .iter()
                .filter(|r| !targeted_people.iter().any(|m| m.contains(&r.profile_id))),
            0.0,
        )
    });
    Ok(Report {
        campaign_id: row.id.clone(),
        name: spec.name.clone(),
        channel: spec.channel.clone(),
        as_of_ms: now,
        from_ms,
        to_ms,
        budget: spec.budget,
        actual_cost: spec.actual_cost,
        expected_revenue: spec.expected_revenue,
        currency: spec.currency.clone(),
        figures: Figures::of(&responders, spec.actual_cost),
        arms,
        untargeted,
        responders: first.map(|n| {
            let count = responders.len();
            let mut page: Vec<Responder> = responders.into_iter().take(n + 1).collect();
            let more = page.len() > n;
            page.truncate(n);
            ResponsesPage {
                count,
                next_after: more
                    .then(|| page.last().map(|r| r.profile_id.clone()))
                    .flatten(),
                responders: page,
            }
        }),
    })
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Include the first this many responders (1 to 1000), as `…/responses?limit=` would.
    #[serde(default)]
    pub responders: Option<usize>,
}

pub async fn report(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<ReportQuery>,
) -> Result<Json<Report>, QueryError> {
    let first = match q.responders {
        None => None,
        Some(n) if (1..=1000).contains(&n) => Some(n),
        Some(_) => {
            return Err(QueryError::InvalidField {
                field: "responders".into(),
                problem: "must be 1 to 1000".into(),
            });
        }
    };
    let row = load(&state, &workspace, &id).await?;
    Ok(Json(report_of(&state, &workspace, &row, first).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    /// Campaign ids, comma-separated.
    pub ids: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Comparison {
    pub campaigns: Vec<Report>,
}

pub async fn compare(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<CompareQuery>,
) -> Result<Json<Comparison>, QueryError> {
    let ids: Vec<&str> = q
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.len() < 2 || ids.len() > 20 {
        return Err(QueryError::InvalidField {
            field: "ids".into(),
            problem: "must name 2 to 20 campaigns, comma-separated".into(),
        });
    }
    let rows = state.store.objects(&workspace, CAMPAIGN).await?;
    let mut campaigns = Vec::new();
    for id in ids {
        let row = rows
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| QueryError::InvalidField {
                field: "ids".into(),
                problem: format!("no campaign `{id}`"),
            })?;
        campaigns.push(report_of(&state, &workspace, row, None).await?);
    }
    Ok(Json(Comparison { campaigns }))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ResponsesPage {
    pub count: usize,
    pub responders: Vec<Responder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

pub async fn responses(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<ResponsesPage>, QueryError> {
    let limit = crate::extract::limit(q.limit, 100, 1000)?;
    let spec = shown(&load(&state, &workspace, &id).await?)?.spec;
    let all = responders(&state, &workspace, &spec, objects::now_ms()).await?;
    let ids: Vec<String> = all.iter().map(|r| r.profile_id.clone()).collect();
    let (ids_page, more) = page(&ids, q.after.as_deref(), limit);
    let wanted: HashSet<&String> = ids_page.iter().collect();
    Ok(Json(ResponsesPage {
        count: all.len(),
        next_after: more.then(|| ids_page.last().cloned()).flatten(),
        responders: all
            .into_iter()
            .filter(|r| wanted.contains(&r.profile_id))
            .collect(),
    }))
}

/// Turns a campaign response into a lead: the person goes to sales now, whatever their score
/// (a `Lead Created` event through the log; the scorer hands them over and tells the CRM).
pub async fn to_lead(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path((id, profile_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Accepted>), QueryError> {
    crate::extract::check_id(&profile_id)?;
    let row = load(&state, &workspace, &id).await?;
    let spec = shown(&row)?.spec;
    let profile = profile_for(&state, &workspace, &profile_id).await?;
    let responded = responders(&state, &workspace, &spec, objects::now_ms())
        .await?
        .iter()
        .any(|r| r.profile_id == profile.profile_id);
    if !responded {
        return Err(QueryError::NotFound {
            what: "campaign response of",
            id: profile.profile_id,
        });
    }
    if matches!(
        profile.lifecycle_stage,
        LifecycleStage::Mql | LifecycleStage::SalesAccepted | LifecycleStage::Customer
    ) {
        return Err(QueryError::Conflict {
            field: "profile_id".into(),
            problem: format!(
                "profile `{}` is already with sales or a customer",
                profile.profile_id
            ),
        });
    }
    let mut properties = Map::new();
    properties.insert("campaign_id".into(), json!(row.id));
    properties.insert("campaign".into(), json!(spec.name));
    let message_id = message_id(&headers, "lead", &profile.profile_id)?;
    let accepted = append(
        &state,
        &workspace,
        &profile.profile_id,
        "Lead Created",
        message_id,
        properties,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
