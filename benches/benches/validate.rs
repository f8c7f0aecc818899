//! The collector's per-event CPU cost: checking one Segment event (parse + validate, what
//! `POST /v1/batch` does per element), beside the baseline of only parsing the same bytes into a
//! `serde_json::Value`, measured in the same run; and the scorer's side, decoding the log record.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leadstream_schemas::{LogRecord, check_event, parse_event_text, validate_event};
use serde_json::Value;

const EVENT: &str = r#"{"type":"track","userId":"user-1234","anonymousId":"0f8c2e4a-6b1d-4c1e-9a7f-2d3b5c6e7f80",
"event":"Order Completed","messageId":"msg-1","timestamp":"2026-11-22T10:00:00Z",
"properties":{"order_id":"o-991","revenue":129.5,"currency":"EUR","products":[{"sku":"a","price":64.75},{"sku":"b","price":64.75}]},
"context":{"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64)","locale":"de-DE",
"page":{"url":"https://shop.example.com/checkout?utm_source=news","path":"/checkout","referrer":"https://example.com/","title":"Checkout"},
"campaign":{"source":"news","medium":"email","name":"winter"},"library":{"name":"analytics.js","version":"5.0.0"}}}"#;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_parse_to_value", |b| {
        b.iter(|| serde_json::from_str::<Value>(std::hint::black_box(EVENT)).expect("parses"))
    });
    group.bench_function("parse_and_validate", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_str(std::hint::black_box(EVENT)).expect("parses");
            validate_event(v).expect("valid")
        })
    });
    group.bench_function("parse_validate_encode_record", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_str(std::hint::black_box(EVENT)).expect("parses");
            LogRecord::new("acme", validate_event(v).expect("valid")).encode()
        })
    });
    // What the collector does now: the typed event straight from the text (the `Value` path above
    // is its fallback for events with a mistake to name).
    group.bench_function("text_parse_and_validate", |b| {
        b.iter(|| {
            let e = parse_event_text(std::hint::black_box(EVENT), None, 32).expect("parses");
            check_event(&e).expect("valid");
            e
        })
    });
    group.bench_function("text_parse_validate_encode_record", |b| {
        b.iter(|| {
            let e = parse_event_text(std::hint::black_box(EVENT), None, 32).expect("parses");
            check_event(&e).expect("valid");
            LogRecord::new("acme", e).encode()
        })
    });
    group.bench_function("decode_record", |b| {
        let bytes = LogRecord::new(
            "acme",
            validate_event(serde_json::from_str(EVENT).expect("parses")).expect("valid"),
        )
        .encode();
        b.iter(|| {
            leadstream_schemas::Decoded::decode(std::hint::black_box(&bytes)).expect("decodes")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
