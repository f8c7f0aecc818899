//! A workspace's tracking plan (opt in): per event name, the properties it must carry and their
//! types, and what the collector does when an event misses them.
//!
//! ```toml
//! # What to do on a miss unless an event says otherwise: accept (record the miss on the event),
//! # drop_property (remove the offending property, record the miss) or refuse (the event goes to
//! # failed events, where it can be replayed once the plan or the client is fixed).
//! on_miss = "accept"
//!
//! [events."Order Completed"]
//! on_miss = "refuse"
//! properties.order_id = { type = "string", required = true }
//! properties.revenue = { type = "number", required = true }
//! properties.currency = { type = "string" }
//! ```
//!
//! Types: `string`, `number`, `integer`, `boolean`, `object`, `array`, `any`. A property with a
//! type that is present with another type is a miss; a `required` one that is absent (or null) is
//! a miss. Event names match exactly (`event` of a track call, `name` of a page or screen call).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::event::{Event, EventType, ExpectationMiss};

/// What the collector does with an event that misses its plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMiss {
    /// Keep the event as it is and record the misses on it.
    #[default]
    Accept,
    /// Remove the offending properties, keep the event, record the misses.
    DropProperty,
    /// Refuse the event: it goes to failed events.
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Any,
}

impl PropertyType {
    fn admits(self, v: &Value) -> bool {
        match self {
            PropertyType::String => v.is_string(),
            PropertyType::Number => v.is_number(),
            PropertyType::Integer => v.is_i64() || v.is_u64(),
            PropertyType::Boolean => v.is_boolean(),
            PropertyType::Object => v.is_object(),
            PropertyType::Array => v.is_array(),
            PropertyType::Any => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            PropertyType::String => "a string",
            PropertyType::Number => "a number",
            PropertyType::Integer => "an integer",
            PropertyType::Boolean => "a boolean",
            PropertyType::Object => "an object",
            PropertyType::Array => "an array",
            PropertyType::Any => "any value",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyPlan {
    #[serde(rename = "type", default = "any")]
    pub kind: PropertyType,
    #[serde(default)]
    pub required: bool,
}

fn any() -> PropertyType {
    PropertyType::Any
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventPlan {
    #[serde(default)]
    pub on_miss: Option<OnMiss>,
    #[serde(default)]
    pub properties: BTreeMap<String, PropertyPlan>,
}

/// A parsed, valid tracking plan.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[serde(default)]
    pub on_miss: OnMiss,
    #[serde(default)]
    pub events: BTreeMap<String, EventPlan>,
}

/// An invalid plan file: the line (1-based, when known) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct PlanError {
    pub line: Option<usize>,
    pub message: String,
}

/// What a plan says of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub misses: Vec<ExpectationMiss>,
    pub action: OnMiss,
}

impl Plan {
    /// Parses a plan file's text; the error names the line.
    pub fn parse(text: &str) -> Result<Plan, PlanError> {
        let plan: Plan = toml::from_str(text).map_err(|e| PlanError {
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().to_string(),
        })?;
        for (name, event) in &plan.events {
            let line = find_line(text, name);
            if name.trim().is_empty() {
                return Err(PlanError {
                    line,
                    message: "an event name must not be empty".into(),
                });
            }
            for property in event.properties.keys() {
                if property.trim().is_empty() {
                    return Err(PlanError {
                        line,
                        message: format!("`{name}`: a property name must not be empty"),
                    });
                }
            }
        }
        Ok(plan)
    }

    /// The plan's word on `event`: `None` when the plan does not name the event.
    pub fn check(&self, event: &Event) -> Option<Verdict> {
        let name = match event.event_type {
            EventType::Track => event.event.as_deref(),
            EventType::Page | EventType::Screen => event.name.as_deref(),
            _ => None,
        }?;
        let plan = self.events.get(name)?;
        let mut misses = Vec::new();
        for (property, expect) in &plan.properties {
            let field = format!("properties.{property}");
            match event.properties.get(property).filter(|v| !v.is_null()) {
                None if expect.required => misses.push(ExpectationMiss::new(
                    field,
                    "is required by the tracking plan",
                )),
                None => {}
                Some(v) if !expect.kind.admits(v) => misses.push(ExpectationMiss::new(
                    field,
                    format!("must be {} by the tracking plan", expect.kind.name()),
                )),
                Some(_) => {}
            }
        }
        Some(Verdict {
            misses,
            action: plan.on_miss.unwrap_or(self.on_miss),
        })
    }
}

/// The line of the first `[events."name"]`-like mention of `name`, for errors serde cannot place.
fn find_line(text: &str, name: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(name)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLAN: &str = r#"
on_miss = "accept"

[events."Order Completed"]
on_miss = "refuse"
properties.order_id = { type = "string", required = true }
properties.currency = { type = "string", required = true }
properties.revenue = { type = "number" }

[events."Signed Up"]
on_miss = "drop_property"
properties.plan = { type = "string" }
"#;

    fn event(v: serde_json::Value) -> Event {
        serde_json::from_value(v).expect("event")
    }

    #[test]
    fn a_plan_checks_required_and_typed_properties_per_event() {
        let plan = Plan::parse(PLAN).expect("valid");
        let v = plan
            .check(&event(
                json!({"type": "track", "userId": "u", "event": "Order Completed",
                "properties": {"order_id": "o", "revenue": "12"}}),
            ))
            .expect("named");
        assert_eq!(v.action, OnMiss::Refuse);
        let fields: Vec<&str> = v.misses.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(fields, ["properties.currency", "properties.revenue"]);
        let signed = plan
            .check(&event(
                json!({"type": "track", "userId": "u", "event": "Signed Up",
                "properties": {"plan": 3}}),
            ))
            .expect("named");
        assert_eq!(signed.action, OnMiss::DropProperty);
        assert_eq!(signed.misses.len(), 1);
        assert!(
            plan.check(&event(
                json!({"type": "track", "userId": "u", "event": "Other"})
            ))
            .is_none()
        );
    }

    #[test]
    fn an_invalid_plan_names_its_line() {
        let bad = "on_miss = \"accept\"\n\n[events.\"X\"]\nproperties.a = { type = \"strnig\" }\n";
        let err = Plan::parse(bad).expect_err("bad type");
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.message.contains("strnig"), "{err}");
        let unknown = "[events.\"X\"]\nwhen = 1\n";
        assert_eq!(Plan::parse(unknown).expect_err("unknown key").line, Some(2));
        let action = "on_miss = \"explode\"\n";
        assert_eq!(Plan::parse(action).expect_err("bad action").line, Some(1));
    }
}
