//! JSON Schema for the HTTP inputs, generated from the Rust types.
//!
//! The published copies live in `schemas/json/`; a test fails when they fall behind the types, and
//! `leadstream schema` prints them. On top of what the types say, the schema encodes the two rules
//! the types cannot: at least one of `userId` / `anonymousId`, and the properties each named event
//! kind requires (as `if`/`then` on the event name).

use schemars::{Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde_json::{Value, json};

use crate::event::{BatchRequest, Event};
use crate::kinds::EventKind;

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

/// Adds the rules the types cannot express to the `Event` definition.
fn constrain_event(schema: &mut Schema, generator: &mut SchemaGenerator) {
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
    for (name, aliases, props) in EventKind::property_schemas(generator) {
        let names: Vec<Value> = std::iter::once(name)
            .chain(aliases)
            .map(|n| json!(n))
            .collect();
        rules.push(json!({
            "if": {"properties": {"type": {"const": "track"}, "event": {"enum": names}}, "required": ["type", "event"]},
            "then": {"properties": {"properties": props}, "required": ["properties"]}
        }));
    }
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("allOf".into(), Value::Array(rules));
    }
}

/// The schema of one event, as `/v1/track` and friends take it.
pub fn event_schema() -> Schema {
    let mut generator = generator();
    let mut schema = generator.root_schema_for::<Event>();
    constrain_event(&mut schema, &mut generator);
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
        constrain_event(&mut def_schema, &mut generator);
        *def = def_schema.to_value();
        defs.extend(generator.take_definitions(true));
    } else {
        constrain_event(&mut event, &mut generator);
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
