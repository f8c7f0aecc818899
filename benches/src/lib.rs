//! Benchmarks and load generators for leadstream; see RESULTS.md.

use leadstream_schemas::{Event, LogRecord};
use serde_json::json;

/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;

/// A realistic stream for the scorer: `n` events over `people` profiles (anonymous and known),
/// a mix of page views (pricing, blog), downloads, email opens and clicks, webinar
/// registrations, form fills and identifies, each with its own `messageId`, a minute apart per
/// person. `seed` makes the ids of different calls distinct.
pub fn scorer_stream(n: usize, people: usize, seed: u64) -> Vec<LogRecord> {
    scorer_stream_from(0, n, people, seed)
}

/// Events `start..start + n` of the stream [`scorer_stream`] describes.
pub fn scorer_stream_from(start: usize, n: usize, people: usize, seed: u64) -> Vec<LogRecord> {
    (start..start + n)
        .map(|i| {
            let person = format!("person-{}", i % people);
            let at = T0 + (i / people) as i64 * 60_000;
            let ts = chrono_free_rfc3339(at);
            let mut v = match i % 10 {
                0..=3 => json!({"type": "page", "context": {"page": {"url": format!("https://acme.io/blog/{}", i % 50)}}}),
                4 => json!({"type": "page", "context": {"page": {"url": "https://acme.io/pricing"}}}),
                5 => json!({"type": "track", "event": "File Downloaded", "properties": {"file_name": "guide.pdf"}}),
                6 => json!({"type": "track", "event": "Email Opened", "properties": {"email_id": "e1"}}),
                7 => json!({"type": "track", "event": "Email Clicked", "properties": {"email_id": "e1", "link_url": "https://acme.io/x"}}),
                8 => json!({"type": "track", "event": "Webinar Registered", "properties": {"webinar_id": "w1"}}),
                _ => json!({"type": "identify", "traits": {"title": "Director of IT", "company_size": 120}}),
            };
            let o = v.as_object_mut().expect("object");
            o.insert("userId".into(), json!(person));
            o.insert("messageId".into(), json!(format!("m-{seed}-{i}")));
            o.insert("timestamp".into(), json!(ts));
            LogRecord::new("acme", serde_json::from_value::<Event>(v).expect("event"))
        })
        .collect()
}

/// RFC 3339 of a millisecond timestamp, without a date library.
fn chrono_free_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Command-line argument `i` of a benchmark binary, parsed; panics naming it when it is missing
/// or does not parse.
pub fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} ({name}) missing or invalid"))
}

/// The `q` quantile (nearest rank) of `sorted` durations, in milliseconds; NaN for none.
pub fn quantile_ms(sorted: &[std::time::Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(
            super::chrono_free_rfc3339(super::T0),
            "2026-01-01T00:00:00.000Z"
        );
        assert_eq!(
            super::chrono_free_rfc3339(super::T0 + 59 * 86_400_000 + 3_723_004),
            "2026-03-01T01:02:03.004Z"
        );
    }
}
