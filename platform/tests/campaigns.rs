//! Campaign attribution conformance: the same fixture in the ClickHouse store (the real server)
//! and the embedded store must give exactly the expected responders and outcomes.

mod common;

use leadstream_platform::campaign::ResponderQuery;
use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::store::embedded::EmbeddedStore;
use leadstream_platform::store::{EventRow, HandoffRow, IdentityRow, Store, WriteBatch};
use leadstream_schemas::campaign::Responder;
use serde_json::json;

const DAY: i64 = 86_400_000;
const START: i64 = 1_790_000_000_000;

fn event(ws: &str, who: &str, id: &str, kind: &str, day: i64) -> EventRow {
    EventRow {
        workspace: ws.into(),
        message_id: id.into(),
        profile_id: who.into(),
        anonymous_id: String::new(),
        user_id: who.into(),
        event_type: "track".into(),
        kind: kind.into(),
        event: kind.into(),
        properties: "{}".into(),
        traits: "{}".into(),
        context: "{}".into(),
        timestamp_ms: START + day * DAY,
        received_at_ms: START + day * DAY,
        group_id: String::new(),
        previous_id: String::new(),
        enrichment: String::new(),
        campaign: String::new(),
        promo_code: String::new(),
        revenue: 0.0,
    }
}

fn response(who: &str, id: &str, campaign: &str, day: i64) -> EventRow {
    EventRow {
        campaign: campaign.into(),
        ..event("w", who, id, "email_clicked", day)
    }
}

fn purchase(who: &str, id: &str, revenue: f64, promo: &str, day: i64) -> EventRow {
    EventRow {
        properties: json!({"order_id": id, "revenue": revenue, "currency": "EUR"}).to_string(),
        promo_code: promo.into(),
        revenue,
        ..event("w", who, id, "purchase_completed", day)
    }
}

fn handoff(who: &str, day: i64) -> HandoffRow {
    HandoffRow {
        workspace: "w".into(),
        profile_id: who.into(),
        crossing: 1,
        qualified_at_ms: START + day * DAY,
        score_name: "engagement".into(),
        score: 50.0,
        threshold: 40.0,
        grade: "B".into(),
        model: "m".into(),
        record: "{}".into(),
    }
}

#[tokio::test]
async fn both_stores_attribute_the_same_responders() {
    let events = vec![
        response("eve", "e1", "spring", 1),
        response("ann", "a1", "spring", 2),
        // Replayed after a crash.
        response("ann", "a1", "spring", 2),
        purchase("ann", "a2", 100.0, "", 5),
        // Bought under the anonymous id merged into ann: hers.
        purchase("eve", "e3", 25.0, "", 7),
        event("w", "ann", "a3", "deal_won", 6),
        purchase("bob", "b1", 50.0, "SPRING10", 4),
        response("cy", "c1", "spring", -1),
        response("dee", "d1", "summer", 3),
        purchase("fay", "f0", 70.0, "", 0),
        response("fay", "f1", "spring", 2),
        // Outcomes after the report's cut-off do not count.
        purchase("fay", "f2", 30.0, "", 40),
        EventRow {
            campaign: "spring".into(),
            ..event("x", "zed", "z1", "email_clicked", 2)
        },
    ];
    let batch = WriteBatch {
        events,
        handoffs: vec![handoff("ann", 3), handoff("fay", 1)],
        identities: vec![IdentityRow {
            workspace: "w".into(),
            id: "eve".into(),
            profile_id: "ann".into(),
            merged_at_ms: START + 2 * DAY,
        }],
        ..WriteBatch::default()
    };
    let config = common::clickhouse_config();
    let clickhouse = ClickhouseStore::connect(&config).await.expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = EmbeddedStore::open(dir.path()).expect("open");
    let stores: [(&str, &dyn Store); 2] = [("clickhouse", &clickhouse), ("polars", &embedded)];
    let query = ResponderQuery {
        utm_campaigns: vec!["spring".into()],
        promo_codes: vec!["SPRING10".into()],
        from_ms: START,
        to_ms: START + 31 * DAY,
        until_ms: START + 35 * DAY,
    };
    let r = |id: &str, n: u64, first: i64, q: i64, w: i64, revenue: f64| Responder {
        profile_id: id.into(),
        responses: n,
        first_response_ms: START + first * DAY,
        qualified_ms: if q < 0 { 0 } else { START + q * DAY },
        won_ms: if w < 0 { 0 } else { START + w * DAY },
        revenue,
    };
    let want = vec![
        r("ann", 2, 1, 3, 6, 125.0),
        r("bob", 1, 4, -1, -1, 50.0),
        r("fay", 1, 2, -1, -1, 0.0),
    ];
    for (backend, store) in stores {
        store.write(&batch).await.expect("write");
        let got = store
            .campaign_responders("w", &query)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(got, want, "{backend}");
        // Promo codes alone, and no codes at all.
        let promo = ResponderQuery {
            utm_campaigns: vec![],
            ..query.clone()
        };
        let got = store.campaign_responders("w", &promo).await.expect("promo");
        assert_eq!(got.len(), 1, "{backend}: {got:?}");
        let none = ResponderQuery {
            utm_campaigns: vec![],
            promo_codes: vec![],
            ..query.clone()
        };
        assert!(
            store
                .campaign_responders("w", &none)
                .await
                .expect("none")
                .is_empty()
        );
        let other = store.campaign_responders("x", &query).await.expect("x");
        assert_eq!(other.len(), 1, "{backend}");
    }
    common::drop_database(&config).await;
}
