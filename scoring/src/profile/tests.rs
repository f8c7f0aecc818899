use std::sync::Arc;

use leadstream_schemas::{Event, LifecycleStage, LogRecord};
use serde_json::{Value, json};

use super::*;
use crate::model::Model;

const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600_000;

fn model() -> Model {
    Model::parse(
        r#"
[[scores]]
name = "engagement"
decay = { half_life_days = 10 }

[[scores]]
name = "intent"

[[rules]]
name = "page view"
kind = "page_viewed"
points = 2
cap = { points = 5, per_days = 7 }

[[rules]]
name = "pricing"
kind = "page_viewed"
score = "intent"
when = [{ field = "context.page.path", op = "starts_with", value = "/pricing" }]
points = 10

[[rules]]
name = "demo"
kind = "form_submitted"
when = [{ field = "properties.form_id", op = "eq", value = "demo" }]
points = 40
once = true

[[rules]]
name = "click"
kind = "email_clicked"
points = 3

[[rules]]
name = "unsubscribe"
kind = "email_unsubscribed"
points = -30

[[fit]]
name = "vp"
trait = "title"
op = "contains"
value = "vp"
points = 50

[grades]
a = 50
b = 40
c = 30
d = 20
e = 10

[qualification]
score = "engagement"
threshold = 40
min_grade = "B"

[recycling]
scores = "zero"
"#,
    )
    .expect("valid")
}

fn event(at_ms: i64, v: Value) -> LogRecord {
    let mut v = v;
    let obj = v.as_object_mut().expect("object");
    obj.entry("userId").or_insert(json!("ada"));
    obj.insert(
        "timestamp".into(),
        json!(
            chrono::DateTime::from_timestamp_millis(at_ms)
                .expect("time")
                .to_rfc3339()
        ),
    );
    obj.entry("messageId")
        .or_insert(json!(uuid::Uuid::new_v4().to_string()));
    LogRecord::new("w", serde_json::from_value::<Event>(v).expect("event"))
}

struct Run {
    book: ProfileBook,
    model: Arc<Model>,
    offset: i64,
}

impl Run {
    fn new() -> Run {
        Run {
            book: ProfileBook::new(),
            model: Arc::new(model()),
            offset: 0,
        }
    }

    fn apply(&mut self, record: &LogRecord) -> Result<Applied, Skipped> {
        self.offset += 1;
        self.book
            .apply(
                record,
                Some((0, self.offset)),
                &self.model,
                &Settings { pages: 3 },
                T0,
            )
            .expect("has a person")
            .1
    }

    fn state(&self) -> ProfileState {
        self.book.state("w", "ada").expect("profile")
    }

    fn score(&self, name: &str) -> f64 {
        let i = self.model.score_index(name).expect("score");
        let s = self.state();
        let key = state::name_hash(&self.model.scores[i].name);
        s.scores
            .iter()
            .find(|x| x.key == key)
            .map_or(0.0, |x| x.value)
    }
}

fn page(at: i64, path: &str) -> LogRecord {
    event(
        at,
        json!({"type": "page", "context": {"page": {"url": format!("https://acme.io{path}?x=1")}}}),
    )
}

#[test]
fn rules_apply_within_caps_and_once_limits_and_explain_every_change() {
    let mut run = Run::new();
    let a = run.apply(&page(T0, "/pricing")).expect("applied");
    assert_eq!(
        a.changes
            .iter()
            .map(|c| (c.rule.as_str(), c.points, c.before, c.after))
            .collect::<Vec<_>>(),
        vec![("page view", 2.0, 0.0, 2.0), ("pricing", 10.0, 0.0, 10.0)]
    );
    run.apply(&page(T0 + 1000, "/a")).expect("applied");
    // The cap of 5 per 7 days leaves 1 point for the third page view, then none.
    let third = run.apply(&page(T0 + 2000, "/b")).expect("applied");
    assert_eq!(third.changes[0].points, 1.0);
    let fourth = run.apply(&page(T0 + 3000, "/c")).expect("applied");
    assert!(fourth.changes.is_empty(), "{fourth:?}");
    assert!((run.score("engagement") - 5.0).abs() < 1e-6);
    // A new window opens the cap again (day 7 from the epoch-aligned window).
    let later = run.apply(&page(T0 + 8 * DAY, "/d")).expect("applied");
    let rule_change = later
        .changes
        .iter()
        .find(|c| c.rule == "page view")
        .expect("scored");
    assert_eq!(rule_change.points, 2.0);
    assert!(
        later
            .changes
            .iter()
            .any(|c| c.rule == "decay" && c.points < 0.0),
        "{later:?}"
    );

    let demo = || {
        event(
            T0 + 9 * DAY,
            json!({"type": "track", "event": "Form Submitted", "properties": {"form_id": "demo"}}),
        )
    };
    let first = run.apply(&demo()).expect("applied");
    assert!(
        first
            .changes
            .iter()
            .any(|c| c.rule == "demo" && c.points == 40.0)
    );
    let again = run.apply(&demo()).expect("applied");
    assert!(
        !again.changes.iter().any(|c| c.rule == "demo"),
        "once per person"
    );
    // Pages are kept as paths, the last 3.
    let state = run.state();
    let pages: Vec<&str> = state.pages.iter().map(|p| &**p).collect();
    assert_eq!(pages, ["/b", "/c", "/d"]);
}

#[test]
fn machine_made_clicks_are_counted_apart_and_score_nothing() {
    let mut run = Run::new();
    let click = |bot: bool| {
        event(
            T0,
            json!({"type": "track", "event": "Email Clicked",
            "properties": {"email_id": "e1", "link_url": "https://acme.io"},
            "enrichment": {"bot": bot}}),
        )
    };
    let a = run.apply(&click(true)).expect("applied");
    assert!(a.changes.is_empty());
    run.apply(&click(false)).expect("applied");
    let s = run.state();
    assert_eq!(s.rare.bot_clicks, 1);
    assert_eq!(s.count(leadstream_schemas::EventKind::EmailClicked), 1);
    assert_eq!(run.score("engagement"), 3.0);
}

#[test]
fn decay_is_lazy_and_follows_event_time() {
    let mut run = Run::new();
    run.apply(&page(T0, "/a")).expect("applied");
    run.apply(&page(T0, "/b")).expect("applied");
    assert_eq!(run.score("engagement"), 4.0);
    // Ten quiet days halve it; the change is explained as decay.
    let a = run.apply(&page(T0 + 10 * DAY, "/c")).expect("applied");
    let decay = &a.changes[0];
    assert_eq!(decay.rule, "decay");
    assert!(
        (decay.before - 4.0).abs() < 1e-9 && (decay.after - 2.0).abs() < 1e-9,
        "{decay:?}"
    );
    // Reading decays to the time asked, without changing the state.
    let s = run.state();
    let later = s.score_at(&run.model, 0, T0 + 20 * DAY);
    assert!((later - (2.0 + 2.0) / 2.0).abs() < 1e-9, "{later}");
    assert!((run.score("engagement") - 4.0).abs() < 1e-9);
}

#[test]
fn qualification_fires_once_per_crossing_until_recycled_and_needs_the_grade() {
    let mut run = Run::new();
    let demo = |at| {
        event(
            at,
            json!({"type": "track", "event": "Form Submitted", "properties": {"form_id": "demo"}}),
        )
    };
    let clicks = |run: &mut Run, at: i64, n: usize| -> Vec<Option<u32>> {
        (0..n)
            .map(|i| {
                run.apply(&event(
                    at + i as i64,
                    json!({"type": "track", "event": "Email Clicked",
                    "properties": {"email_id": "e", "link_url": "https://acme.io"}}),
                ))
                .expect("applied")
                .handoff
            })
            .collect()
    };
    // 40 points but grade F: not qualified.
    assert_eq!(run.apply(&demo(T0)).expect("applied").handoff, None);
    assert_eq!(run.state().stage, LifecycleStage::Name);
    // The grade arrives with an identify: now it qualifies, once.
    let id = event(
        T0 + 1,
        json!({"type": "identify", "traits": {"title": "VP Marketing"}}),
    );
    assert_eq!(run.apply(&id).expect("applied").handoff, Some(1));
    let s = run.state();
    assert_eq!(s.grade, Some('A'));
    assert_eq!(s.stage, LifecycleStage::SalesAccepted);
    assert_eq!(
        s.stages.iter().map(|c| c.stage).collect::<Vec<_>>(),
        vec![LifecycleStage::Mql, LifecycleStage::SalesAccepted]
    );
    // Falling below and rising again does not hand over again.
    run.apply(&event(
        T0 + 2,
        json!({"type": "track", "event": "Email Unsubscribed", "properties": {"email_id": "e"}}),
    ))
    .expect("applied");
    assert!(run.score("engagement") < 40.0);
    assert!(clicks(&mut run, T0 + 3, 12).iter().all(Option::is_none));
    assert!(run.score("engagement") >= 40.0);
    // Sales recycles the lead: scores go to zero (the model says so) and it is armed again.
    let recycled = run
        .apply(&event(T0 + 100, json!({"type": "track", "event": "Lead Recycled", "properties": {"reason": "no_response"}})))
        .expect("applied");
    assert!(
        recycled
            .changes
            .iter()
            .any(|c| c.rule == "recycling" && c.after == 0.0)
    );
    assert_eq!(run.state().stage, LifecycleStage::Recycled);
    let fired: Vec<u32> = clicks(&mut run, T0 + 200, 14)
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(fired, vec![2], "the second crossing hands over once more");
    // A won deal makes a customer, who is not handed over again.
    run.apply(&event(
        T0 + 300,
        json!({"type": "track", "event": "Deal Won"}),
    ))
    .expect("applied");
    assert_eq!(run.state().stage, LifecycleStage::Customer);
}

#[test]
fn a_lead_made_by_hand_goes_to_sales_whatever_its_score_once() {
    let mut run = Run::new();
    let lead = |at| {
        event(
            at,
            json!({"type": "track", "event": "Lead Created", "properties": {"campaign_id": "cmp_1"}}),
        )
    };
    run.apply(&page(T0, "/pricing")).expect("applied");
    assert!(run.score("engagement") < 40.0);
    assert_eq!(run.apply(&lead(T0 + 1)).expect("applied").handoff, Some(1));
    assert_eq!(run.state().stage, LifecycleStage::SalesAccepted);
    // Sales has it: asking again does nothing.
    assert_eq!(run.apply(&lead(T0 + 2)).expect("applied").handoff, None);
    // After a recycle it can be made a lead again; a customer cannot.
    run.apply(&event(
        T0 + 3,
        json!({"type": "track", "event": "Lead Recycled", "properties": {"reason": "not_now"}}),
    ))
    .expect("applied");
    assert_eq!(run.apply(&lead(T0 + 4)).expect("applied").handoff, Some(2));
    run.apply(&event(
        T0 + 5,
        json!({"type": "track", "event": "Deal Won"}),
    ))
    .expect("applied");
    assert_eq!(run.state().stage, LifecycleStage::Customer);
    assert_eq!(run.apply(&lead(T0 + 6)).expect("applied").handoff, None);
}

#[test]
fn replays_are_skipped_per_partition() {
    // One person's events arrive on two partitions (keyed by anonymous id, then by user id); a
    // replay of either partition after a restart is skipped, however they interleaved.
    let run = Run::new();
    let apply = |at: i64, path: &str, pos: (i32, i64)| {
        let mut e = page(at, path);
        e.event.message_id = Some(format!("{path}-{at}"));
        run.book
            .apply(&e, Some(pos), &run.model, &Settings::default(), T0)
            .expect("person")
            .1
    };
    for i in 0..20 {
        assert!(apply(T0 + i, "/a", (0, i)).is_ok());
        assert!(apply(T0 + 100 + i, "/b", (1, 50 + i)).is_ok());
    }
    let before = run.state();
    assert_eq!(before.event_count, 40);
    // Replays of both partitions, older than the ring of recent message ids.
    assert_eq!(apply(T0 + 3, "/a", (0, 3)), Err(Skipped::Replayed));
    assert_eq!(apply(T0 + 103, "/b", (1, 53)), Err(Skipped::Replayed));
    assert_eq!(run.state().event_count, 40);
    // A state stored with the one-position shape of earlier versions still reads.
    let mut old = serde_json::to_value(&before).expect("json");
    let obj = old.as_object_mut().expect("object");
    obj.remove("positions");
    obj.insert("position".into(), serde_json::json!([1, 69]));
    let read: ProfileState = serde_json::from_value(old).expect("reads");
    assert_eq!(*read.positions, [(1, 69)]);
}

#[test]
fn replays_and_repeated_message_ids_change_nothing() {
    let run = Run::new();
    let e = page(T0, "/a");
    run.book
        .apply(&e, Some((0, 10)), &run.model, &Settings::default(), T0)
        .expect("person")
        .1
        .expect("applied");
    let before = run.state();
    // The same position again (a replay after a crash): skipped.
    let replay = run
        .book
        .apply(&e, Some((0, 10)), &run.model, &Settings::default(), T0)
        .expect("person")
        .1;
    assert_eq!(replay, Err(Skipped::Replayed));
    // The same messageId at a new position (a client retry): skipped too.
    let retry = run
        .book
        .apply(&e, Some((0, 11)), &run.model, &Settings::default(), T0)
        .expect("person")
        .1;
    assert_eq!(retry, Err(Skipped::DuplicateMessageId));
    let after = run.state();
    assert_eq!(after.event_count, before.event_count);
    assert_eq!(after.scores, before.scores);
}

#[test]
fn the_profile_keeps_windows_purchases_touches_and_the_account() {
    let mut run = Run::new();
    run.apply(&event(T0 - 40 * DAY, json!({"type": "page", "context": {"campaign": {"source": "newsletter", "name": "spring"}}}))).expect("applied");
    run.apply(&event(
        T0 - 5 * DAY,
        json!({"type": "page", "context": {"campaign": {"source": "ads", "medium": "cpc"}}}),
    ))
    .expect("applied");
    run.apply(&event(
        T0,
        json!({"type": "track", "event": "Order Completed",
        "properties": {"order_id": "o1", "revenue": 120.5, "currency": "EUR"}}),
    ))
    .expect("applied");
    run.apply(&event(
        T0 - DAY,
        json!({"type": "group", "groupId": "old-co", "traits": {"name": "Old Co"}}),
    ))
    .expect("applied");
    run.apply(&event(T0 - 1, json!({"type": "group", "groupId": "acme-inc", "traits": {"name": "Acme", "industry": "Retail"}})))
        .expect("applied");
    run.apply(&event(
        T0,
        json!({"type": "group", "groupId": "acme-inc", "traits": {"employees": 250}}),
    ))
    .expect("applied");
    // A late, older group call does not move the person back.
    run.apply(&event(
        T0 - 2 * DAY,
        json!({"type": "group", "groupId": "old-co"}),
    ))
    .expect("applied");
    let s = run.state();
    let view = s.view("w", "ada", &run.model, T0 + 1000);
    assert_eq!(view.windows["page_viewed"].d7, 1);
    assert_eq!(view.windows["page_viewed"].d30, 1);
    assert_eq!(view.windows["page_viewed"].d90, 2);
    assert_eq!(view.purchases.count, 1);
    assert_eq!(view.purchases.revenue, 120.5);
    assert_eq!(view.purchases.last_purchase_ms, T0);
    assert_eq!(
        view.first_touch.as_ref().and_then(|t| t.source.as_deref()),
        Some("newsletter")
    );
    assert_eq!(
        view.last_touch.as_ref().and_then(|t| t.source.as_deref()),
        Some("ads")
    );
    assert_eq!(view.lifecycle_stage, LifecycleStage::Customer);
    assert_eq!(view.account.as_deref(), Some("acme-inc"));
    assert_eq!(
        serde_json::Value::Object(view.account_traits.clone()),
        json!({"name": "Acme", "industry": "Retail", "employees": 250}),
        "repeated calls for one account add up; a new account starts afresh"
    );
    assert_eq!(view.account_at_ms, T0);
    assert_eq!(view.channels["web"], 2);
    assert_eq!(
        (
            view.channel_windows["web"].d7,
            view.channel_windows["web"].d30,
            view.channel_windows["web"].d90
        ),
        (1, 1, 2)
    );
    assert_eq!(view.channels["commerce"], 1);
    assert_eq!(view.score_name, "engagement");
    // The state survives its JSON form unchanged (the store keeps it so).
    let back: ProfileState =
        serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("parse");
    assert_eq!(back, s);
}

/// A tiny log for the identity tests: what the pipeline does with events and control records,
/// including the records the book asks to send and events it forwards.
struct Log {
    run: Run,
    queue: std::collections::VecDeque<leadstream_schemas::Decoded>,
    refused: Vec<&'static str>,
}

impl Log {
    fn new() -> Log {
        Log {
            run: Run::new(),
            queue: Default::default(),
            refused: Vec::new(),
        }
    }

    fn send(&mut self, record: LogRecord) {
        self.queue
            .push_back(leadstream_schemas::Decoded::Event(record));
        self.drain();
    }

    fn drain(&mut self) {
        use leadstream_schemas::Decoded;
        while let Some(m) = self.queue.pop_front() {
            self.run.offset += 1;
            let pos = Some((0, self.run.offset));
            let settings = Settings { pages: 3 };
            match m {
                Decoded::Event(record) => {
                    let (key, outcome) = self
                        .run
                        .book
                        .apply(&record, pos, &self.run.model, &settings, T0)
                        .expect("person");
                    match outcome {
                        Ok(_) => {
                            if let Some(c) = self.run.book.merge_request(&record, &key) {
                                // Through its encoding, as on the log.
                                let bytes = c.encode();
                                self.queue
                                    .push_back(Decoded::decode(&bytes).expect("decodes"));
                            }
                        }
                        Err(Skipped::Forwarded(into)) => {
                            let mut f = record.clone();
                            f.event.user_id = Some(into.to_string());
                            self.queue.push_back(Decoded::Event(f));
                        }
                        Err(_) => {}
                    }
                }
                Decoded::Control(c) => {
                    match self
                        .run
                        .book
                        .control(&c, pos, &self.run.model, &settings, T0)
                        .1
                    {
                        ControlOutcome::Send(r) => self
                            .queue
                            .push_back(Decoded::decode(&r.encode()).expect("decodes")),
                        ControlOutcome::Refused(why) => self.refused.push(why),
                        _ => {}
                    }
                }
            }
        }
    }

    fn state(&self, id: &str) -> Option<ProfileState> {
        self.run.book.state("w", id)
    }
}

fn anon(at: i64, anonymous_id: &str, path: &str) -> LogRecord {
    event(
        at,
        json!({"type": "page", "userId": null, "anonymousId": anonymous_id, "context": {"page": {"path": path}}}),
    )
}

#[test]
fn identify_merges_the_anonymous_profile_into_the_person_and_forwards_later_events() {
    let mut log = Log::new();
    log.send(anon(T0, "a1", "/pricing"));
    log.send(anon(T0 + 1000, "a1", "/blog"));
    assert_eq!(log.state("a1").expect("anonymous").event_count, 2);
    // The person exists already, from another device.
    log.send(event(T0 + 2000, json!({"type": "track", "event": "Email Clicked", "properties": {"email_id": "e", "link_url": "https://x.io"}})));
    log.send(event(
        T0 + 3000,
        json!({"type": "identify", "anonymousId": "a1", "traits": {"title": "VP Sales"}}),
    ));
    let ada = log.state("ada").expect("person");
    assert_eq!(ada.event_count, 4, "2 anonymous + click + identify");
    assert_eq!(*ada.rare.absorbed, [Box::<str>::from("a1")]);
    assert_eq!(ada.count(leadstream_schemas::EventKind::PageViewed), 2);
    assert_eq!(ada.first_seen_ms, T0);
    // Points from both: 2 + 2 (pages, within the cap) + 3 (click), decayed a little.
    let engagement = log.run.score("engagement");
    assert!(engagement > 6.9 && engagement <= 7.0, "{engagement}");
    assert_eq!(
        log.run.score("intent"),
        10.0,
        "the anonymous pricing visit counts"
    );
    let a1 = log.state("a1").expect("stub");
    assert_eq!(a1.rare.merged_into.as_deref(), Some("ada"));
    assert_eq!(a1.event_count, 0);
    // A later anonymous-only event of the device counts toward the person.
    log.send(anon(T0 + 4000, "a1", "/docs"));
    assert_eq!(log.state("ada").expect("person").event_count, 5);
    assert_eq!(log.state("a1").expect("stub").event_count, 0);
    // Calls that carry both ids do not ask again.
    log.send(event(
        T0 + 5000,
        json!({"type": "page", "anonymousId": "a1", "context": {"page": {"path": "/x"}}}),
    ));
    assert_eq!(log.state("ada").expect("person").rare.absorbed.len(), 1);
    assert!(log.refused.is_empty(), "{:?}", log.refused);
    // The published view says so.
    let view = log
        .state("ada")
        .expect("person")
        .view("w", "ada", &log.run.model, T0);
    assert_eq!(view.merged_ids, vec!["a1".to_string()]);
}

#[test]
fn a_shared_device_does_not_fuse_two_people_and_two_known_people_never_merge() {
    let mut log = Log::new();
    log.send(anon(T0, "kiosk", "/pricing"));
    log.send(event(
        T0 + 1000,
        json!({"type": "identify", "userId": "ann", "anonymousId": "kiosk"}),
    ));
    log.send(event(
        T0 + 2000,
        json!({"type": "identify", "userId": "bob", "anonymousId": "kiosk"}),
    ));
    assert_eq!(log.state("ann").expect("ann").event_count, 2);
    assert_eq!(
        log.state("bob").expect("bob").event_count,
        1,
        "bob keeps his own"
    );
    assert_eq!(log.refused, vec!["already merged into another person"]);
    // alias of one known person into another: refused.
    log.send(event(
        T0 + 3000,
        json!({"type": "alias", "userId": "bob", "previousId": "ann"}),
    ));
    assert_eq!(
        log.refused,
        vec![
            "already merged into another person",
            "both are identified people"
        ]
    );
    assert_eq!(log.state("ann").expect("ann").event_count, 2);
    assert!(log.state("ann").expect("ann").rare.merged_into.is_none());
    // alias of an anonymous id into a known person: merged.
    log.send(anon(T0 + 4000, "old-cookie", "/a"));
    log.send(event(
        T0 + 5000,
        json!({"type": "alias", "userId": "bob", "previousId": "old-cookie"}),
    ));
    // identify + the refused alias + this alias + the anonymous page.
    assert_eq!(log.state("bob").expect("bob").event_count, 4);
    assert_eq!(
        *log.state("bob").expect("bob").rare.absorbed,
        [Box::<str>::from("old-cookie")]
    );
}

#[test]
fn illegal_ids_never_merge_and_repeats_after_a_crash_change_nothing() {
    let mut log = Log::new();
    log.send(anon(T0, "undefined", "/a"));
    log.send(event(
        T0 + 1000,
        json!({"type": "identify", "userId": "ann", "anonymousId": "undefined"}),
    ));
    assert_eq!(log.state("ann").expect("ann").event_count, 1);
    assert!(log.state("ann").expect("ann").rare.requested.is_empty());

    // A merge replayed after a crash: the same records again, at new positions.
    let mut log = Log::new();
    log.send(anon(T0, "a1", "/a"));
    let identify = event(
        T0 + 1000,
        json!({"type": "identify", "userId": "ann", "anonymousId": "a1"}),
    );
    log.send(identify);
    let ann = log.state("ann").expect("ann");
    assert_eq!(ann.event_count, 2);
    let handed = leadstream_schemas::ControlRecord {
        v: leadstream_schemas::SCHEMA_VERSION,
        workspace: "w".into(),
        id: leadstream_schemas::ControlRecord::merge_id("a1", "ann"),
        control: leadstream_schemas::Control::MergeState {
            from: "a1".into(),
            into: "ann".into(),
            at_ms: T0,
            state: serde_json::to_value(ProfileState {
                event_count: 1,
                ..ProfileState::default()
            })
            .expect("json"),
        },
    };
    log.queue
        .push_back(leadstream_schemas::Decoded::Control(handed));
    let request = leadstream_schemas::ControlRecord {
        v: leadstream_schemas::SCHEMA_VERSION,
        workspace: "w".into(),
        id: leadstream_schemas::ControlRecord::merge_id("a1", "ann"),
        control: leadstream_schemas::Control::MergeRequest {
            from: "a1".into(),
            into: "ann".into(),
            alias: false,
            at_ms: T0,
        },
    };
    log.queue
        .push_back(leadstream_schemas::Decoded::Control(request));
    log.drain();
    assert_eq!(log.state("ann").expect("ann").event_count, 2);
    assert!(log.refused.is_empty(), "{:?}", log.refused);
}

#[test]
fn traits_a_visitor_submitted_fill_gaps_and_never_overwrite() {
    let mut run = Run::new();
    run.apply(&event(
        T0,
        json!({"type": "identify", "traits": {"email": "ada@acme.io", "company": "Acme"}}),
    ))
    .expect("applied");
    // An unauthenticated form post for the same person, claiming another company.
    let mut form = event(
        T0 + 1000,
        json!({"type": "identify", "traits": {"company": "Evil Corp", "phone": "+1555"}}),
    );
    form.event.enrichment = Some(leadstream_schemas::Enrichment {
        submitted_traits: true,
        ..Default::default()
    });
    run.apply(&form).expect("applied");
    let traits = run.state().traits;
    assert_eq!(traits["company"], "Acme", "an authenticated trait stays");
    assert_eq!(traits["phone"], "+1555", "a missing one is filled");
    // An authenticated identify still changes it.
    run.apply(&event(
        T0 + 2000,
        json!({"type": "identify", "traits": {"company": "Acme Group"}}),
    ))
    .expect("applied");
    assert_eq!(run.state().traits["company"], "Acme Group");
}

#[test]
fn versions_follow_log_offsets_and_revoked_partitions_are_dropped() {
    let run = Run::new();
    let at = |who: &str, pos: (i32, i64)| {
        let mut e = page(T0 + pos.1, "/a");
        e.event.user_id = Some(who.into());
        let _outcome = run
            .book
            .apply(&e, Some(pos), &run.model, &Settings::default(), T0 + pos.1)
            .expect("person");
        run.book.state("w", who).expect("profile")
    };
    // A version is the offset of the record that made it, above every wall-clock version, and
    // the same whatever the clock says when it is applied.
    let ada = at("ada", (3, 10));
    assert_eq!(ada.version, OFFSET_VERSIONS + 10);
    assert_eq!(ada.partition, 3);
    const {
        assert!(
            OFFSET_VERSIONS > 4_102_444_800_000_000,
            "above wall-clock µs until 2100"
        )
    };
    assert_eq!(at("ada", (3, 11)).version, OFFSET_VERSIONS + 11);
    // A replay changes nothing.
    assert_eq!(at("ada", (3, 11)).version, OFFSET_VERSIONS + 11);
    // Never below the version loaded (a topic recreated with offsets from 0 again).
    let mut old = run.book.state("w", "ada").expect("ada");
    old.version = OFFSET_VERSIONS + 1_000;
    run.book.insert("w", "ada", old);
    assert_eq!(at("ada", (3, 12)).version, OFFSET_VERSIONS + 1_001);
    // Revoking a partition drops exactly its profiles.
    at("bob", (4, 1));
    assert_eq!(run.book.drop_partitions(&[3]), 1);
    assert!(run.book.state("w", "ada").is_none());
    assert!(run.book.state("w", "bob").is_some());
}

/// A state as stored before its rare facts were kept out of line (every field at the top level,
/// defaults included) reads into the same state, and the state writes them back at the top level.
#[test]
fn stored_states_read_and_write_every_field_at_the_top_level() {
    let stored = json!({
        "traits": {"email": "ada@example.com"},
        "first_seen_ms": T0, "last_seen_ms": T0 + 5, "event_count": 3,
        "kinds": {"email_clicked": 1, "purchase_completed": 1},
        "days": [{"day": 20454, "kind": 3, "count": 1}],
        "pages": ["/a", "/b"],
        "bot_opens": 0, "bot_clicks": 2, "email_unsubscribed": false, "sms_opted_out": true,
        "revenue": 99.5, "last_purchase_ms": T0 + 5,
        "first_touch": {"source": "news", "at_ms": T0}, "last_touch": null,
        "stage": "mql", "stages": [{"stage": "mql", "at_ms": T0}],
        "scores": [{"key": 7, "value": 12.5, "as_of_ms": T0}],
        "caps": [{"rule": 9, "window": 2, "points": 4.0}], "once": [11],
        "fit_points": 3.0, "grade": "B", "armed": false, "handoffs": 1,
        "positions": [[0, 41], [3, 7]], "recent": [1, 2, 3],
        "account": "acme", "account_traits": {"plan": "pro"}, "account_at_ms": T0,
        "merged_into": null, "requested": ["anon-1"], "absorbed": ["anon-2"],
        "identified": true, "version": 4, "updated_at_ms": T0 + 9
    });
    let state: ProfileState = serde_json::from_value(stored.clone()).expect("reads");
    assert!(state.rare.is_present());
    assert_eq!(state.rare.bot_clicks, 2);
    assert!(state.rare.sms_opted_out);
    assert_eq!(state.rare.revenue, 99.5);
    assert_eq!(*state.rare.once, [11]);
    assert_eq!(state.rare.handoffs, 1);
    assert_eq!(state.rare.account.as_deref(), Some("acme"));
    assert_eq!(*state.rare.requested, [Box::<str>::from("anon-1")]);
    assert_eq!(*state.rare.absorbed, [Box::<str>::from("anon-2")]);
    assert_eq!(
        *state.pages,
        [Box::<str>::from("/a"), Box::<str>::from("/b")]
    );
    assert_eq!(*state.positions, [(0, 41), (3, 7)]);
    assert!(!state.armed);
    // Written back: the same fields at the top level (the nulls and empties aside), read the same.
    let written = serde_json::to_value(&state).expect("writes");
    for (key, value) in stored.as_object().expect("object") {
        if value.is_null() {
            continue;
        }
        assert_eq!(written.get(key), Some(value), "{key}");
    }
    let again: ProfileState = serde_json::from_value(written).expect("reads back");
    assert_eq!(again, state);

    // Without rare facts nothing is allocated for them, and the defaults read as before.
    let plain: ProfileState = serde_json::from_value(json!({
        "first_seen_ms": T0, "last_seen_ms": T0, "event_count": 1,
        "kinds": {"page_viewed": 1}, "stage": "name",
        "bot_opens": 0, "revenue": 0.0, "account": null
    }))
    .expect("reads");
    assert!(!plain.rare.is_present() && !plain.traits.is_present());
    assert!(plain.armed);
    let written = serde_json::to_value(&plain).expect("writes");
    assert!(written.get("revenue").is_none() && written.get("handoffs").is_none());
    assert_eq!(written["traits"], json!({}));
    // Absent and allocated-with-defaults are the same state.
    let mut touched = plain.clone();
    touched.rare.get_mut();
    assert_eq!(touched, plain);
}

#[test]
fn bounded_lists_keep_the_newest_at_exactly_their_length() {
    let mut list = state::List::<u32>::default();
    for i in 0..5 {
        list.push_bounded(i, 3);
    }
    assert_eq!(*list, [2, 3, 4]);
    // A smaller bound than the list holds (a settings change) drops the oldest.
    list.push_bounded(5, 2);
    assert_eq!(*list, [4, 5]);
    list.push_bounded(6, 0);
    assert_eq!(*list, [4, 5]);
    list.insert(0, 1);
    list.retain(|&x| x != 4);
    assert_eq!(*list, [1, 5]);
}

/// The state's inline part stays in mimalloc's 224-byte size class (it was 464 bytes, in the
/// 512-byte class): a million profiles are held in memory (`benches/RESULTS.md`).
#[cfg(target_pointer_width = "64")]
#[test]
fn the_state_stays_small() {
    let size = std::mem::size_of::<ProfileState>();
    assert!(size <= 224, "ProfileState is {size} bytes inline");
}
