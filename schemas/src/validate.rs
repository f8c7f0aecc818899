//! Turns one untrusted JSON event into a checked [`Event`], or a [`Rejection`] naming the field.

use serde::Serialize;
use serde_json::Value;

use crate::event::{Event, non_empty};
use crate::kinds::EventKind;

/// Why an event was refused: the field (a dotted path inside the event, empty for the event
/// itself) and the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Rejection {
    pub field: String,
    pub problem: String,
}

impl Rejection {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Rejection {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Checks one event: its shape (types of every known field), at least one of `userId` /
/// `anonymousId`, the name of a `track` call, and the properties its kind requires.
pub fn validate_event(value: Value) -> Result<Event, Rejection> {
    if !value.is_object() {
        return Err(Rejection::new("", "must be a JSON object"));
    }
    let event: Event = serde_path_to_error::deserialize(value).map_err(rejection_from_serde)?;
    check_event(&event)?;
    Ok(event)
}

/// Refuses an event whose objects and arrays nest deeper than `max` (the event object itself is
/// depth 1), naming the first field that does.
pub fn check_depth(value: &Value, max: usize) -> Result<(), Rejection> {
    fn deepest(value: &Value, depth: usize, max: usize) -> Option<Vec<String>> {
        let children: Box<dyn Iterator<Item = (String, &Value)>> = match value {
            Value::Object(map) => Box::new(map.iter().map(|(k, v)| (k.clone(), v))),
            Value::Array(items) => {
                Box::new(items.iter().enumerate().map(|(i, v)| (format!("[{i}]"), v)))
            }
            _ => return None,
        };
        if depth > max {
            return Some(Vec::new());
        }
        for (name, child) in children {
            if let Some(mut path) = deepest(child, depth + 1, max) {
                path.push(name);
                return Some(path);
            }
        }
        None
    }
    match deepest(value, 1, max) {
        None => Ok(()),
        Some(reversed) => {
            let mut field = String::new();
            for segment in reversed.iter().rev() {
                if !field.is_empty() && !segment.starts_with('[') {
                    field.push('.');
                }
                field.push_str(segment);
            }
            Err(Rejection::new(
                field,
                format!("nests objects and arrays deeper than the limit of {max} levels"),
            ))
        }
    }
}

/// Turns a failed typed deserialization into the field at fault and the problem. serde names a
/// missing field in its message, at its parent's path: the field joins the path. The position
/// suffix of messages from text (" at line 1 column 7") is dropped. The root is the empty path.
pub fn rejection_from_serde<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> Rejection {
    let path = e.path().to_string();
    let parent = if path == "." { "" } else { path.as_str() };
    let message = e.into_inner().to_string();
    match message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        Some(field) => Rejection::new(join(parent, field), "is required"),
        None => Rejection::new(parent, clean(&message)),
    }
}

/// The semantic checks on an already typed event.
pub fn check_event(event: &Event) -> Result<(), Rejection> {
    if non_empty(event.user_id.as_deref()).is_none()
        && non_empty(event.anonymous_id.as_deref()).is_none()
    {
        return Err(Rejection::new(
            "userId",
            "one of userId or anonymousId is required",
        ));
    }
    match event.event_type {
        crate::EventType::Track if non_empty(event.event.as_deref()).is_none() => {
            return Err(Rejection::new("event", "is required for a track call"));
        }
        crate::EventType::Group if non_empty(event.group_id.as_deref()).is_none() => {
            return Err(Rejection::new("groupId", "is required for a group call"));
        }
        crate::EventType::Alias if non_empty(event.previous_id.as_deref()).is_none() => {
            return Err(Rejection::new(
                "previousId",
                "is required for an alias call",
            ));
        }
        _ => {}
    }
    EventKind::classify(event)
        .check_properties(&event.properties)
        .map_err(|(field, problem)| Rejection::new(join("properties", &field), problem))
}

fn join(path: &str, field: &str) -> String {
    match (path, field) {
        ("" | ".", f) => f.to_string(),
        (p, "") => p.to_string(),
        (p, f) => format!("{p}.{f}"),
    }
}

/// serde's messages end with " at line 1 column 7" when they come from text; from a `Value` they
/// do not, but keep the message short either way.
fn clean(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nesting_deeper_than_the_limit_is_refused_at_the_field() {
        let ok = serde_json::json!({"properties": {"a": {"b": [1, 2]}}});
        assert!(super::check_depth(&ok, 4).is_ok());
        let err = super::check_depth(&ok, 3).expect_err("too deep");
        assert_eq!(err.field, "properties.a.b");
        let arr = serde_json::json!({"properties": {"list": [[{"x": 1}]]}});
        let err = super::check_depth(&arr, 3).expect_err("too deep");
        assert_eq!(err.field, "properties.list[0]");
        assert!(err.problem.contains("limit of 3"), "{}", err.problem);
        assert!(super::check_depth(&serde_json::json!({"a": 1}), 1).is_ok());
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_minimal_track() {
        let e = validate_event(json!({"type": "track", "event": "Signed Up", "anonymousId": "a1"}))
            .expect("valid");
        assert_eq!(e.person_id(), Some("a1"));
    }

    #[test]
    fn user_id_wins_over_anonymous_id() {
        let e = validate_event(json!({"type": "identify", "anonymousId": "a1", "userId": "u1"}))
            .expect("valid");
        assert_eq!(e.person_id(), Some("u1"));
    }

    #[test]
    fn names_the_field_at_fault() {
        let cases = [
            (json!({"type": "track", "event": "x"}), "userId"),
            (
                json!({"type": "track", "event": "x", "userId": ""}),
                "userId",
            ),
            (json!({"type": "launch", "userId": "u"}), "type"),
            (json!({"userId": "u"}), "type"),
            (json!({"type": "track", "userId": "u"}), "event"),
            (
                json!({"type": "track", "event": "x", "userId": 5}),
                "userId",
            ),
            (
                json!({"type": "track", "event": "x", "userId": "u", "timestamp": "yesterday"}),
                "timestamp",
            ),
            (
                json!({"type": "track", "event": "x", "userId": "u", "context": {"page": {"url": 3}}}),
                "context.page.url",
            ),
            (
                json!({"type": "track", "event": "Order Completed", "userId": "u", "properties": {"order_id": "1", "currency": "EUR"}}),
                "properties.revenue",
            ),
            (json!({"type": "group", "userId": "u"}), "groupId"),
            (json!({"type": "alias", "userId": "u"}), "previousId"),
            (json!(["not", "an", "object"]), ""),
        ];
        for (input, field) in cases {
            let err = validate_event(input.clone()).expect_err(&input.to_string());
            assert_eq!(err.field, field, "{input}: {err}");
            assert!(!err.problem.is_empty());
        }
    }

    #[test]
    fn unknown_type_lists_the_known_ones() {
        let err =
            validate_event(json!({"type": "launch", "userId": "u"})).expect_err("unknown type");
        assert!(
            err.problem.contains("unknown variant `launch`"),
            "{}",
            err.problem
        );
        assert!(err.problem.contains("track"), "{}", err.problem);
    }
}
