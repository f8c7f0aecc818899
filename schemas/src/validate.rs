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
    /// A refusal code other than the usual invalid field (`tracking_plan`), for failed events.
    #[serde(skip)]
    pub code: Option<&'static str>,
}

impl Rejection {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Rejection {
            field: field.into(),
            problem: problem.into(),
            code: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
}

/// Checks one event: its shape (types of every known field), at least one of `userId` /
/// `anonymousId`, the name of a `track` call, the account of a `group` call and the previous id
/// of an `alias` call. What a kind expects of its properties is not checked here: that never
/// refuses an event ([`expectation_misses`]).
pub fn validate_event(value: Value) -> Result<Event, Rejection> {
    if !value.is_object() {
        return Err(Rejection::new("", "must be a JSON object"));
    }
    let event: Event = serde_path_to_error::deserialize(value).map_err(rejection_from_serde)?;
    check_event(&event)?;
    Ok(event)
}

/// The fast path of [`validate_event`]: the event parsed straight from its JSON text into the typed
/// struct, with no intermediate `serde_json::Value`. `event_type`, when given, is the call type
/// from the endpoint's path and needs no `type` in the body; a body may carry it too, as
/// analytics.js's and RudderStack's browser SDKs do on their single calls, when it names the same
/// call. `None` when the text is not a well-formed event as it stands (malformed JSON, a wrong
/// type, a duplicate key, a `type` in the body other than the path's, nesting deeper than
/// `max_depth`): the caller then parses
/// it into a `Value` and runs [`check_depth`] and [`validate_event`], which name the field at
/// fault and apply the path's type over the body's. The semantic checks of [`check_event`] are
/// not run here.
pub fn parse_event_text(
    text: &str,
    event_type: Option<crate::EventType>,
    max_depth: usize,
) -> Option<Event> {
    if nests_deeper_than(text, max_depth) {
        return None;
    }
    let keys = scan_keys(text);
    if keys.duplicate.is_some() {
        return None;
    }
    match event_type {
        None => serde_json::from_str(text).ok(),
        // A body with a `type` of its own (browser SDKs send one): parsed as it stands. A `type`
        // other than the path's takes the slow path, where the path's type wins.
        Some(t) if keys.root_type => serde_json::from_str::<Event>(text)
            .ok()
            .filter(|event| event.event_type == t),
        Some(t) => {
            // `{"type":"track",` + the rest of the object, which has no `type` at its top.
            let rest = text.trim_start().strip_prefix('{')?;
            let mut spliced = String::with_capacity(text.len() + 24);
            spliced.push_str("{\"type\":\"");
            spliced.push_str(t.as_str());
            spliced.push_str("\",");
            spliced.push_str(rest);
            serde_json::from_str(&spliced).ok()
        }
    }
}

/// Whether JSON text nests objects and arrays deeper than `max` (the outermost value is depth 1),
/// by one scan of the bytes that skips strings. The text need not be valid JSON; a parser judges
/// that.
fn nests_deeper_than(text: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut bytes = text.as_bytes().iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => {
                // Skip to the closing quote, past escaped characters.
                while let Some(&c) = bytes.next() {
                    match c {
                        b'\\' => {
                            bytes.next();
                        }
                        b'"' => break,
                        _ => {}
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The first key given twice in one object of JSON text, as its path (`properties.plan`,
/// `products[1].sku`), by one scan of the bytes; `None` when there is none. A parser keeps the
/// last of two equal keys silently: a collector must not guess which the sender meant. The text
/// need not be valid JSON; a parser judges that.
pub fn duplicate_key(text: &str) -> Option<String> {
    scan_keys(text).duplicate
}

/// What one scan of an object's keys found ([`duplicate_key`]'s scan).
struct KeyScan {
    /// The first key given twice, as its path.
    duplicate: Option<String>,
    /// Whether the outermost object has a `type` key (before the duplicate, when there is one).
    root_type: bool,
}

fn scan_keys(text: &str) -> KeyScan {
    use std::borrow::Cow;
    use std::collections::HashSet;
    enum Segment<'a> {
        Root,
        Key(Cow<'a, str>),
        Index,
    }
    /// An object's keys so far: compared one by one while there are few (most objects of an
    /// event have under a dozen, and hashing each cost more than the comparisons), hashed once
    /// there are many, so a large object is not quadratic.
    #[derive(Default)]
    struct Keys<'a> {
        few: Vec<Cow<'a, str>>,
        many: HashSet<Cow<'a, str>>,
    }
    impl<'a> Keys<'a> {
        const FEW: usize = 16;
        /// False when `key` was there already.
        fn insert(&mut self, key: Cow<'a, str>) -> bool {
            if self.few.len() < Self::FEW {
                if self.few.contains(&key) {
                    return false;
                }
                self.few.push(key);
                return true;
            }
            if self.many.is_empty() {
                self.many.extend(self.few.iter().cloned());
            }
            self.many.insert(key)
        }
    }
    struct Frame<'a> {
        /// `Some` for an object (its keys so far), `None` for an array.
        keys: Option<Keys<'a>>,
        segment: Segment<'a>,
        index: usize,
        expect_key: bool,
        last_key: Option<Cow<'a, str>>,
    }
    fn path(stack: &[Frame<'_>], key: &str) -> String {
        let mut out = String::new();
        for (n, f) in stack.iter().enumerate() {
            match &f.segment {
                Segment::Root => {}
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index => {
                    let parent = &stack[n - 1];
                    out.push_str(&format!("[{}]", parent.index));
                }
            }
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
        out
    }
    let b = text.as_bytes();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut root_type = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                while j < b.len() {
                    match b[j] {
                        b'\\' => {
                            escaped = true;
                            j += 2;
                        }
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                let end = j.min(b.len());
                let depth = stack.len();
                if let Some(f) = stack.last_mut()
                    && f.expect_key
                    && let Some(keys) = f.keys.as_mut()
                {
                    let raw = text.get(start..end).unwrap_or("");
                    let key = if escaped {
                        text.get(i..(end + 1).min(b.len()))
                            .and_then(|q| serde_json::from_str::<String>(q).ok())
                            .map_or(Cow::Borrowed(raw), Cow::Owned)
                    } else {
                        Cow::Borrowed(raw)
                    };
                    if depth == 1 && key == "type" {
                        root_type = true;
                    }
                    if !keys.insert(key.clone()) {
                        return KeyScan {
                            duplicate: Some(path(&stack, &key)),
                            root_type,
                        };
                    }
                    f.expect_key = false;
                    f.last_key = Some(key);
                }
                i = end + 1;
                continue;
            }
            c @ (b'{' | b'[') => {
                let segment = match stack.last_mut() {
                    None => Segment::Root,
                    Some(f) if f.keys.is_some() => {
                        Segment::Key(f.last_key.clone().unwrap_or(Cow::Borrowed("")))
                    }
                    Some(_) => Segment::Index,
                };
                stack.push(Frame {
                    keys: (c == b'{').then(Keys::default),
                    segment,
                    index: 0,
                    expect_key: c == b'{',
                    last_key: None,
                });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(f) = stack.last_mut() {
                    if f.keys.is_some() {
                        f.expect_key = true;
                    } else {
                        f.index += 1;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    KeyScan {
        duplicate: None,
        root_type,
    }
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
    for (field, id) in [
        ("userId", &event.user_id),
        ("anonymousId", &event.anonymous_id),
        ("groupId", &event.group_id),
        ("previousId", &event.previous_id),
        ("messageId", &event.message_id),
    ] {
        if id
            .as_deref()
            .is_some_and(|s| s.chars().any(char::is_control))
        {
            return Err(Rejection::new(
                field,
                "must not contain NUL or other control characters",
            ));
        }
    }
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
    Ok(())
}

/// What the event's kind expects of its properties and does not find (never a refusal).
pub fn expectation_misses(event: &Event) -> Vec<crate::event::ExpectationMiss> {
    EventKind::classify(event).expectations(&event.properties)
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
    fn duplicate_keys_are_found_at_their_path() {
        use super::duplicate_key;
        assert_eq!(duplicate_key(r#"{"a":1,"b":{"a":2}}"#), None);
        assert_eq!(
            duplicate_key(
                r#"{"type":"track","properties":{"plan":"a","x":[1,{"y":"}"}],"plan":"b"}}"#
            ),
            Some("properties.plan".into())
        );
        assert_eq!(
            duplicate_key(r#"{"p":[{"k":1},{"k":1,"sku":1,"sku":2}]}"#),
            Some("p[1].sku".into())
        );
        // Equal once unescaped; a key's look-alike in a value is no key.
        assert_eq!(duplicate_key(r#"{"a":1,"\u0061":2}"#), Some("a".into()));
        assert_eq!(duplicate_key(r#"{"a":"a","b":["a","a"]}"#), None);
        assert_eq!(
            duplicate_key(r#"{"userId":"u","userId":"v"}"#),
            Some("userId".into())
        );
        assert_eq!(duplicate_key(r#"{"a":"unterminated"#), None);
        // Past the few keys compared one by one: a repeat of an early key and of a late one.
        let many: Vec<String> = (0..40).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let object = |extra: &str| format!("{{{},{extra}}}", many.join(","));
        assert_eq!(duplicate_key(&object(r#""k40":0"#)), None);
        assert_eq!(duplicate_key(&object(r#""k3":0"#)), Some("k3".into()));
        assert_eq!(duplicate_key(&object(r#""k33":0"#)), Some("k33".into()));
    }

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
    fn the_text_scan_agrees_with_the_value_walk_on_depth() {
        let cases = [
            r#"{"a": 1}"#,
            r#"{"properties": {"a": {"b": [1, 2]}}}"#,
            r#"{"properties": {"list": [[{"x": 1}]]}}"#,
            r#"{"s": "{[{[{[ not structure ]}]}]}", "t": "a \" quote {[", "u": [{}]}"#,
            r#"{"e": "\\\\", "deep": [[[[]]]]}"#,
            r#"[]"#,
        ];
        for text in cases {
            let value: Value = serde_json::from_str(text).expect(text);
            for max in 1..7 {
                assert_eq!(
                    nests_deeper_than(text, max),
                    check_depth(&value, max).is_err(),
                    "{text} at {max}"
                );
            }
        }
    }

    #[test]
    fn the_text_path_agrees_with_the_value_path() {
        let valid = [
            (
                r#"{"type":"track","event":"Signed Up","anonymousId":"a1","properties":{"plan":"pro"}}"#,
                None,
            ),
            (
                r#"{"event":"Signed Up","userId":"u1","timestamp":"2026-11-22T10:00:00Z","context":{"library":{"name":"x"},"page":{"url":"https://a.io/?utm_source=n"}}}"#,
                Some(crate::EventType::Track),
            ),
            (
                r#" {"userId":"u1","traits":{"email":"a@b.io"}}"#,
                Some(crate::EventType::Identify),
            ),
            // analytics.js's single calls carry their type in the body too.
            (
                r#"{"type":"page","name":"Pricing","anonymousId":"a1","properties":{"path":"/pricing"}}"#,
                Some(crate::EventType::Page),
            ),
            // A nested `type` only: spliced.
            (
                r#"{"event":"Plan Chosen","userId":"u1","properties":{"type":"annual"}}"#,
                Some(crate::EventType::Track),
            ),
        ];
        for (text, forced) in valid {
            let fast = parse_event_text(text, forced, 32).expect(text);
            let mut value: Value = serde_json::from_str(text).expect(text);
            if let Some(t) = forced {
                value["type"] = json!(t.as_str());
            }
            assert_eq!(fast, validate_event(value).expect(text), "{text}");
        }
        // Each of these takes the slow path, which names the field or applies the path's type.
        let slow = [
            (r#"{"type":"track","event":"x","userId":5}"#, None),
            (r#"{"type":"track","type":"page","userId":"u"}"#, None),
            (
                r#"{"type":"page","event":"x","userId":"u"}"#,
                Some(crate::EventType::Track),
            ),
            (
                r#"{"type":"nonsense","event":"x","userId":"u"}"#,
                Some(crate::EventType::Track),
            ),
            (r#"{}"#, Some(crate::EventType::Track)),
            (
                r#"{"userId":"u","properties":{"a":{"b":{}}}}"#,
                Some(crate::EventType::Track),
            ),
            (r#"[1]"#, None),
            (
                r#"{"userId":"u","event":"x""#,
                Some(crate::EventType::Track),
            ),
        ];
        for (text, forced) in slow {
            assert_eq!(parse_event_text(text, forced, 3), None, "{text}");
        }
    }

    #[test]
    fn a_kind_missing_its_expected_properties_is_accepted_with_the_misses() {
        let e = validate_event(
            json!({"type": "track", "event": "Order Completed", "userId": "u",
            "properties": {"order_id": "1", "currency": "EUR"}}),
        )
        .expect("accepted");
        let misses = expectation_misses(&e);
        assert_eq!(misses.len(), 1);
        assert_eq!(misses[0].field, "properties.revenue");
    }

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
            (json!({"type": "group", "userId": "u"}), "groupId"),
            (json!({"type": "alias", "userId": "u"}), "previousId"),
            (json!(["not", "an", "object"]), ""),
            (
                json!({"type": "track", "event": "x", "userId": "u\u{0}v"}),
                "userId",
            ),
            (
                json!({"type": "track", "event": "x", "anonymousId": "a\nb"}),
                "anonymousId",
            ),
        ];
        for (input, field) in cases {
            let err = validate_event(input.clone()).expect_err(&input.to_string());
            assert_eq!(err.field, field, "{input}: {err}");
            assert!(!err.problem.is_empty());
        }
    }

    #[test]
    fn a_bad_time_says_what_form_is_expected() {
        let err = validate_event(
            json!({"type": "track", "event": "x", "userId": "u", "timestamp": "yesterday"}),
        )
        .expect_err("not a time");
        assert_eq!(err.field, "timestamp");
        assert!(
            err.problem.contains("ISO-8601") && err.problem.contains("2026-12-07T10:00:00Z"),
            "{}",
            err.problem
        );
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
