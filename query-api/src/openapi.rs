//! The OpenAPI 3.1 document served at `GET /openapi.json`: every route of
//! [`crate::router`](mod@crate::router) with its parameters, body and answers, the schemas
//! generated from the same Rust types the handlers read and write (schemars). A test checks that
//! the document and the router name the same operations.

use std::sync::OnceLock;

use axum::Json;
use axum::response::IntoResponse;
use leadstream_schemas::{Account, Profile};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::export::ExportQuery;
use crate::routes::{
    accounts, campaigns, crm_calls, failed, handoffs, list_import, lists, models, overview,
    profiles, rfm, scores, segments, tokens, webhooks, workspace,
};

/// One operation being described.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    /// Needs a read-write token.
    write: bool,
    /// Needs no token (health, metrics, this document).
    open: bool,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Map<String, Value>,
}

struct Doc {
    g: SchemaGenerator,
    ops: Vec<Op>,
}

impl Doc {
    fn op(&mut self, method: &'static str, path: &'static str, summary: &'static str) -> &mut Op {
        let parameters = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        self.ops.push(Op {
            method,
            path,
            summary,
            write: false,
            open: false,
            parameters,
            body: None,
            responses: Map::new(),
        });
        self.ops.last_mut().expect("just pushed")
    }

    fn schema<T: JsonSchema>(&mut self) -> Value {
        self.g.subschema_for::<T>().to_value()
    }

    /// The query parameters of `T`'s properties.
    fn query<T: JsonSchema>(&mut self) -> Vec<Value> {
        let root = self.g.root_schema_for::<T>().to_value();
        let required: Vec<&str> = root["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        root["properties"]
            .as_object()
            .map(|props| {
                props
                    .iter()
                    .map(|(name, schema)| {
                        json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": schema})
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Op {
    fn write(&mut self) -> &mut Op {
        self.write = true;
        self
    }

    fn open(&mut self) -> &mut Op {
        self.open = true;
        self
    }

    fn params(&mut self, params: Vec<Value>) -> &mut Op {
        self.parameters.extend(params);
        self
    }

    fn body(&mut self, schema: Value) -> &mut Op {
        self.body =
            Some(json!({"required": true, "content": {"application/json": {"schema": schema}}}));
        self
    }

    fn csv_body(&mut self) -> &mut Op {
        self.body = Some(
            json!({"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}}),
        );
        self
    }

    fn answer(&mut self, code: &str, description: &str, schema: Option<Value>) -> &mut Op {
        let mut r = json!({"description": description});
        if let Some(s) = schema {
            r["content"] = json!({"application/json": {"schema": s}});
        }
        self.responses.insert(code.into(), r);
        self
    }

    fn ok(&mut self, schema: Value) -> &mut Op {
        self.answer("200", "OK", Some(schema))
    }

    fn created(&mut self, schema: Value) -> &mut Op {
        self.answer("201", "Created", Some(schema))
    }

    fn accepted(&mut self, schema: Value) -> &mut Op {
        self.answer(
            "202",
            "Accepted: written to the event log; the scorer applies it",
            Some(schema),
        )
    }

    fn no_content(&mut self) -> &mut Op {
        self.answer("204", "Done", None)
    }

    fn file(&mut self, types: &[&str]) -> &mut Op {
        let content: Map<String, Value> = types
            .iter()
            .map(|t| {
                (
                    (*t).to_string(),
                    json!({"schema": {"type": "string", "format": "binary"}}),
                )
            })
            .collect();
        self.responses.insert(
            "200".into(),
            json!({"description": "The file", "content": content}),
        );
        self
    }
}

const FILES: &[&str] = &[
    "text/csv",
    "application/x-ndjson",
    "application/vnd.apache.parquet",
];

fn describe() -> Doc {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut d = Doc {
        g: settings.into_generator(),
        ops: Vec::new(),
    };
    macro_rules! s {
        ($t:ty) => {
            d.schema::<$t>()
        };
    }
    macro_rules! q {
        ($t:ty) => {
            d.query::<$t>()
        };
    }
    let any = json!({"type": "object"});

    // People.
    let (p, b) = (q!(profiles::LookupQuery), s!(profiles::Found));
    d.op(
        "get",
        "/v1/profiles",
        "People by email address (case-insensitive)",
    )
    .params(p)
    .ok(b);
    let b = s!(Profile);
    d.op(
        "get",
        "/v1/profiles/{id}",
        "A person's profile (an id merged into a person answers that person)",
    )
    .ok(b);
    let (p, b) = (q!(profiles::TimelineQuery), s!(profiles::Timeline));
    d.op(
        "get",
        "/v1/profiles/{id}/timeline",
        "A person's events, newest first, paged",
    )
    .params(p)
    .ok(b);
    let b = s!(profiles::Memberships);
    d.op(
        "get",
        "/v1/profiles/{id}/memberships",
        "The lists and saved segments a person is in now",
    )
    .ok(b);
    let (p, b) = (q!(scores::HistoryQuery), s!(scores::History));
    d.op(
        "get",
        "/v1/profiles/{id}/scores/history",
        "Score changes with their reasons",
    )
    .params(p)
    .ok(b);
    let (p, b) = (q!(scores::WhyQuery), s!(scores::Why));
    d.op(
        "get",
        "/v1/profiles/{id}/scores/why",
        "Why a score is what it is, by rule",
    )
    .params(p)
    .ok(b);
    let b = s!(handoffs::Handoffs);
    d.op(
        "get",
        "/v1/profiles/{id}/handoffs",
        "The person's hand-offs to sales",
    )
    .ok(b);
    let (body, b) = (s!(crm_calls::RecycleRequest), s!(crm_calls::Accepted));
    d.op(
        "post",
        "/v1/profiles/{id}/recycle",
        "Sales hands a lead back to marketing",
    )
    .write()
    .body(body)
    .accepted(b);
    let (body, b) = (s!(crm_calls::WonRequest), s!(crm_calls::Accepted));
    d.op(
        "post",
        "/v1/profiles/{id}/won",
        "Sales won a deal with the person",
    )
    .write()
    .body(body)
    .accepted(b);
    let body = s!(models::WhatIfRequest);
    d.op(
        "post",
        "/v1/models/what-if",
        "Re-score stored history with a changed model",
    )
    .body(body)
    .ok(any.clone());
    let (p, b) = (q!(overview::OverviewQuery), s!(overview::Overview));
    d.op(
        "get",
        "/v1/overview",
        "The workspace at a glance: events per day and channel, new people, hand-offs, scores, grades, stages",
    )
    .params(p)
    .ok(b);
    let b = s!(workspace::WorkspaceInfo);
    d.op(
        "get",
        "/v1/workspace",
        "The workspace's settings (secrets only as whether they are set)",
    )
    .ok(b);
    let b = s!(models::ModelInfo);
    d.op(
        "get",
        "/v1/models/live",
        "The scoring model the scorers run (its file's text)",
    )
    .ok(b.clone());
    let body = s!(models::CheckRequest);
    d.op(
        "post",
        "/v1/models/check",
        "Check a model file (400 naming the line of an error)",
    )
    .body(body)
    .ok(b);

    // Segments.
    let (body, b) = (s!(segments::PreviewRequest), s!(segments::Preview));
    d.op(
        "post",
        "/v1/segments/preview",
        "Count and sample of an unsaved segment definition",
    )
    .body(body)
    .ok(b);
    let b = s!(segments::SegmentList);
    d.op("get", "/v1/segments", "Saved segments").ok(b);
    let (body, b) = (s!(segments::CreateSegment), s!(segments::SavedSegment));
    d.op("post", "/v1/segments", "Save a segment")
        .write()
        .body(body)
        .created(b);
    let b = s!(segments::SavedSegment);
    d.op("get", "/v1/segments/{id}", "A saved segment").ok(b);
    let (body, b) = (s!(segments::UpdateSegment), s!(segments::SavedSegment));
    d.op("put", "/v1/segments/{id}", "Change a saved segment")
        .write()
        .body(body)
        .ok(b);
    d.op(
        "delete",
        "/v1/segments/{id}",
        "Delete a saved segment (409 while others refer to it)",
    )
    .write()
    .no_content();
    let (p, b) = (q!(segments::SampleQuery), s!(segments::Preview));
    d.op(
        "get",
        "/v1/segments/{id}/preview",
        "Count and sample of a saved segment now",
    )
    .params(p)
    .ok(b);
    let (p, b) = (q!(segments::PageQuery), s!(segments::MembersPage));
    d.op(
        "get",
        "/v1/segments/{id}/members",
        "Members' profiles, paged by id",
    )
    .params(p)
    .ok(b);
    let p = q!(ExportQuery);
    d.op(
        "get",
        "/v1/segments/{id}/export",
        "Every member as CSV, JSON lines or Parquet",
    )
    .params(p)
    .file(FILES);
    let b = s!(segments::SnapshotList);
    d.op(
        "get",
        "/v1/segments/{id}/snapshots",
        "Snapshots of a segment",
    )
    .ok(b);
    let b = s!(segments::Snapshot);
    d.op(
        "post",
        "/v1/segments/{id}/snapshots",
        "Keep the members of this moment",
    )
    .write()
    .created(b);
    let (p, b) = (q!(segments::CompareQuery), s!(segments::Comparison));
    d.op(
        "get",
        "/v1/segments/{id}/compare",
        "Who joined, left and stayed between two snapshots",
    )
    .params(p)
    .ok(b);
    let (body, b) = (
        s!(rfm::FamilyMigrationRequest),
        s!(leadstream_schemas::rfm::Migration),
    );
    d.op(
        "post",
        "/v1/segments/migration",
        "Migration between a family of saved segments, from snapshots",
    )
    .body(body)
    .ok(b);

    // Lists.
    let b = s!(lists::Lists);
    d.op("get", "/v1/lists", "Marketing lists").ok(b);
    let (body, b) = (s!(lists::CreateList), s!(lists::List));
    d.op(
        "post",
        "/v1/lists",
        "Create a list of people or of accounts",
    )
    .write()
    .body(body)
    .created(b);
    let (body, b) = (s!(lists::Combine), s!(lists::List));
    d.op(
        "post",
        "/v1/lists/combine",
        "Union, intersection or difference of lists, as a new list",
    )
    .write()
    .body(body)
    .created(b);
    let b = s!(lists::List);
    d.op("get", "/v1/lists/{id}", "A list with its member count")
        .ok(b);
    let (body, b) = (s!(lists::RenameList), s!(lists::List));
    d.op("patch", "/v1/lists/{id}", "Rename a list")
        .write()
        .body(body)
        .ok(b);
    d.op(
        "delete",
        "/v1/lists/{id}",
        "Delete a list (409 while a segment refers to it)",
    )
    .write()
    .no_content();
    let (p, b) = (q!(segments::PageQuery), s!(lists::MembersPage));
    d.op("get", "/v1/lists/{id}/members", "Members, paged by id")
        .params(p)
        .ok(b);
    let (body, b) = (s!(lists::ChangeMembers), s!(lists::Changed));
    d.op(
        "post",
        "/v1/lists/{id}/members",
        "Add and remove members by id",
    )
    .write()
    .body(body)
    .ok(b);
    let (body, b) = (s!(lists::FromSegment), s!(lists::Added));
    d.op(
        "post",
        "/v1/lists/{id}/members/from-segment",
        "Add a segment's people (or their accounts)",
    )
    .write()
    .body(body)
    .ok(b);
    let (p, b) = (q!(list_import::ImportQuery), s!(list_import::ImportReport));
    d.op(
        "post",
        "/v1/lists/{id}/import",
        "Add the matches of a CSV upload; report the rest",
    )
    .write()
    .params(p)
    .csv_body()
    .ok(b);
    let (body, b) = (s!(lists::CopyTo), s!(lists::Copied));
    d.op(
        "post",
        "/v1/lists/{id}/copy",
        "Copy members into another list of the same entity",
    )
    .write()
    .body(body)
    .ok(b);
    let p = q!(ExportQuery);
    d.op(
        "get",
        "/v1/lists/{id}/export",
        "Every member as CSV, JSON lines or Parquet",
    )
    .params(p)
    .file(FILES);

    // RFM.
    let (p, body, b) = (
        q!(rfm::ReportQuery),
        s!(rfm::RfmRequest),
        s!(leadstream_schemas::rfm::RfmReport),
    );
    d.op("post", "/v1/rfm", "RFM analysis (JSON or CSV)")
        .params(p)
        .body(body)
        .ok(b);
    let (p, body) = (q!(rfm::CustomersQuery), s!(rfm::RfmRequest));
    d.op(
        "post",
        "/v1/rfm/customers",
        "Every customer's RFM measures, scores and segment (or one cell's, one segment's)",
    )
    .params(p)
    .body(body)
    .file(FILES);
    let (body, b) = (
        s!(rfm::MigrationRequest),
        s!(leadstream_schemas::rfm::Migration),
    );
    d.op(
        "post",
        "/v1/rfm/migration",
        "Migration between RFM segments from one date to another",
    )
    .body(body)
    .ok(b);

    // Campaigns.
    let b = s!(campaigns::Campaigns);
    d.op("get", "/v1/campaigns", "Campaign records").ok(b);
    let (body, b) = (
        s!(leadstream_schemas::campaign::CampaignSpec),
        s!(campaigns::Campaign),
    );
    d.op("post", "/v1/campaigns", "Create a campaign record")
        .write()
        .body(body)
        .created(b);
    let (p, b) = (q!(campaigns::CompareQuery), s!(campaigns::Comparison));
    d.op(
        "get",
        "/v1/campaigns/compare",
        "Campaign reports side by side",
    )
    .params(p)
    .ok(b);
    let b = s!(campaigns::Campaign);
    d.op("get", "/v1/campaigns/{id}", "A campaign record").ok(b);
    let (body, b) = (
        s!(leadstream_schemas::campaign::CampaignSpec),
        s!(campaigns::Campaign),
    );
    d.op("put", "/v1/campaigns/{id}", "Replace a campaign record")
        .write()
        .body(body)
        .ok(b);
    d.op("delete", "/v1/campaigns/{id}", "Delete a campaign record")
        .write()
        .no_content();
    let (p, b) = (q!(campaigns::ReportQuery), s!(campaigns::Report));
    d.op(
        "get",
        "/v1/campaigns/{id}/report",
        "Responses, reach, leads, wins, revenue, cost per lead, ROI, A/B arms",
    )
    .params(p)
    .ok(b);
    let (p, b) = (q!(segments::PageQuery), s!(campaigns::ResponsesPage));
    d.op(
        "get",
        "/v1/campaigns/{id}/responses",
        "Responders and their outcomes, paged",
    )
    .params(p)
    .ok(b);
    let b = s!(crm_calls::Accepted);
    d.op(
        "post",
        "/v1/campaigns/{id}/responses/{profile_id}/lead",
        "Turn a campaign response into a lead",
    )
    .write()
    .accepted(b);

    // Accounts, webhooks, tokens.
    let (p, b) = (q!(accounts::ListQuery), s!(accounts::Accounts));
    d.op("get", "/v1/accounts", "Accounts ranked by account score")
        .params(p)
        .ok(b);
    let b = s!(Account);
    d.op(
        "get",
        "/v1/accounts/{id}",
        "An account rolled up from its people",
    )
    .ok(b);
    let (p, b) = (q!(webhooks::ListQuery), s!(webhooks::Deliveries));
    d.op(
        "get",
        "/v1/webhooks/deliveries",
        "CRM webhook deliveries (parked ones first)",
    )
    .params(p)
    .ok(b);
    let b = s!(webhooks::Replayed);
    d.op(
        "post",
        "/v1/webhooks/deliveries/{id}/replay",
        "Send a parked CRM webhook again",
    )
    .write()
    .accepted(b);
    let (p, b) = (q!(failed::ListQuery), s!(failed::FailedList));
    d.op(
        "get",
        "/v1/failed-events",
        "Events the collector refused: reason, endpoint, time, raw payload, replay state",
    )
    .params(p)
    .ok(b);
    let (body, b) = (s!(failed::ReplayRequest), s!(failed::ReplayReport));
    d.op(
        "post",
        "/v1/failed-events/replay",
        "Re-submit failed events through intake (original messageId and times)",
    )
    .write()
    .body(body)
    .ok(b);
    let (p, b) = (q!(failed::MissesQuery), s!(failed::MissReport));
    d.op(
        "get",
        "/v1/expectation-misses",
        "Accepted events that missed expected properties, per event name and property",
    )
    .params(p)
    .ok(b);
    let b = s!(tokens::Tokens);
    d.op(
        "get",
        "/v1/tokens",
        "Issued API tokens (never the tokens themselves)",
    )
    .write()
    .ok(b);
    let (body, b) = (s!(tokens::CreateToken), s!(tokens::Token));
    d.op("post", "/v1/tokens", "Issue a token (shown once)")
        .write()
        .body(body)
        .created(b);
    d.op("delete", "/v1/tokens/{id}", "Revoke a token")
        .write()
        .no_content();

    // Operations.
    d.op("get", "/health", "The process lives")
        .open()
        .answer("200", "Healthy", None);
    d.op("get", "/ready", "The store can be reached")
        .open()
        .answer("200", "Ready", None);
    d.op("get", "/metrics", "Prometheus metrics").open().answer(
        "200",
        "Metrics in the Prometheus text format",
        None,
    );
    d.op("get", "/openapi.json", "This document")
        .open()
        .answer("200", "OpenAPI 3.1", None);
    d
}

/// The whole document.
pub fn document() -> Value {
    let mut d = describe();
    let error = json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "The field, parameter or node at fault (`definition.and[1].score.gte`)"},
        }}},
    });
    let mut paths = Map::new();
    for op in &mut d.ops {
        let mut o =
            json!({"summary": op.summary, "operationId": format!("{} {}", op.method, op.path)});
        if !op.parameters.is_empty() {
            o["parameters"] = Value::Array(op.parameters.clone());
        }
        if let Some(body) = &op.body {
            o["requestBody"] = body.clone();
        }
        let mut responses = op.responses.clone();
        if !op.open {
            o["security"] = json!([{"bearer": []}]);
            let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
            responses.insert("4XX".into(), err("Bad request (400, the field named), unauthorized (401), read-only token (403), not found (404), conflict (409), too large (413), unprocessable (422)"));
            responses.insert(
                "503".into(),
                err("The store or log is unavailable; retry after `Retry-After`"),
            );
        }
        o["responses"] = Value::Object(responses);
        if op.write {
            o["x-scope"] = json!("read_write");
        }
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = o;
    }
    let mut schemas = d.g.take_definitions(true);
    schemas.insert("Error".into(), error);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "leadstream query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Segments, marketing lists, RFM, migration, campaigns, profiles and accounts. Every call but the operational ones takes `Authorization: Bearer <token>`; operations marked `x-scope: read_write` need a read-write token.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    })
}

pub async fn serve() -> impl IntoResponse {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(DOC.get_or_init(document).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(method, path)` of every route the router declares, read from its source, but the
    /// console's (`/console…`: its pages, assets and cookie session, for browsers, described in
    /// the README and `console.rs`, not part of the JSON API this document is for).
    fn routed() -> Vec<(String, String)> {
        let src = include_str!("router.rs");
        let mut out = Vec::new();
        for chunk in src.split(".route(").skip(1) {
            let chunk = chunk.split(".layer(").next().unwrap_or(chunk);
            let path = chunk.split('"').nth(1).expect("path").to_string();
            if path.starts_with("/console") {
                continue;
            }
            for m in ["get", "post", "put", "patch", "delete"] {
                let called = chunk.match_indices(&format!("{m}(")).any(|(i, _)| {
                    i == 0
                        || !chunk.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && chunk.as_bytes()[i - 1] != b'_'
                });
                if called {
                    out.push((m.to_string(), path.clone()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_document_describes_every_route_and_nothing_else() {
        let doc = document();
        let mut described: Vec<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .expect("ops")
                    .keys()
                    .map(|m| (m.clone(), p.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        described.sort();
        let routed = routed();
        assert!(routed.len() > 50, "{routed:?}");
        assert_eq!(described, routed);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for (i, _) in text.match_indices("#/components/schemas/") {
            let rest = &text[i + "#/components/schemas/".len()..];
            let name = &rest[..rest.find('"').expect("end")];
            assert!(schemas.contains_key(name), "{name} is not defined");
        }
        assert_eq!(doc["openapi"], "3.1.0");
        // For external validators: `LEADSTREAM_OPENAPI_OUT=/tmp/openapi.json cargo test …`.
        if let Some(path) = std::env::var_os("LEADSTREAM_OPENAPI_OUT") {
            std::fs::write(path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
        }
        let seg = &doc["paths"]["/v1/segments"]["post"];
        assert_eq!(seg["x-scope"], "read_write");
        assert!(seg["requestBody"]["content"]["application/json"]["schema"].is_object());
    }
}
