//! The published JSON Schema is current, and valid and invalid samples behave as it says: every
//! sample is checked both by the schema (with an independent validator) and by the collector's own
//! validation, and the two must agree.

use leadstream_schemas::{json_schema, validate_event};
use serde_json::{Value, json};

fn json_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("json")
}

#[test]
fn published_schemas_are_current() {
    for (name, text) in json_schema::published() {
        let path = json_dir().join(name);
        if std::env::var_os("LEADSTREAM_BLESS").is_some() {
            std::fs::write(&path, &text).expect("write schema");
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "{} is out of date; regenerate with LEADSTREAM_BLESS=1 cargo test -p leadstream-schemas",
            path.display()
        );
    }
}

fn samples() -> Vec<(Value, bool)> {
    vec![
        (
            json!({"type": "track", "event": "Signed Up", "anonymousId": "a1"}),
            true,
        ),
        (
            json!({"type": "page", "userId": "u1", "name": "Pricing", "context": {"page": {"url": "https://x.io/pricing"}}}),
            true,
        ),
        (
            json!({"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}}),
            true,
        ),
        (
            json!({"type": "identify", "userId": null, "anonymousId": "a1"}),
            true,
        ),
        (
            json!({"type": "group", "userId": "u1", "groupId": "acme"}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "Order Completed",
                "properties": {"order_id": "o1", "revenue": 12.5, "currency": "EUR"}}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "Email Clicked",
                "properties": {"email_id": "m1", "link_url": "https://x.io"}}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "Something custom", "properties": {"anything": [1, 2]}}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "x", "timestamp": "2026-01-02T03:04:05Z"}),
            true,
        ),
        // invalid
        (json!({"type": "track", "event": "Signed Up"}), false),
        (
            json!({"type": "track", "event": "Signed Up", "userId": ""}),
            false,
        ),
        (
            json!({"type": "track", "event": "Signed Up", "userId": "   "}),
            false,
        ),
        (
            json!({"type": "track", "event": "Signed Up", "userId": null}),
            false,
        ),
        (json!({"type": "launch", "userId": "u1"}), false),
        (json!({"event": "x", "userId": "u1"}), false),
        (json!({"type": "track", "userId": "u1"}), false),
        (json!({"type": "track", "event": "x", "userId": 42}), false),
        (
            json!({"type": "track", "event": "x", "userId": "u", "properties": "not an object"}),
            false,
        ),
        (
            json!({"type": "track", "event": "x", "userId": "u", "timestamp": "not a date"}),
            false,
        ),
        // Accepted although they miss what their kind expects: expectations never refuse.
        (
            json!({"type": "track", "userId": "u1", "event": "Order Completed",
                "properties": {"order_id": "o1", "currency": "EUR"}}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "purchase_completed",
                "properties": {"order_id": "o1", "revenue": -1, "currency": "EUR"}}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "Purchase Completed",
                "properties": {"order_id": "o1", "revenue": 3, "currency": "eur"}}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "Form Submitted", "properties": {}}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "Email Clicked", "properties": {"email_id": "m1"}}),
            true,
        ),
        (
            json!({"type": "track", "userId": "u1", "event": "Webinar Attended"}),
            true,
        ),
    ]
}

#[test]
fn samples_behave_as_the_schema_says() {
    let schema = json_schema::event_schema().to_value();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    for (sample, expected) in samples() {
        // The independent validator knows event names only as the schema spells them; our own
        // validation also folds case, so only compare where the sample uses a canonical name.
        let by_schema = validator.is_valid(&sample);
        let by_us = validate_event(sample.clone());
        assert_eq!(
            by_us.is_ok(),
            expected,
            "our validation of {sample}: {by_us:?}"
        );
        if sample["event"] != "purchase_completed" {
            assert_eq!(by_schema, expected, "schema validation of {sample}");
        }
    }
}

#[test]
fn batch_schema_accepts_a_batch_and_refuses_a_bad_one() {
    let schema = json_schema::batch_schema().to_value();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    let good = json!({"writeKey": "k", "batch": [{"type": "track", "event": "x", "userId": "u"}]});
    assert!(validator.is_valid(&good));
    let bad = json!({"batch": [{"type": "track", "event": "x"}]});
    assert!(!validator.is_valid(&bad));
    assert!(!validator.is_valid(&json!({"events": []})));
}
