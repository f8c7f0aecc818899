//! RFM conformance on a real public purchase dataset: the CDNOW master file (69,659 purchases of
//! 23,570 customers, 1997–1998) goes into the ClickHouse store (the real server) and the
//! embedded store as purchase events, and both must give the figures the independent pandas
//! computation (`benches/rfm/reference.py`, output in `fixtures/rfm_cdnow_expected.json`) gives:
//! customers, cut points, people per segment and per score triple, revenue and averages, and the
//! migration matrix between two dates. RFM segments then work as a segment condition.

mod common;

use std::io::Read as _;

use leadstream_platform::store::Analytics;
use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::store::embedded::EmbeddedStore;
use leadstream_platform::store::{EventRow, ProfileRow, Store, WriteBatch};
use leadstream_schemas::Profile;
use leadstream_schemas::rfm::{Bins, RfmSpec};
use leadstream_schemas::segment::Segment;
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

/// The dataset as purchase events, and a profile per customer.
fn cdnow() -> (Vec<EventRow>, Vec<ProfileRow>) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(&include_bytes!("fixtures/cdnow_master.txt.gz")[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    let mut events = Vec::new();
    let mut customers = std::collections::BTreeSet::new();
    for (i, line) in text.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (customer, date, value) = (f[0], f[1], f[3]);
        let day = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").expect("date");
        let ts = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis();
        let revenue: f64 = value.parse().expect("value");
        events.push(EventRow {
            workspace: "w".into(),
            message_id: format!("cdnow-{i}"),
            profile_id: customer.into(),
            anonymous_id: String::new(),
            user_id: customer.into(),
            event_type: "track".into(),
            kind: "purchase_completed".into(),
            event: "Order Completed".into(),
            properties: json!({"order_id": format!("o{i}"), "revenue": revenue, "currency": "USD"})
                .to_string(),
            traits: "{}".into(),
            context: "{}".into(),
            timestamp_ms: ts,
            received_at_ms: ts,
            group_id: String::new(),
            previous_id: String::new(),
            enrichment: String::new(),
            campaign: String::new(),
            promo_code: String::new(),
            revenue,
        });
        customers.insert(customer.to_string());
    }
    let profiles = customers
        .iter()
        .map(|c| {
            let mut p = Profile::new("w", c);
            p.version = 1;
            ProfileRow::from(&p)
        })
        .collect();
    (events, profiles)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn spec(window: u64) -> RfmSpec {
    RfmSpec {
        window_days: window as u32,
        ..RfmSpec::default()
    }
}

#[tokio::test]
async fn both_stores_match_the_independent_computation_on_cdnow() {
    let expected: Value =
        serde_json::from_str(include_str!("fixtures/rfm_cdnow_expected.json")).expect("json");
    let (events, profiles) = cdnow();
    assert_eq!(
        events.len() as u64,
        expected["purchases"].as_u64().expect("n")
    );
    let config = common::clickhouse_config();
    let clickhouse = ClickhouseStore::connect(&config).await.expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = EmbeddedStore::open(dir.path()).expect("open");
    let stores: [(&str, &dyn Store); 2] = [("clickhouse", &clickhouse), ("polars", &embedded)];
    for (_, store) in stores {
        for chunk in events.chunks(20_000) {
            store
                .write(&WriteBatch {
                    events: chunk.to_vec(),
                    ..WriteBatch::default()
                })
                .await
                .expect("write");
        }
        // A replay after a crash wrote the first thousand purchases again: counted once.
        store
            .write(&WriteBatch {
                events: events[..1000].to_vec(),
                profiles: profiles.clone(),
                ..WriteBatch::default()
            })
            .await
            .expect("write");
    }

    let mut failures = Vec::new();
    for case in expected["cases"].as_array().expect("cases") {
        let as_of = case["as_of_ms"].as_i64().expect("as of");
        let spec = spec(case["window_days"].as_u64().expect("window"));
        for (backend, store) in stores {
            let label = format!("{backend} {} {}d", case["as_of"], spec.window_days);
            let got = store.rfm("w", &spec, as_of).await.expect("rfm");
            if got.customers != case["customers"].as_u64().expect("customers") {
                failures.push(format!("{label}: customers {}", got.customers));
            }
            if !close(got.revenue, case["revenue"].as_f64().expect("revenue")) {
                failures.push(format!("{label}: revenue {}", got.revenue));
            }
            let cuts = serde_json::to_value(&got.cuts).expect("cuts");
            for measure in ["recency_days", "frequency", "monetary"] {
                let (a, b) = (&cuts[measure], &case["cuts"][measure]);
                let same = a.as_array().expect("a").len() == 4
                    && a.as_array()
                        .expect("a")
                        .iter()
                        .zip(b.as_array().expect("b"))
                        .all(|(x, y)| close(x.as_f64().expect("x"), y.as_f64().expect("y")));
                if !same {
                    failures.push(format!("{label}: cuts {measure} {a} vs {b}"));
                }
            }
            for (g, want) in got
                .segments
                .iter()
                .zip(case["segments"].as_array().expect("segments"))
            {
                assert_eq!(g.segment, want["segment"].as_str().expect("name"));
                let fields = [
                    ("share", g.share),
                    ("revenue", g.revenue),
                    ("avg_recency_days", g.avg_recency_days),
                    ("avg_frequency", g.avg_frequency),
                    ("avg_monetary", g.avg_monetary),
                ];
                if g.people != want["people"].as_u64().expect("people") {
                    failures.push(format!("{label}: {} people {}", g.segment, g.people));
                }
                for (name, v) in fields {
                    if !close(v, want[name].as_f64().expect("figure")) {
                        failures.push(format!(
                            "{label}: {} {name} {v} vs {}",
                            g.segment, want[name]
                        ));
                    }
                }
            }
            // Every customer's scores: people per (R, F, M) triple.
            let people = store.rfm_people("w", &spec, as_of).await.expect("people");
            let mut triples = std::collections::BTreeMap::<String, u64>::new();
            for p in &people {
                *triples.entry(format!("{}{}{}", p.r, p.f, p.m)).or_default() += 1;
                assert_eq!(
                    p.segment,
                    leadstream_schemas::rfm::segment_name(
                        p.r,
                        leadstream_schemas::rfm::fm(p.f, p.m)
                    ),
                    "{label}: {p:?}"
                );
            }
            if serde_json::to_value(&triples).expect("triples") != case["scores"] {
                failures.push(format!("{label}: score triples differ"));
            }
        }
    }

    // Migration between two dates.
    let m = &expected["migration"];
    let spec_m = spec(m["window_days"].as_u64().expect("window"));
    let (from, to) = (
        m["from_ms"].as_i64().expect("from"),
        m["to_ms"].as_i64().expect("to"),
    );
    let mut want: Vec<(String, String, u64)> = m["moves"]
        .as_array()
        .expect("moves")
        .iter()
        .map(|x| {
            (
                x["from"].as_str().expect("from").to_string(),
                x["to"].as_str().expect("to").to_string(),
                x["people"].as_u64().expect("people"),
            )
        })
        .collect();
    want.sort();
    for (backend, store) in stores {
        let mut got: Vec<(String, String, u64)> = store
            .rfm_migration("w", &spec_m, from, to)
            .await
            .expect("migration")
            .into_iter()
            .map(|x| (x.from, x.to, x.people))
            .collect();
        got.sort();
        if got != want {
            failures.push(format!("{backend}: migration differs: {got:?}"));
        }
    }

    // RFM segments as a segment condition: the Champions of the last 180 days.
    let case = &expected["cases"][1];
    let as_of = case["as_of_ms"].as_i64().expect("as of");
    let champions = case["segments"][0]["people"].as_u64().expect("people") as usize;
    let condition = Segment::parse(&json!({"rfm": ["Champions"], "spec": {"window_days": 180}}))
        .expect("valid");
    let mut members = Vec::new();
    for (backend, store) in stores {
        let got = store
            .segment_members("w", &condition, as_of)
            .await
            .expect("members");
        if got.len() != champions {
            failures.push(format!("{backend}: {} champions", got.len()));
        }
        members.push(got);
    }
    assert_eq!(members[0], members[1]);

    // Explicit bins: the stores agree with each other and with the edges.
    let binned = RfmSpec {
        window_days: 548,
        bins: Some(Bins {
            recency_days: [30.0, 90.0, 180.0, 365.0],
            frequency: [1.0, 2.0, 3.0, 5.0],
            monetary: [20.0, 50.0, 100.0, 250.0],
        }),
        ..RfmSpec::default()
    };
    let as_of = expected["cases"][0]["as_of_ms"].as_i64().expect("as of");
    let a = clickhouse.rfm("w", &binned, as_of).await.expect("rfm");
    let b = embedded.rfm("w", &binned, as_of).await.expect("rfm");
    assert_eq!(a.cuts.monetary, [20.0, 50.0, 100.0, 250.0]);
    for (x, y) in a.segments.iter().zip(&b.segments) {
        assert_eq!((&x.segment, x.people), (&y.segment, y.people));
    }
    let people = embedded
        .rfm_people("w", &binned, as_of)
        .await
        .expect("people");
    // The grid: the same 25 cells from both stores, each the customers scored (r, FM), and
    // every named segment the sum of its cells.
    assert_eq!(a.grid.len(), 25);
    for (x, y) in a.grid.iter().zip(&b.grid) {
        assert_eq!((x.r, x.fm, x.people), (y.r, y.fm, y.people), "{x:?} {y:?}");
        assert!((x.revenue - y.revenue).abs() < 1e-6, "{x:?} {y:?}");
        let counted = people
            .iter()
            .filter(|p| p.r == x.r && leadstream_schemas::rfm::fm(p.f, p.m) == x.fm)
            .count() as u64;
        assert_eq!(counted, x.people, "{x:?}");
        assert_eq!(x.segment, leadstream_schemas::rfm::segment_name(x.r, x.fm));
    }
    for s in &a.segments {
        let cells: u64 = a
            .grid
            .iter()
            .filter(|c| c.segment == s.segment)
            .map(|c| c.people)
            .sum();
        assert_eq!(cells, s.people, "{}", s.segment);
    }
    assert!(a.grid.iter().filter(|c| c.people > 0).count() > 5);
    for p in &people {
        let f = 1 + [1.0, 2.0, 3.0, 5.0]
            .iter()
            .filter(|c| p.frequency > **c)
            .count() as u8;
        let r = 5 - [30.0, 90.0, 180.0, 365.0]
            .iter()
            .filter(|c| p.recency_days > **c)
            .count() as u8;
        assert_eq!((p.f, p.r), (f, r), "{p:?}");
    }
    // Nothing in another workspace, and a window before the first purchase holds nobody.
    assert_eq!(
        clickhouse
            .rfm("x", &spec(365), as_of)
            .await
            .expect("rfm")
            .customers,
        0
    );
    assert_eq!(
        embedded
            .rfm("w", &spec(30), as_of - 600 * DAY_MS)
            .await
            .expect("rfm")
            .customers,
        0
    );

    common::drop_database(&config).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
