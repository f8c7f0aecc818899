//! The segment conformance suite: every example of `fixtures/segments.json` runs against the
//! ClickHouse store (the real server) and the embedded store (polars) holding the same fixture,
//! and each must return exactly the expected members. Values that would break a naive SQL
//! builder are run too, and must simply match nobody.

mod common;

use leadstream_platform::segment::{LIST, SEGMENT, SegmentLimits, resolve};
use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::store::embedded::EmbeddedStore;
use leadstream_platform::store::{Analytics, SavedObjects};
use leadstream_platform::store::{
    EventRow, IdentityRow, ObjectRow, ProfileRow, SetMemberRow, Store, WriteBatch,
};
use leadstream_schemas::segment::Segment;
use leadstream_schemas::{LifecycleStage, Profile};
use serde_json::{Value, json};

const NOW: i64 = 1_795_000_000_000;
const DAY: i64 = 86_400_000;

#[allow(clippy::too_many_arguments)]
fn person(
    ws: &str,
    id: &str,
    version: u64,
    traits: Value,
    score: f64,
    grade: &str,
    stage: LifecycleStage,
    account: Option<(&str, Value)>,
) -> ProfileRow {
    let mut p = Profile::new(ws, id);
    p.version = version;
    p.traits = traits.as_object().cloned().unwrap_or_default();
    p.score = score;
    p.grade = (!grade.is_empty()).then(|| grade.to_string());
    p.lifecycle_stage = stage;
    if let Some((acc, traits)) = account {
        p.account = Some(acc.into());
        p.account_traits = traits.as_object().cloned().unwrap_or_default();
    }
    ProfileRow::from(&p)
}

fn event(ws: &str, profile: &str, message: &str, kind: &str, days_ago: f64) -> EventRow {
    EventRow {
        workspace: ws.into(),
        message_id: message.into(),
        profile_id: profile.into(),
        anonymous_id: String::new(),
        user_id: profile.into(),
        event_type: "track".into(),
        kind: kind.into(),
        event: kind.into(),
        properties: "{}".into(),
        traits: "{}".into(),
        context: "{}".into(),
        timestamp_ms: NOW - (days_ago * DAY as f64) as i64,
        received_at_ms: NOW,
        group_id: String::new(),
        previous_id: String::new(),
        enrichment: String::new(),
        campaign: String::new(),
        promo_code: String::new(),
        revenue: 0.0,
    }
}

fn fixture() -> WriteBatch {
    use LifecycleStage::*;
    let acme = json!({"industry": "Retail", "employees": 250});
    let globex = json!({"industry": "Manufacturing", "employees": "40"});
    let mut eve = person(
        "w",
        "eve",
        1,
        json!({"title": "VP Sales"}),
        5.0,
        "",
        Name,
        None,
    );
    eve.merged_into = "ann".into();
    let profiles = vec![
        person(
            "w",
            "ann",
            1,
            json!({"title": "Analyst"}),
            10.0,
            "C",
            Name,
            None,
        ),
        person(
            "w",
            "ann",
            2,
            json!({"title": "VP Sales", "company_size": 200, "country": "DE", "email": "ann@acme.io"}),
            55.0,
            "B",
            Mql,
            Some(("acme", acme.clone())),
        ),
        person(
            "w",
            "bob",
            1,
            json!({"title": "Engineer", "company_size": "200", "country": "FR"}),
            20.0,
            "D",
            Name,
            Some(("acme", acme.clone())),
        ),
        person(
            "w",
            "cy",
            1,
            json!({"title": "vp marketing", "company_size": 12.5, "newsletter": true, "nickname": null}),
            80.0,
            "A",
            Customer,
            Some(("globex", globex.clone())),
        ),
        person("w", "dee", 1, json!({}), 0.0, "", Name, None),
        eve,
        person(
            "w",
            "fay",
            1,
            json!({"title": "Director", "company_size": "n/a"}),
            60.0,
            "C",
            Mql,
            Some(("acme", acme)),
        ),
        person(
            "w",
            "fay",
            2,
            json!({"title": "Director", "company_size": "n/a"}),
            45.0,
            "C",
            Recycled,
            Some(("globex", globex)),
        ),
        person(
            "x",
            "zed",
            1,
            json!({"title": "VP Sales", "email": "z@x.io"}),
            99.0,
            "A",
            Mql,
            Some(("acme", json!({}))),
        ),
    ];
    let mut events = vec![
        event("w", "ann", "a1", "file_downloaded", 1.0),
        event("w", "ann", "a2", "file_downloaded", 2.0),
        event("w", "ann", "a3", "file_downloaded", 9.0),
        // A replay after a crash wrote a1 twice.
        event("w", "ann", "a1", "file_downloaded", 1.0),
        event("w", "ann", "a4", "page_viewed", 40.0),
        event("w", "eve", "e1", "file_downloaded", 5.0),
        event("w", "bob", "b1", "file_downloaded", 2.0),
        event("w", "bob", "b2", "page_viewed", 3.0),
        event("w", "bob", "b3", "page_viewed", 3.5),
        event("w", "cy", "c1", "page_viewed", 100.0),
        event("w", "fay", "f1", "email_clicked", 0.2),
        event("w", "fay", "f2", "email_clicked", 0.5),
        event("w", "fay", "f3", "email_clicked", 3.0),
    ];
    for i in 0..5 {
        events.push(event("x", "zed", &format!("z{i}"), "file_downloaded", 1.0));
    }
    // Purchases with properties, for `where`.
    for (who, id, days_ago, props) in [
        (
            "ann",
            "p1",
            5.0,
            json!({"revenue": 120, "currency": "EUR", "plan": "pro"}),
        ),
        ("bob", "p2", 5.0, json!({"revenue": 40, "currency": "EUR"})),
        (
            "cy",
            "p3",
            10.0,
            json!({"revenue": "250", "currency": "USD", "plan": "pro-annual"}),
        ),
        (
            "cy",
            "p4",
            200.0,
            json!({"revenue": 900, "currency": "USD"}),
        ),
        ("eve", "p5", 3.0, json!({"revenue": 15, "currency": "EUR"})),
    ] {
        let mut e = event("w", who, id, "purchase_completed", days_ago);
        e.properties = props.to_string();
        events.push(e);
    }
    WriteBatch {
        events,
        profiles,
        identities: vec![IdentityRow {
            workspace: "w".into(),
            id: "eve".into(),
            profile_id: "ann".into(),
            merged_at_ms: NOW - DAY,
        }],
        ..WriteBatch::default()
    }
}

fn object(kind: &str, id: &str, definition: Value, version: u64) -> ObjectRow {
    ObjectRow {
        workspace: "w".into(),
        kind: kind.into(),
        id: id.into(),
        name: id.into(),
        description: String::new(),
        definition: definition.to_string(),
        created_ms: NOW,
        updated_ms: NOW,
        version,
        deleted: 0,
    }
}

fn member(set: &str, id: &str, version: u64, removed: bool) -> SetMemberRow {
    SetMemberRow {
        workspace: "w".into(),
        set_id: set.into(),
        member_id: id.into(),
        version,
        removed: u8::from(removed),
    }
}

/// Saved segments and lists the `in_segment` / `in_list` examples refer to.
async fn saved_objects(store: &dyn Store) {
    let objects = [
        object(SEGMENT, "hot", json!({"score": {"gte": 50}}), 1),
        // Renamed and redefined: the newest version counts.
        object(SEGMENT, "vp", json!({"trait": "title", "eq": "x"}), 1),
        object(
            SEGMENT,
            "vp",
            json!({"trait": "title", "contains": "VP"}),
            2,
        ),
        object(
            SEGMENT,
            "hot-vp",
            json!({"and": [{"in_segment": "hot"}, {"in_segment": "vp"}]}),
            1,
        ),
        object(LIST, "vips", json!({"entity": "people"}), 1),
        object(LIST, "targets", json!({"entity": "accounts"}), 1),
    ];
    for o in &objects {
        store.write_object(o).await.expect("object");
    }
    store
        .write_set_members(&[
            member("vips", "ann", 1, false),
            member("vips", "bob", 1, false),
            member("vips", "cy", 1, false),
            member("targets", "globex", 1, false),
        ])
        .await
        .expect("members");
    // Bob taken off again, in a later write.
    store
        .write_set_members(&[member("vips", "bob", 2, true)])
        .await
        .expect("members");
}

#[tokio::test]
async fn every_example_gives_the_same_members_from_clickhouse_and_polars() {
    let examples: Vec<Value> =
        serde_json::from_str(include_str!("fixtures/segments.json")).expect("examples");
    assert!(examples.len() >= 25);
    let config = common::clickhouse_config();
    let clickhouse = ClickhouseStore::connect(&config).await.expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = EmbeddedStore::open(dir.path()).expect("open");
    let batch = fixture();
    // In two writes, so that versions and duplicates sit in different parts / files.
    let (first, second) = (
        WriteBatch {
            profiles: batch.profiles[..3].to_vec(),
            events: batch.events[..4].to_vec(),
            ..WriteBatch::default()
        },
        WriteBatch {
            profiles: batch.profiles[3..].to_vec(),
            events: batch.events[4..].to_vec(),
            identities: batch.identities.clone(),
            ..WriteBatch::default()
        },
    );
    let stores: [(&str, &dyn Store); 2] = [("clickhouse", &clickhouse), ("polars", &embedded)];
    for (_, store) in stores {
        store.write(&first).await.expect("write");
        store.write(&second).await.expect("write");
    }
    for (_, store) in stores {
        saved_objects(store).await;
    }
    let mut failures = Vec::new();
    // Everybody any example names, and some who are nobody's member.
    let mut candidates: std::collections::BTreeSet<String> = examples
        .iter()
        .flat_map(|e| {
            serde_json::from_value::<Vec<String>>(e["members"].clone()).unwrap_or_default()
        })
        .collect();
    candidates.extend(["ann", "eve", "nobody"].map(String::from));
    for example in &examples {
        let name = example["name"].as_str().expect("name");
        let segment = Segment::parse(&example["segment"]).expect(name);
        let segment = resolve(&clickhouse, "w", segment, &SegmentLimits::default())
            .await
            .expect(name);
        let want: Vec<String> =
            serde_json::from_value(example["members"].clone()).expect("members");
        for (backend, store) in stores {
            let got = store
                .segment_members("w", &segment, NOW)
                .await
                .unwrap_or_else(|e| panic!("{backend}: {name}: {e}"));
            if got != want {
                failures.push(format!("{backend}: {name}: got {got:?}, want {want:?}"));
            }
            let (count, first) = store
                .segment_preview("w", &segment, NOW, 2)
                .await
                .unwrap_or_else(|e| panic!("{backend}: {name}: {e}"));
            let want_first: Vec<String> = want.iter().take(2).cloned().collect();
            if count != want.len() as u64 || first != want_first {
                failures.push(format!("{backend}: {name}: preview {count} {first:?}"));
            }
            // Asked about one person at a time (as a person's memberships are), the same
            // answer: the embedded store then counts only that person's events (and those of
            // the ids merged into them: eve's are ann's).
            for who in &candidates {
                let one = Segment::And(vec![segment.clone(), Segment::Ids(vec![who.clone()])]);
                let got = store
                    .segment_members("w", &one, NOW)
                    .await
                    .unwrap_or_else(|e| panic!("{backend}: {name}: {e}"));
                let expected: Vec<String> = want.iter().filter(|m| *m == who).cloned().collect();
                if got != expected {
                    failures.push(format!("{backend}: {name}: {who} alone: got {got:?}"));
                }
            }
        }
    }
    // Hostile values are values: they match nobody and break nothing.
    for hostile in [
        json!({"trait": "title", "eq": "x') OR 1=1 --"}),
        json!({"trait": "title", "contains": "\\' ?"}),
        json!({"account": ["acme' OR '1'='1"]}),
        json!({"trait": "ti tle", "in": ["?", "`", "\""]}),
    ] {
        let segment = Segment::parse(&hostile).expect("valid");
        for (backend, store) in stores {
            let got = store.segment_members("w", &segment, NOW).await;
            match got {
                Ok(m) if m.is_empty() => {}
                other => failures.push(format!("{backend}: {hostile}: {other:?}")),
            }
        }
    }
    // A reference to an unknown or circular segment is an error at its node.
    for (def, path) in [
        (
            json!({"or": [{"in_segment": "nope"}]}),
            "$.or[0].in_segment",
        ),
        (json!({"not": {"in_list": "nope"}}), "$.not.in_list"),
    ] {
        let e = resolve(
            &embedded,
            "w",
            Segment::parse(&def).expect("valid"),
            &SegmentLimits::default(),
        )
        .await
        .expect_err("unknown");
        assert!(e.to_string().starts_with(path), "{e}");
    }
    embedded
        .write_object(&object(SEGMENT, "loop", json!({"in_segment": "loop2"}), 1))
        .await
        .expect("object");
    embedded
        .write_object(&object(
            SEGMENT,
            "loop2",
            json!({"or": [{"in_segment": "loop"}]}),
            1,
        ))
        .await
        .expect("object");
    let e = resolve(
        &embedded,
        "w",
        Segment::parse(&json!({"in_segment": "loop"})).expect("valid"),
        &SegmentLimits::default(),
    )
    .await
    .expect_err("cycle");
    assert!(e.to_string().contains("refers to itself"), "{e}");
    // Five levels of eight references each would be 32,768 leaves: refused at the limit, early.
    let mut previous = "lvl0".to_string();
    embedded
        .write_object(&object(
            SEGMENT,
            "lvl0",
            json!({"trait": "title", "contains": "VP"}),
            1,
        ))
        .await
        .expect("object");
    for level in 1..=5 {
        let id = format!("lvl{level}");
        let refs: Vec<serde_json::Value> =
            (0..8).map(|_| json!({"in_segment": previous})).collect();
        embedded
            .write_object(&object(SEGMENT, &id, json!({"or": refs}), 1))
            .await
            .expect("object");
        previous = id;
    }
    let started = std::time::Instant::now();
    let e = resolve(
        &embedded,
        "w",
        Segment::parse(&json!({"in_segment": "lvl5"})).expect("valid"),
        &SegmentLimits::default(),
    )
    .await
    .expect_err("too large");
    assert!(e.to_string().contains("query.segment_max_nodes"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // Three levels (585 nodes) stay within the default limit.
    resolve(
        &embedded,
        "w",
        Segment::parse(&json!({"in_segment": "lvl3"})).expect("valid"),
        &SegmentLimits::default(),
    )
    .await
    .expect("within the limit");
    // Many distinct traits in one tree, with no reference at all.
    let many: Vec<serde_json::Value> = (0..5)
        .map(|g| {
            let group: Vec<serde_json::Value> = (0..60)
                .map(|i| json!({"trait": format!("t{g}-{i}"), "eq": "x"}))
                .collect();
            json!({"or": group})
        })
        .collect();
    let e = resolve(
        &embedded,
        "w",
        Segment::parse(&json!({"or": many})).expect("valid"),
        &SegmentLimits::default(),
    )
    .await
    .expect_err("too many traits");
    assert!(e.to_string().contains("query.segment_max_traits"), "{e}");
    assert!(
        embedded
            .segment_members("w", &Segment::InSegment("hot".into()), NOW)
            .await
            .is_err(),
        "an unresolved tree is refused"
    );
    // Another workspace sees its own people only.
    let vp = Segment::parse(&json!({"trait": "title", "contains": "VP"})).expect("valid");
    for (backend, store) in stores {
        let got = store.segment_members("x", &vp, NOW).await.expect("x");
        assert_eq!(got, ["zed"], "{backend}");
    }
    common::drop_database(&config).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
