//! JSON Schema for the HTTP inputs, generated from the Rust types.
//!
//! The published copies live in `schemas/json/`; a test fails when they fall behind the types, and
//! `leadstream schema` prints them. On top of what the types say, the schema encodes the rules the
//! types cannot (at least one of `userId` / `anonymousId`, the name of a `track` call) and
//! documents, under `x-leadstream-kinds`, the named kinds, their aliases and the properties each
//! expects (advisory: a missed expectation never refuses an event).

use schemars::{Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde_json::{Map, Value, json};

use crate::event::{BatchRequest, Event};
use crate::kinds::EventKind;

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

/// Adds the rules the types cannot express to the `Event` definition.
fn constrain_event(schema: &mut Schema) {
    let mut rules = vec![json!({
        "anyOf": [
            {"required": ["userId"], "properties": {"userId": {"type": "string", "pattern": "\\S"}}},
            {"required": ["anonymousId"], "properties": {"anonymousId": {"type": "string", "pattern": "\\S"}}}
        ]
    })];
    rules.push(json!({
        "if": {"properties": {"type": {"const": "track"}}},
        "then": {"required": ["event"], "properties": {"event": {"type": "string", "pattern": "\\S"}}}
    }));
    // What each named kind expects is documentation, not a rule: a missed expectation never
    // refuses an event (the collector records it on the event instead).
    let expectations: Map<String, Value> = EventKind::NAMED
        .iter()
        .filter_map(|k| {
            let name = k.event_name()?;
            let props: Map<String, Value> = k
                .expected()
                .iter()
                .map(|(p, e)| ((*p).to_string(), json!(e.describe())))
                .collect();
            Some((
                name.to_string(),
                json!({"kind": k.key(), "aliases": k.aliases(), "expects": props}),
            ))
        })
        .collect();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("x-leadstream-kinds".into(), Value::Object(expectations));
    }
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("allOf".into(), Value::Array(rules));
    }
}

/// The schema of one event, as `/v1/track` and friends take it.
pub fn event_schema() -> Schema {
    let mut generator = generator();
    let mut schema = generator.root_schema_for::<Event>();
    constrain_event(&mut schema);
    let defs = generator.take_definitions(true);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$defs".into(), Value::Object(defs));
    }
    schema
}

/// The schema of `POST /v1/batch`.
pub fn batch_schema() -> Schema {
    let mut generator = generator();
    let mut schema = generator.root_schema_for::<BatchRequest>();
    let mut event = generator.subschema_for::<Event>();
    // `subschema_for` gives a `$ref`; constrain the definition itself.
    let mut defs = generator.take_definitions(true);
    if let Some(def) = defs.get_mut("Event") {
        let mut def_schema: Schema =
            serde_json::from_value(def.take()).unwrap_or_else(|_| json_schema!({}));
        constrain_event(&mut def_schema);
        *def = def_schema.to_value();
        defs.extend(generator.take_definitions(true));
    } else {
        constrain_event(&mut event);
    }
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$defs".into(), Value::Object(defs));
    }
    schema
}

/// Pretty JSON of both schemas, keyed by their published file names.
pub fn published() -> Vec<(&'static str, String)> {
    // Keys sorted, so the text does not depend on whether another crate of the build turned on
    // serde_json's `preserve_order` (polars does, through its JSON-path support).
    let pretty = |s: Schema| {
        let value = sorted(serde_json::to_value(&s).unwrap_or_default());
        serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
    };
    vec![
        ("event.schema.json", pretty(event_schema())),
        ("batch.schema.json", pretty(batch_schema())),
    ]
}

/// `value` with every object's keys in sorted order (whatever order the map type keeps).
fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
