//! The ClickHouse store against the real server (18.16 in CI): migrations apply twice without
//! harm, writes are read back, the newest profile version wins, workspaces stay apart.

mod common;

use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::store::{
    EventRow, ProfileRow, ScoreChangeRow, StateRow, Store, WriteBatch,
};
use leadstream_platform::store::{ProfileReads, ScorerWrites};
use leadstream_schemas::{LifecycleStage, Profile};

fn profile(ws: &str, id: &str, version: u64, score: f64) -> ProfileRow {
    let mut p = Profile::new(ws, id);
    p.version = version;
    p.score = score;
    p.lifecycle_stage = LifecycleStage::Mql;
    p.traits
        .insert("email".into(), serde_json::json!("a@example.com"));
    p.counts.insert("page_viewed".into(), version);
    ProfileRow::from(&p)
}

#[tokio::test]
async fn profiles_round_trip_and_newest_version_wins() {
    let config = common::clickhouse_config();
    let store = ClickhouseStore::connect(&config)
        .await
        .expect("connect and migrate");
    // Migrations are idempotent: connecting again applies nothing and fails nothing.
    let store2 = ClickhouseStore::connect(&config)
        .await
        .expect("connect again");
    store.check().await.expect("check");

    let event = EventRow {
        workspace: "w".into(),
        message_id: "m1".into(),
        profile_id: "p".into(),
        anonymous_id: "a".into(),
        user_id: "p".into(),
        event_type: "track".into(),
        kind: "file_downloaded".into(),
        event: "File Downloaded".into(),
        properties: r#"{"file_name":"x.pdf"}"#.into(),
        traits: "{}".into(),
        context: "{}".into(),
        timestamp_ms: 1_700_000_000_123,
        received_at_ms: 1_700_000_000_456,
        group_id: String::new(),
        previous_id: String::new(),
        enrichment: r#"{"bot":true}"#.into(),
        campaign: "spring".into(),
        promo_code: "SPRING10".into(),
        revenue: 0.0,
    };
    let change = |at_ms: i64, seq: u32, rule: &str, points: f64, after: f64| ScoreChangeRow {
        workspace: "w".into(),
        profile_id: "p".into(),
        at_ms,
        message_id: format!("m{at_ms}"),
        seq,
        kind: "file_downloaded".into(),
        event: "File Downloaded".into(),
        score: "engagement".into(),
        rule: rule.into(),
        points,
        before: after - points,
        after,
        model: "digest".into(),
    };
    let first = WriteBatch {
        events: vec![event.clone()],
        score_changes: vec![change(10, 0, "download", 8.0, 8.0)],
        profiles: vec![profile("w", "p", 1, 1.0), profile("w", "q", 1, 7.0)],
        ..WriteBatch::default()
    };
    store.write(&first).await.expect("write");
    // The stored history reads back whole, in time order, within the window.
    let history = store2.events("w", 0, i64::MAX, 10).await.expect("events");
    assert_eq!(history, std::slice::from_ref(&event));
    assert!(
        store
            .events("w", 0, 1_700_000_000_123, 10)
            .await
            .expect("before")
            .is_empty()
    );
    assert!(
        store
            .events("x", 0, i64::MAX, 10)
            .await
            .expect("other")
            .is_empty()
    );
    store2
        .write(&WriteBatch {
            score_changes: vec![
                change(20, 0, "decay", -1.0, 7.0),
                change(20, 1, "download", 8.0, 15.0),
            ],
            profiles: vec![profile("w", "p", 3, 3.0), profile("other", "p", 9, 9.0)],
            ..WriteBatch::default()
        })
        .await
        .expect("write");
    // A replay writes a change again: it is still listed once.
    store
        .write(&WriteBatch {
            score_changes: vec![change(10, 0, "download", 8.0, 8.0)],
            profiles: vec![profile("w", "p", 2, 2.0)],
            ..WriteBatch::default()
        })
        .await
        .expect("write");
    let changes = store.score_changes("w", "p", 10).await.expect("changes");
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.at_ms, c.seq, c.rule.as_str()))
            .collect::<Vec<_>>(),
        vec![(20, 1, "download"), (20, 0, "decay"), (10, 0, "download")]
    );
    assert_eq!(
        store
            .score_changes("w", "p", 1)
            .await
            .expect("changes")
            .len(),
        1
    );
    assert!(
        store
            .score_changes("other", "p", 10)
            .await
            .expect("changes")
            .is_empty()
    );

    let p = store.profile("w", "p").await.expect("read").expect("found");
    assert_eq!(
        (p.version, p.score, p.lifecycle_stage),
        (3, 3.0, LifecycleStage::Mql)
    );
    assert_eq!(p.traits["email"], "a@example.com");
    assert_eq!(p.counts["page_viewed"], 3);
    assert!(store.profile("w", "nobody").await.expect("read").is_none());
    // A workspace never sees another's profile.
    assert_eq!(
        store
            .profile("other", "p")
            .await
            .expect("read")
            .expect("found")
            .score,
        9.0
    );
    assert!(store.profile("nobody", "q").await.expect("read").is_none());

    // Rows written without a partition (-1) are every scorer's to sort out by key.
    let mut all = store.load_profiles(&[]).await.expect("load");
    all.sort_by(|a, b| (&a.workspace, &a.profile_id).cmp(&(&b.workspace, &b.profile_id)));
    let got: Vec<_> = all
        .iter()
        .map(|p| (p.workspace.as_str(), p.profile_id.as_str(), p.version))
        .collect();
    assert_eq!(got, vec![("other", "p", 9), ("w", "p", 3), ("w", "q", 1)]);

    let events = store
        .client()
        .query("SELECT ?fields FROM events WHERE workspace = ?")
        .bind("w")
        .fetch_all::<EventRow>()
        .await
        .expect("events");
    assert_eq!(events, vec![event]);

    // User text never reaches SQL unescaped.
    assert!(
        store
            .profile("w' OR 1=1 --", "p")
            .await
            .expect("read")
            .is_none()
    );

    common::drop_database(&config).await;
}

#[tokio::test]
async fn instances_starting_at_once_both_migrate() {
    // Scaled-out scorers and query APIs start together against a fresh database: every
    // migration, the added columns included, must survive running twice at the same moment.
    for _ in 0..3 {
        let config = common::clickhouse_config();
        let (a, b, c) = tokio::join!(
            ClickhouseStore::connect(&config),
            ClickhouseStore::connect(&config),
            ClickhouseStore::connect(&config)
        );
        for store in [a, b, c] {
            store
                .expect("every instance migrates")
                .check()
                .await
                .expect("check");
        }
        common::drop_database(&config).await;
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let mut config = common::clickhouse_config();
    config.url = "http://127.0.0.1:1".into();
    let err = ClickhouseStore::connect(&config)
        .await
        .err()
        .expect("no server");
    assert!(err.is_retryable(), "{err}");
}

/// Parked webhook deliveries: the newest version of each wins, filtered by status, per workspace;
/// the same through the embedded store.
#[tokio::test]
async fn webhook_deliveries_keep_their_newest_state_in_both_stores() {
    use leadstream_platform::store::DeliveryRow;
    let row = |ws: &str, id: &str, status: &str, version: u64| DeliveryRow {
        workspace: ws.into(),
        id: id.into(),
        webhook: "sf".into(),
        kind: "lead.qualified".into(),
        profile_id: "p".into(),
        idempotency_key: "w/p/1".into(),
        body: r#"{"a":1}"#.into(),
        attempts: version as u32,
        status: status.into(),
        last_error: "503".into(),
        created_ms: 1000 + version as i64,
        updated_ms: 2000,
        version,
    };
    let config = common::clickhouse_config();
    let clickhouse = ClickhouseStore::connect(&config).await.expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded =
        leadstream_platform::store::embedded::EmbeddedStore::open(dir.path()).expect("open");
    let stores: [&dyn Store; 2] = [&clickhouse, &embedded];
    for store in stores {
        assert!(
            store
                .deliveries("w", None, 10)
                .await
                .expect("empty")
                .is_empty()
        );
        store
            .write_deliveries(&[row("w", "a@sf", "parked", 1), row("w", "b@sf", "parked", 1)])
            .await
            .expect("write");
        store
            .write_deliveries(&[
                row("w", "a@sf", "delivered", 2),
                row("x", "c@sf", "parked", 1),
            ])
            .await
            .expect("write");
        let parked = store
            .deliveries("w", Some("parked"), 10)
            .await
            .expect("read");
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].id, "b@sf");
        assert_eq!(parked[0].body, r#"{"a":1}"#);
        let all = store.deliveries("w", None, 10).await.expect("read");
        assert_eq!(all.len(), 2);
        let a = all.iter().find(|r| r.id == "a@sf").expect("a");
        assert_eq!((a.status.as_str(), a.attempts), ("delivered", 2));
    }
    common::drop_database(&config).await;
}

/// A scorer loads the profiles of the partitions it was assigned (the newest version of each,
/// wherever an older one was), and every row stored before rows carried a partition.
#[tokio::test]
async fn profiles_load_by_log_partition_in_both_stores() {
    let config = common::clickhouse_config();
    let clickhouse = ClickhouseStore::connect(&config).await.expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded =
        leadstream_platform::store::embedded::EmbeddedStore::open(dir.path()).expect("open");
    let stores: [(&dyn Store, bool); 2] = [(&clickhouse, true), (&embedded, false)];
    for (store, many_partitions) in stores {
        let row = |id: &str, version: u64, partition: i64| ProfileRow {
            log_partition: partition,
            ..profile("w", id, version, 1.0)
        };
        let rows = if many_partitions {
            vec![
                row("a", 1, 0),
                row("b", 1, 1),
                row("c", 1, 2),
                row("legacy", 1, -1),
            ]
        } else {
            vec![row("a", 1, 0), row("legacy", 1, -1)]
        };
        let batch = |profiles| WriteBatch {
            profiles,
            ..WriteBatch::default()
        };
        store.write(&batch(rows)).await.expect("write");
        // A newer version of the legacy profile, now with its partition.
        let legacy_now = if many_partitions { 2 } else { 0 };
        store
            .write(&batch(vec![row("legacy", 2, legacy_now)]))
            .await
            .expect("write");
        let ids = |rows: Vec<StateRow>| {
            let mut got: Vec<(String, u64, i64)> = rows
                .into_iter()
                .map(|r| (r.profile_id, r.version, r.log_partition))
                .collect();
            got.sort();
            got
        };
        // Streamed (what a scorer's assignment reads): the same rows as collected.
        let streamed = |partitions: &'static [i32]| {
            let store = &store;
            async move {
                let mut rows = Vec::new();
                store
                    .load_profiles_each(partitions, &mut |r| rows.push(r))
                    .await
                    .expect("stream");
                ids(rows)
            }
        };
        let loaded = ids(store.load_profiles(&[0]).await.expect("load"));
        assert_eq!(streamed(&[0]).await, loaded);
        if many_partitions {
            assert_eq!(loaded, vec![("a".to_string(), 1, 0)]);
            let loaded = ids(store.load_profiles(&[1, 2]).await.expect("load"));
            assert_eq!(streamed(&[1, 2]).await, loaded);
            assert_eq!(
                loaded,
                vec![
                    ("b".to_string(), 1, 1),
                    ("c".to_string(), 1, 2),
                    ("legacy".to_string(), 2, 2)
                ]
            );
        } else {
            assert_eq!(
                loaded,
                vec![("a".to_string(), 1, 0), ("legacy".to_string(), 2, 0)]
            );
        }
    }
    common::drop_database(&config).await;
}

/// Accounts roll up from the newest version of each member: a person who moved to another
/// account leaves the old one, a merged-away profile counts nowhere, workspaces stay apart; the
/// ranking and the members are the same from both stores.
#[tokio::test]
async fn accounts_roll_up_from_current_members_in_both_stores() {
    use leadstream_schemas::Account;
    let person = |ws: &str, id: &str, version: u64, account: &str, score: f64, at: i64| {
        let mut p = Profile::new(ws, id);
        p.version = version;
        p.score = score;
        p.event_count = version * 2;
        p.last_seen_ms = at;
        p.account = Some(account.into());
        p.account_at_ms = at;
        p.account_traits
            .insert("name".into(), serde_json::json!(format!("{account} @{at}")));
        if score >= 50.0 {
            p.lifecycle_stage = LifecycleStage::Mql;
        }
        p.purchases.revenue = 12.5;
        p
    };
    let mut merged = person("w", "anon-1", 2, "acme", 80.0, 5_000);
    merged.merged_into = Some("ann".into());
    let profiles = [
        person("w", "ann", 1, "acme", 10.0, 1_000),
        person("w", "ann", 2, "acme", 55.0, 2_000),
        person("w", "bob", 1, "acme", 30.0, 1_500),
        person("w", "cy", 1, "acme", 20.0, 1_000),
        // Cy moved to globex: only the newest version counts.
        person("w", "cy", 2, "globex", 20.5, 3_000),
        merged,
        person("x", "dee", 1, "acme", 99.0, 1_000),
    ];
    let rows: Vec<ProfileRow> = profiles.iter().map(ProfileRow::from).collect();
    let config = common::clickhouse_config();
    let clickhouse = ClickhouseStore::connect(&config).await.expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded =
        leadstream_platform::store::embedded::EmbeddedStore::open(dir.path()).expect("open");
    let stores: [(&str, &dyn Store); 2] = [("clickhouse", &clickhouse), ("embedded", &embedded)];
    for (name, store) in stores {
        assert!(store.accounts("w", 10).await.expect("empty").is_empty());
        // Two writes, so the versions of one profile sit in different parts / files.
        let (first, second) = rows.split_at(3);
        for part in [first, second] {
            store
                .write(&WriteBatch {
                    profiles: part.to_vec(),
                    ..WriteBatch::default()
                })
                .await
                .expect("write");
        }
        let ranking = store.accounts("w", 10).await.expect("accounts");
        let ids: Vec<&str> = ranking.iter().map(|a| a.account_id.as_str()).collect();
        assert_eq!(ids, ["acme", "globex"], "{name}: {ranking:?}");
        let acme = &ranking[0];
        assert_eq!(acme.people, 2, "{name}: ann and bob");
        assert_eq!(acme.score, 85.0, "{name}");
        assert_eq!(acme.max_score, 55.0, "{name}");
        assert_eq!(acme.qualified_people, 1, "{name}");
        assert_eq!(acme.event_count, 6, "{name}");
        assert_eq!(acme.revenue, 25.0, "{name}");
        assert_eq!(acme.last_seen_ms, 2_000, "{name}");
        assert_eq!(acme.name.as_deref(), Some("acme @2000"), "{name}");
        assert_eq!(store.accounts("w", 1).await.expect("limit").len(), 1);

        let members = store.account_members("w", "acme").await.expect("members");
        let ids: Vec<&str> = members.iter().map(|p| p.profile_id.as_str()).collect();
        assert_eq!(ids, ["ann", "bob"], "{name}");
        let account = Account::roll_up("w", "acme", &members).expect("account");
        assert_eq!(
            account.summary(),
            *acme,
            "{name}: roll-up and ranking agree"
        );
        let globex = store.account_members("w", "globex").await.expect("members");
        assert_eq!(globex.len(), 1, "{name}");
        assert_eq!(globex[0].version, 2, "{name}");
        assert!(
            store
                .account_members("w", "initech")
                .await
                .expect("none")
                .is_empty()
        );
        let other = store.accounts("x", 10).await.expect("x");
        assert_eq!((other.len(), other[0].people), (1, 1), "{name}");
    }
    common::drop_database(&config).await;
}

/// Hand-offs and resolved identities: a replay's repeated rows collapse, workspaces stay apart,
/// the same from both stores.
#[tokio::test]
async fn handoffs_and_identities_are_kept_once_in_both_stores() {
    use leadstream_platform::store::{HandoffRow, IdentityRow};
    let handoff = |ws: &str, id: &str, crossing: u32| HandoffRow {
        workspace: ws.into(),
        profile_id: id.into(),
        crossing,
        qualified_at_ms: 1_000 * i64::from(crossing),
        score_name: "engagement".into(),
        score: 51.0,
        threshold: 50.0,
        grade: "B".into(),
        model: "m1".into(),
        record: r#"{"type":"lead.qualified"}"#.into(),
    };
    let identity = |ws: &str, id: &str, into: &str, at: i64| IdentityRow {
        workspace: ws.into(),
        id: id.into(),
        profile_id: into.into(),
        merged_at_ms: at,
    };
    let batch = WriteBatch {
        handoffs: vec![
            handoff("w", "ann", 2),
            handoff("w", "ann", 1),
            handoff("x", "ann", 1),
        ],
        identities: vec![
            identity("w", "dev-1", "ann", 10),
            identity("x", "dev-9", "zed", 10),
        ],
        ..WriteBatch::default()
    };
    // The replay after a crash writes the same rows again.
    let replay = WriteBatch {
        handoffs: vec![handoff("w", "ann", 2)],
        identities: vec![
            identity("w", "dev-1", "ann", 10),
            identity("w", "dev-2", "ann", 20),
        ],
        ..WriteBatch::default()
    };
    let config = common::clickhouse_config();
    let clickhouse = ClickhouseStore::connect(&config).await.expect("connect");
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded =
        leadstream_platform::store::embedded::EmbeddedStore::open(dir.path()).expect("open");
    let stores: [(&str, &dyn Store); 2] = [("clickhouse", &clickhouse), ("embedded", &embedded)];
    for (name, store) in stores {
        assert!(store.handoffs("w", "ann").await.expect("none").is_empty());
        store.write(&batch).await.expect("write");
        store.write(&replay).await.expect("replay");
        let h = store.handoffs("w", "ann").await.expect("handoffs");
        let crossings: Vec<u32> = h.iter().map(|r| r.crossing).collect();
        assert_eq!(crossings, [1, 2], "{name}");
        assert_eq!(h[0], handoff("w", "ann", 1), "{name}");
        let ids = store.identities("w").await.expect("identities");
        assert_eq!(
            ids,
            [
                identity("w", "dev-1", "ann", 10),
                identity("w", "dev-2", "ann", 20)
            ],
            "{name}"
        );
        assert_eq!(store.identities("x").await.expect("x").len(), 1, "{name}");
    }
    common::drop_database(&config).await;
}

/// The migrated tables have exactly the columns (names, order and types) of the row descriptions
/// in `store/rows.rs`, which the embedded store's codec and the `RowBinary` encoding both follow:
/// a column added to one and not the other fails here, on every engine the suite runs against.
#[tokio::test]
async fn migrated_tables_have_the_columns_of_the_row_descriptions() {
    use leadstream_platform::store::{
        Column, DeliveryRow, HandoffRow, IdentityRow, ObjectRow, SetMemberRow, Table,
    };
    let config = common::clickhouse_config();
    let store = ClickhouseStore::connect(&config).await.expect("connect");
    async fn columns_of(store: &ClickhouseStore, table: &str) -> Vec<(String, String)> {
        store
            .client()
            .query(
                "SELECT name, type FROM system.columns WHERE database = currentDatabase() \
                 AND table = ? AND default_kind != 'ALIAS'",
            )
            .bind(table)
            .fetch_all::<(String, String)>()
            .await
            .expect("columns")
    }
    fn described(columns: &[Column]) -> Vec<(String, String)> {
        columns
            .iter()
            .map(|c| (c.name.to_string(), c.ty.clickhouse().to_string()))
            .collect()
    }
    // Current servers store the columns of few values dictionary-encoded (migration 16):
    // the same values in RowBinary, so the same description; 18.16 keeps plain String.
    let major = leadstream_platform::store::clickhouse::migrations::server_major(store.client())
        .await
        .expect("version");
    let kind = columns_of(&store, EventRow::TABLE)
        .await
        .into_iter()
        .find(|(name, _)| name == "kind")
        .expect("events.kind")
        .1;
    if major >= 20 {
        assert_eq!(kind, "LowCardinality(String)", "on ClickHouse {major}");
    } else {
        assert_eq!(kind, "String", "on ClickHouse {major}");
    }
    // Current servers also read the millisecond times as DateTime64 (migration 17), computed on
    // read: an event stored at a known time reads back as that time.
    let views: Vec<(String, String)> = store
        .client()
        .query(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() \
             AND default_kind = 'ALIAS' ORDER BY table, name",
        )
        .fetch_all()
        .await
        .expect("alias columns");
    if major >= 21 {
        assert_eq!(views.len(), 9, "{views:?}");
        assert!(
            views.iter().all(|(_, ty)| ty == "DateTime64(3, 'UTC')"),
            "{views:?}"
        );
        let at = 1_767_225_600_123i64; // 2026-01-01 00:00:00.123 UTC
        store
            .client()
            .query(
                "INSERT INTO events (workspace, message_id, profile_id, timestamp_ms, received_at_ms) \
                 VALUES ('datetime-view', 'm', 'p', ?, ?)",
            )
            .bind(at)
            .bind(at)
            .execute()
            .await
            .expect("insert");
        let shown: String = store
            .client()
            .query("SELECT toString(event_time) FROM events WHERE workspace = 'datetime-view'")
            .fetch_one()
            .await
            .expect("event_time");
        assert_eq!(shown, "2026-01-01 00:00:00.123");
    } else {
        assert!(views.is_empty(), "18.16 keeps the plain schema: {views:?}");
    }
    let plain = |columns: Vec<(String, String)>| -> Vec<(String, String)> {
        columns
            .into_iter()
            .map(|(name, ty)| {
                let ty = ty
                    .strip_prefix("LowCardinality(")
                    .and_then(|t| t.strip_suffix(')'))
                    .map_or(ty.clone(), str::to_string);
                (name, ty)
            })
            .collect()
    };
    for (table, columns) in [
        (EventRow::TABLE, EventRow::COLUMNS),
        (ProfileRow::TABLE, ProfileRow::COLUMNS),
        (ScoreChangeRow::TABLE, ScoreChangeRow::COLUMNS),
        (DeliveryRow::TABLE, DeliveryRow::COLUMNS),
        (HandoffRow::TABLE, HandoffRow::COLUMNS),
        (IdentityRow::TABLE, IdentityRow::COLUMNS),
        (ObjectRow::TABLE, ObjectRow::COLUMNS),
        (SetMemberRow::TABLE, SetMemberRow::COLUMNS),
    ] {
        assert_eq!(
            plain(columns_of(&store, table).await),
            described(columns),
            "table {table}"
        );
    }
}

/// The purge of failed events past retention forgets exactly those received before the cut:
/// a lightweight `DELETE` on current servers (23.3 and later), a mutation on 18.16.
#[tokio::test]
async fn purging_failed_events_forgets_those_before_the_cut() {
    use leadstream_platform::failed::FailedEvents;
    use leadstream_schemas::{FailedEvent, FailedFilter};
    let config = common::clickhouse_config();
    let store = ClickhouseStore::connect(&config).await.expect("connect");
    let failed = |id: &str, at: i64| FailedEvent {
        id: id.into(),
        workspace: "w".into(),
        received_at_ms: at,
        endpoint: "/v1/batch".into(),
        code: "invalid_field".into(),
        field: Some("properties.currency".into()),
        problem: "is required".into(),
        event_name: None,
        message_id: format!("m-{id}"),
        sent_at: None,
        public_key: false,
        ip: None,
        user_agent: None,
        payload: "{}".into(),
        replayed_at_ms: None,
        replay_outcome: None,
    };
    let day = 86_400_000i64;
    let now = 1_767_225_600_000i64;
    store
        .put(&[
            failed("old-1", now - 20 * day),
            failed("old-2", now - 15 * day),
            failed("new-1", now - day),
        ])
        .await
        .expect("put");
    let features = store.features();
    assert_eq!(
        features.lightweight_delete(),
        features.version >= (23, 3),
        "{features:?}"
    );
    store.purge(now - 14 * day).await.expect("purge");
    // A mutation (18.16) runs in the background; a lightweight delete is visible at once.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left: Vec<String> = store
            .list("w", &FailedFilter::default(), 10)
            .await
            .expect("list")
            .into_iter()
            .map(|e| e.id)
            .collect();
        if left == ["new-1"] {
            break;
        }
        assert!(
            !features.lightweight_delete(),
            "a lightweight delete is seen at once: {left:?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge never took: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    common::drop_database(&config).await;
}
