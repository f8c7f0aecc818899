//! Saved segments and marketing lists end to end, in both modes: events go in through the
//! collector, the scorer builds profiles, and the query API saves segments, pages and exports
//! their members (CSV, JSON lines, Parquet read back with polars), snapshots them and compares
//! snapshots; lists are created, filled by id, from a segment and from a CSV upload matched on
//! email, copied, combined, exported, and used in segment conditions. One entity per list.

mod common;

use reqwest::Method;
use serde_json::{Value, json};

fn people() -> Value {
    let download = |who: &str, id: &str| json!({"type": "track", "userId": who, "event": "File Downloaded", "properties": {"file_name": "guide.pdf"}, "messageId": id});
    json!({"batch": [
        {"type": "identify", "userId": "ann", "traits": {"email": "ann@acme.io", "title": "VP Sales", "first_name": "Ann"}, "messageId": "i1"},
        {"type": "identify", "userId": "bob", "traits": {"email": "Bob@Acme.io", "title": "Engineer"}, "messageId": "i2"},
        {"type": "identify", "userId": "cy", "traits": {"email": "cy@globex.io", "title": "VP, Finance"}, "messageId": "i3"},
        {"type": "identify", "userId": "dee", "traits": {"title": "Intern"}, "messageId": "i4"},
        {"type": "group", "userId": "ann", "groupId": "acme", "traits": {"name": "Acme"}, "messageId": "g1"},
        {"type": "group", "userId": "bob", "groupId": "acme", "messageId": "g2"},
        {"type": "group", "userId": "cy", "groupId": "globex", "traits": {"name": "Globex"}, "messageId": "g3"},
        download("ann", "d1"),
        download("ann", "d2"),
        download("bob", "d3"),
        {"type": "page", "userId": "cy", "messageId": "p1"},
        {"type": "page", "userId": "dee", "messageId": "p2"},
        // Ann browsed anonymously before she was known.
        {"type": "page", "anonymousId": "dev-ann", "messageId": "p3", "timestamp": "2026-01-01T00:00:00Z"},
        {"type": "identify", "userId": "ann", "anonymousId": "dev-ann", "messageId": "i5"},
    ]})
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .iter()
        .map(|m| {
            m.get("profile_id")
                .or_else(|| m.get("account_id"))
                .unwrap_or(m)
                .as_str()
                .expect("id")
                .to_string()
        })
        .collect()
}

async fn export(run: &common::Running, path: &str, format: &str) -> (String, Vec<u8>) {
    let (status, content_type, body) = run
        .call(
            Method::GET,
            &format!("{path}?format={format}"),
            common::TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    (content_type, body)
}

fn csv_rows(body: &[u8]) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_reader(body);
    let header = r.headers().expect("header").clone();
    assert_eq!(&header[0], "profile_id");
    r.records().map(|x| x.expect("row")).collect()
}

async fn check(run: &common::Running) {
    let (status, body) = run.post_batch(&people()).await;
    assert_eq!(status, 200, "{body}");
    run.wait_for_profile("bob", |p| p["account"] == "acme")
        .await;
    run.wait_for_profile("ann", |p| p["counts"]["file_downloaded"] == 2)
        .await;
    run.wait_for_profile("dee", |p| p["event_count"] == 2).await;
    run.wait_for_profile("cy", |p| p["account"] == "globex")
        .await;

    // --- Saved segments.
    let (status, seg) = run
        .json(
            Method::POST,
            "/v1/segments",
            Some(&json!({"name": "Downloaders", "description": "guides, 30 days", "definition": {"did": "file_downloaded", "within_days": 30}})),
        )
        .await;
    assert_eq!(status, 201, "{seg}");
    let seg_id = seg["id"].as_str().expect("id").to_string();
    for (body, code, field) in [
        (
            json!({"name": "downloaders", "definition": {"score": {"gte": 1}}}),
            409,
            "name",
        ),
        (
            json!({"name": "Bad", "definition": {"and": [{"score": {"gte": "x"}}]}}),
            400,
            "definition.and[0].score.gte",
        ),
        (
            json!({"name": "Dangling", "definition": {"not": {"in_segment": "seg_nope"}}}),
            400,
            "definition.not.in_segment",
        ),
        (
            json!({"name": "", "definition": {"score": {"gte": 1}}}),
            400,
            "name",
        ),
        (json!({"name": "No definition"}), 400, "definition"),
    ] {
        let (status, e) = run.json(Method::POST, "/v1/segments", Some(&body)).await;
        assert_eq!((status, &e["error"]["field"]), (code, &json!(field)), "{e}");
    }
    let (status, vps) = run
        .json(
            Method::POST,
            "/v1/segments",
            Some(&json!({"name": "VP downloaders", "definition": {"and": [{"in_segment": seg_id}, {"trait": "title", "starts_with": "VP"}]}})),
        )
        .await;
    assert_eq!(status, 201, "{vps}");
    let vps_id = vps["id"].as_str().expect("id").to_string();
    let (_, preview) = run.get(&format!("/v1/segments/{vps_id}/preview")).await;
    assert_eq!(preview["sample"], json!(["ann"]), "{preview}");
    // A change that would close a cycle is refused; deleting a segment others use is too.
    let (status, e) = run
        .json(
            Method::PUT,
            &format!("/v1/segments/{seg_id}"),
            Some(&json!({"definition": {"or": [{"in_segment": vps_id}]}})),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(
        e["error"]["field"],
        "definition.or[0].in_segment.and[0].in_segment"
    );
    let (status, e) = run
        .json(Method::DELETE, &format!("/v1/segments/{seg_id}"), None)
        .await;
    assert_eq!(status, 409, "{e}");
    let (status, list) = run.get("/v1/segments").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Downloaders", "VP downloaders"]);

    // Members, paged by id.
    let (status, page1) = run
        .get(&format!("/v1/segments/{seg_id}/members?limit=1"))
        .await;
    assert_eq!(status, 200, "{page1}");
    assert_eq!(
        (page1["count"].clone(), ids(&page1, "members")),
        (json!(2), vec!["ann".to_string()])
    );
    assert_eq!(page1["members"][0]["traits"]["email"], "ann@acme.io");
    let after = page1["next_after"].as_str().expect("more");
    let (_, page2) = run
        .get(&format!(
            "/v1/segments/{seg_id}/members?limit=1&after={after}"
        ))
        .await;
    assert_eq!(ids(&page2, "members"), ["bob"]);
    assert!(page2.get("next_after").is_none(), "{page2}");

    // Exports in three formats hold the same people.
    let path = format!("/v1/segments/{seg_id}/export");
    let (ct, body) = export(run, &path, "csv").await;
    assert!(ct.starts_with("text/csv"), "{ct}");
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (&rows[0][0], &rows[0][1], &rows[0][2]),
        ("ann", "ann@acme.io", "Ann")
    );
    assert_eq!(&rows[1][0], "bob");
    let (_, body) = export(run, &path, "jsonl").await;
    let lines: Vec<Value> = String::from_utf8(body)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["profile_id"], "bob");
    assert_eq!(lines[1]["account"], "acme");
    let (_, body) = export(run, &path, "parquet").await;
    let df = polars::prelude::ParquetReader::new(std::io::Cursor::new(body))
        .finish()
        .expect("parquet");
    use polars::prelude::SerReader as _;
    assert_eq!(df.height(), 2);
    let emails: Vec<Option<&str>> = df
        .column("email")
        .expect("email")
        .str()
        .expect("text")
        .iter()
        .collect();
    assert_eq!(emails, [Some("ann@acme.io"), Some("Bob@Acme.io")]);
    let (status, e) = run.get(&format!("{path}?format=xlsx")).await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("format")),
        "{e}"
    );

    // Snapshots: today's members are kept; after dee downloads, the comparison shows her joining.
    let (status, snap1) = run
        .json(
            Method::POST,
            &format!("/v1/segments/{seg_id}/snapshots"),
            None,
        )
        .await;
    assert_eq!((status, &snap1["count"]), (201, &json!(2)), "{snap1}");
    let (status, body) = run
        .post_batch(&json!({"batch": [{"type": "track", "userId": "dee", "event": "File Downloaded", "properties": {"file_name": "x.pdf"}, "messageId": "d4"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    run.wait_for_profile("dee", |p| p["counts"]["file_downloaded"] == 1)
        .await;
    let (_, snap2) = run
        .json(
            Method::POST,
            &format!("/v1/segments/{seg_id}/snapshots"),
            None,
        )
        .await;
    assert_eq!(snap2["count"], 3, "{snap2}");
    let (s1, s2) = (
        snap1["id"].as_str().expect("id"),
        snap2["id"].as_str().expect("id"),
    );
    let (status, cmp) = run
        .get(&format!("/v1/segments/{seg_id}/compare?from={s1}&to={s2}"))
        .await;
    assert_eq!(status, 200, "{cmp}");
    assert_eq!(
        (
            &cmp["stayed"],
            &cmp["joined"],
            &cmp["left"],
            &cmp["joined_sample"]
        ),
        (&json!(2), &json!(1), &json!(0), &json!(["dee"])),
        "{cmp}"
    );
    // Narrowing the segment: against now, people leave.
    let (status, e) = run
        .json(
            Method::PUT,
            &format!("/v1/segments/{seg_id}"),
            Some(&json!({"definition": {"did": "file_downloaded", "at_least": 2, "within_days": 30}})),
        )
        .await;
    assert_eq!(status, 200, "{e}");
    let (_, cmp) = run
        .get(&format!("/v1/segments/{seg_id}/compare?from={s2}"))
        .await;
    assert_eq!(
        (&cmp["to"]["id"], &cmp["left_sample"]),
        (&json!("now"), &json!(["bob", "dee"])),
        "{cmp}"
    );
    let (_, snaps) = run.get(&format!("/v1/segments/{seg_id}/snapshots")).await;
    assert_eq!(
        snaps["snapshots"].as_array().map(Vec::len),
        Some(2),
        "{snaps}"
    );
    let (status, e) = run
        .get(&format!("/v1/segments/{seg_id}/compare?from=snap_nope"))
        .await;
    assert_eq!((status, &e["error"]["field"]), (400, &json!("from")), "{e}");

    // --- Lists.
    let (status, vip) = run
        .json(
            Method::POST,
            "/v1/lists",
            Some(&json!({"name": "VIPs", "entity": "people"})),
        )
        .await;
    assert_eq!(status, 201, "{vip}");
    let vip_id = vip["id"].as_str().expect("id").to_string();
    let (status, e) = run
        .json(
            Method::POST,
            "/v1/lists",
            Some(&json!({"name": "Mixed", "entity": "leads"})),
        )
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("entity")),
        "{e}"
    );
    let (status, changed) = run
        .json(
            Method::POST,
            &format!("/v1/lists/{vip_id}/members"),
            Some(&json!({"add": ["ann", "nobody", "acme"]})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (&changed["added"], &changed["unknown"]),
        (&json!(1), &json!(["acme", "nobody"])),
        "{changed}"
    );
    // A CSV upload matched on email: case does not matter; the rest is reported by row.
    let csv = "Name,Email\nBob,BOB@acme.io\nAnn,ann@acme.io\nX,unknown@x.io\nY,not-an-email\nZ,\n";
    let (status, _, report) = run
        .call(
            Method::POST,
            &format!("/v1/lists/{vip_id}/import"),
            common::TOKEN,
            Some(("text/csv", csv.as_bytes().to_vec())),
        )
        .await;
    let report: Value = serde_json::from_slice(&report).expect("json");
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            &report["rows"],
            &report["matched"],
            &report["added"],
            &report["already"],
            &report["match_on"]
        ),
        (&json!(5), &json!(2), &json!(1), &json!(1), &json!("email")),
        "{report}"
    );
    let reasons: Vec<(u64, &str)> = report["unmatched"]
        .as_array()
        .expect("unmatched")
        .iter()
        .map(|u| {
            (
                u["row"].as_u64().expect("row"),
                u["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [(3, "no match"), (4, "not an email address"), (5, "empty")]
    );
    let (status, _, e) = run
        .call(
            Method::POST,
            &format!("/v1/lists/{vip_id}/import"),
            common::TOKEN,
            Some(("text/csv", b"name,phone\nx,1\n".to_vec())),
        )
        .await;
    let e: Value = serde_json::from_slice(&e).expect("json");
    assert_eq!((status, &e["error"]["field"]), (400, &json!("body")), "{e}");
    // From a segment, then one removed.
    let (_, added) = run
        .json(
            Method::POST,
            &format!("/v1/lists/{vip_id}/members/from-segment"),
            Some(&json!({"definition": {"trait": "title", "starts_with": "VP"}})),
        )
        .await;
    assert_eq!(
        (&added["added"], &added["count"]),
        (&json!(1), &json!(3)),
        "{added}"
    );
    let (_, changed) = run
        .json(
            Method::POST,
            &format!("/v1/lists/{vip_id}/members"),
            Some(&json!({"remove": ["bob"]})),
        )
        .await;
    assert_eq!(
        (&changed["removed"], &changed["count"]),
        (&json!(1), &json!(2)),
        "{changed}"
    );
    let (_, members) = run.get(&format!("/v1/lists/{vip_id}/members")).await;
    assert_eq!(ids(&members, "members"), ["ann", "cy"], "{members}");

    // A list in a segment condition.
    let (_, preview) = run
        .json(
            Method::POST,
            "/v1/segments/preview",
            Some(&json!({"segment": {"and": [{"in_list": vip_id}, {"did": "file_downloaded", "within_days": 30}]}})),
        )
        .await;
    assert_eq!(preview["sample"], json!(["ann"]), "{preview}");

    // Copy into a new list, combine, rename.
    let (status, copied) = run
        .json(
            Method::POST,
            &format!("/v1/lists/{vip_id}/copy"),
            Some(&json!({"name": "VIPs (copy)"})),
        )
        .await;
    assert_eq!(
        (status, &copied["to"]["count"]),
        (200, &json!(2)),
        "{copied}"
    );
    let copy_id = copied["to"]["id"].as_str().expect("id").to_string();
    let (_, _) = run
        .json(
            Method::POST,
            &format!("/v1/lists/{copy_id}/members"),
            Some(&json!({"add": ["dee", "bob"], "remove": ["cy"]})),
        )
        .await;
    for (op, want) in [
        ("union", json!(["ann", "bob", "cy", "dee"])),
        ("intersection", json!(["ann"])),
        ("difference", json!(["cy"])),
    ] {
        let (status, made) = run
            .json(
                Method::POST,
                "/v1/lists/combine",
                Some(&json!({"op": op, "lists": [vip_id, copy_id], "name": format!("VIPs {op}")})),
            )
            .await;
        assert_eq!(status, 201, "{made}");
        let (_, members) = run
            .get(&format!(
                "/v1/lists/{}/members",
                made["id"].as_str().expect("id")
            ))
            .await;
        assert_eq!(json!(ids(&members, "members")), want, "{op}: {members}");
    }
    let (status, renamed) = run
        .json(
            Method::PATCH,
            &format!("/v1/lists/{copy_id}"),
            Some(&json!({"name": "Second VIPs"})),
        )
        .await;
    assert_eq!(
        (status, &renamed["name"]),
        (200, &json!("Second VIPs")),
        "{renamed}"
    );
    let (_, one) = run.get(&format!("/v1/lists/{copy_id}")).await;
    assert_eq!(
        (&one["name"], &one["count"]),
        (&json!("Second VIPs"), &json!(3)),
        "{one}"
    );

    // A list of accounts: people ids are refused, and lists of people do not mix with it.
    let (_, accounts) = run
        .json(
            Method::POST,
            "/v1/lists",
            Some(&json!({"name": "Target accounts", "entity": "accounts"})),
        )
        .await;
    let acc_id = accounts["id"].as_str().expect("id").to_string();
    let (_, changed) = run
        .json(
            Method::POST,
            &format!("/v1/lists/{acc_id}/members"),
            Some(&json!({"add": ["globex", "ann"]})),
        )
        .await;
    assert_eq!(
        (&changed["added"], &changed["unknown"]),
        (&json!(1), &json!(["ann"])),
        "{changed}"
    );
    let (_, added) = run
        .json(
            Method::POST,
            &format!("/v1/lists/{acc_id}/members/from-segment"),
            Some(&json!({"segment": vps_id})),
        )
        .await;
    assert_eq!(
        (&added["added"], &added["count"]),
        (&json!(1), &json!(2)),
        "{added}"
    );
    let (status, e) = run
        .json(
            Method::POST,
            &format!("/v1/lists/{vip_id}/copy"),
            Some(&json!({"to": acc_id})),
        )
        .await;
    assert_eq!((status, &e["error"]["field"]), (400, &json!("to")), "{e}");
    let (status, e) = run
        .json(
            Method::POST,
            "/v1/lists/combine",
            Some(&json!({"op": "union", "lists": [vip_id, acc_id], "name": "Mixed"})),
        )
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("lists[1]")),
        "{e}"
    );
    let (_, preview) = run
        .json(
            Method::POST,
            "/v1/segments/preview",
            Some(&json!({"segment": {"in_list": acc_id}})),
        )
        .await;
    assert_eq!(preview["sample"], json!(["ann", "bob", "cy"]), "{preview}");
    let (_, body) = export(run, &format!("/v1/lists/{acc_id}/export"), "csv").await;
    let mut r = csv::Reader::from_reader(body.as_slice());
    assert_eq!(&r.headers().expect("header")[0], "account_id");
    let rows: Vec<(String, String, String)> = r
        .records()
        .map(|x| {
            let x = x.expect("row");
            (x[0].to_string(), x[1].to_string(), x[4].to_string())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("acme".into(), "Acme".into(), "2".into()),
            ("globex".into(), "Globex".into(), "1".into())
        ]
    );

    // A person: by email, their timeline (with what they did anonymously), their memberships.
    let (status, found) = run.get("/v1/profiles?email=BOB@acme.io").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(ids(&found, "profiles"), ["bob"]);
    let (status, e) = run.get("/v1/profiles?email=nope").await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("email")),
        "{e}"
    );
    run.wait_for_profile("ann", |p| p["merged_ids"] == json!(["dev-ann"]))
        .await;
    let mut seen = Vec::new();
    let mut path = "/v1/profiles/ann/timeline?limit=4".to_string();
    loop {
        let (status, page) = run.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for e in page["events"].as_array().expect("events") {
            seen.push((
                e["message_id"].as_str().expect("id").to_string(),
                e["via"].clone(),
            ));
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/profiles/ann/timeline?limit=4&before={next}"),
            None => break,
        }
    }
    let messages: Vec<&str> = seen.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(messages.len(), 6, "{seen:?}");
    assert_eq!(messages[5], "p3", "oldest last: {seen:?}");
    assert_eq!(seen[5].1, json!("dev-ann"));
    for m in ["i1", "g1", "d1", "d2", "i5"] {
        assert!(messages.contains(&m), "{m}: {seen:?}");
    }
    let (status, e) = run.get("/v1/profiles/ann/timeline?before=yesterday").await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("before")),
        "{e}"
    );
    let (status, member) = run.get("/v1/profiles/dev-ann/memberships").await;
    assert_eq!(status, 200, "{member}");
    let names = |key: &str| {
        let mut v: Vec<String> = member[key]
            .as_array()
            .expect("names")
            .iter()
            .map(|x| x["name"].as_str().expect("name").to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names("lists"),
        [
            "Second VIPs",
            "Target accounts",
            "VIPs",
            "VIPs intersection",
            "VIPs union"
        ],
        "{member}"
    );
    assert_eq!(
        names("segments"),
        ["Downloaders", "VP downloaders"],
        "{member}"
    );

    // More bad input, each answered in the JSON error shape naming what is wrong.
    let bad_gets = [
        (
            format!("/v1/segments/{seg_id}/members?limit=0"),
            400,
            "limit",
        ),
        (
            format!("/v1/lists/{vip_id}/members?limit=5000"),
            400,
            "limit",
        ),
        ("/v1/profiles/nobody/memberships".to_string(), 404, ""),
        ("/v1/profiles/nobody/timeline".to_string(), 404, ""),
        ("/v1/segments/seg_nope/members".to_string(), 404, ""),
    ];
    for (path, code, field) in bad_gets {
        let (status, e) = run.get(&path).await;
        assert_eq!(status, code, "{path}: {e}");
        if !field.is_empty() {
            assert_eq!(e["error"]["field"], field, "{path}: {e}");
        }
    }
    let bad_posts = [
        (
            format!("/v1/lists/{vip_id}/members"),
            json!({"add": [""]}),
            400,
            "add[0]",
        ),
        (
            format!("/v1/lists/{vip_id}/members"),
            json!({"add": ["ann"], "drop": ["bob"]}),
            400,
            "drop",
        ),
        (
            format!("/v1/lists/{vip_id}/members/from-segment"),
            json!({}),
            400,
            "segment",
        ),
        (format!("/v1/lists/{vip_id}/copy"), json!({}), 400, "to"),
        (
            "/v1/segments/seg_nope/snapshots".to_string(),
            json!({}),
            404,
            "",
        ),
        (
            "/v1/lists/combine".to_string(),
            json!({"op": "xor", "lists": [vip_id, copy_id], "name": "X"}),
            400,
            "op",
        ),
    ];
    for (path, body, code, field) in bad_posts {
        let (status, e) = run.json(Method::POST, &path, Some(&body)).await;
        assert_eq!(status, code, "{path} {body}: {e}");
        if !field.is_empty() {
            assert_eq!(e["error"]["field"], field, "{path} {body}: {e}");
        }
    }
    let (status, _, e) = run
        .call(
            Method::POST,
            &format!("/v1/lists/{vip_id}/import?match=account_id"),
            common::TOKEN,
            Some(("text/csv", b"account_id\nacme\n".to_vec())),
        )
        .await;
    let e: Value = serde_json::from_slice(&e).expect("json");
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("match")),
        "{e}"
    );

    // A list a segment uses cannot go; once the segment is gone, it can.
    let (_, user) = run
        .json(
            Method::POST,
            "/v1/segments",
            Some(&json!({"name": "Target people", "definition": {"in_list": acc_id}})),
        )
        .await;
    let (status, e) = run
        .json(Method::DELETE, &format!("/v1/lists/{acc_id}"), None)
        .await;
    assert_eq!(status, 409, "{e}");
    let user_id = user["id"].as_str().expect("id");
    let (status, _) = run
        .json(Method::DELETE, &format!("/v1/segments/{user_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = run
        .json(Method::DELETE, &format!("/v1/lists/{acc_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = run.get(&format!("/v1/lists/{acc_id}")).await;
    assert_eq!(status, 404);

    // Another workspace's token sees none of it.
    for path in [
        format!("/v1/segments/{seg_id}"),
        format!("/v1/segments/{seg_id}/members"),
        format!("/v1/lists/{vip_id}"),
        format!("/v1/lists/{vip_id}/export?format=csv"),
    ] {
        let (status, _, _) = run
            .call(Method::GET, &path, common::OTHER_TOKEN, None)
            .await;
        assert_eq!(status, 404, "{path}");
    }
    let (_, _, body) = run
        .call(Method::GET, "/v1/lists", common::OTHER_TOKEN, None)
        .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("json"),
        json!({"lists": []})
    );
}

#[tokio::test]
async fn segments_and_lists_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;
    check(&running).await;
    running.stop().await;
}

#[tokio::test]
async fn segments_and_lists_on_kafka_and_clickhouse() {
    let config = common::distributed_config();
    let running = common::start(config.clone()).await;
    check(&running).await;
    running.stop().await;
    common::drop_database(&config.clickhouse).await;
}
