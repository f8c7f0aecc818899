//! A kept payload back into the Segment-shaped event intake checks, by the endpoint it came in on
//! (for replaying failed events).

use leadstream_schemas::Rejection;
use serde_json::Value;

/// The event a failed event's `payload` stands for, as it arrived at `endpoint`.
pub fn event_value(endpoint: &str, payload: &str) -> Result<Value, Rejection> {
    let value: Value = serde_json::from_str(payload)
        .map_err(|e| Rejection::new("", format!("the payload is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Rejection::new(
            "",
            "the payload is not a JSON object (one event)",
        ));
    }
    let _ = endpoint;
    Ok(value)
}
