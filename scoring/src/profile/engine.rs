//! Applying one event to one person's state: bookkeeping (counts, windows, pages, email, SMS,
//! purchases, touches), then scores (decay since the last activity, then every matching rule,
//! within caps and once-only limits), then the lifecycle (recycling, customers, the
//! qualification threshold with hysteresis). Every score change comes back explained.
//!
//! Time is the event's own time, never the wall clock, so replaying the same events gives the
//! same state: that is what makes a restart end exactly where an uninterrupted run would.

use leadstream_schemas::kinds::add_money;
use leadstream_schemas::{Event, EventKind, EventType, LifecycleStage, StageChange, Touch};

use super::state::{
    CapState, DAY_MS, DayCount, ProfileState, Rare, ScoreState, WINDOW_DAYS, name_hash,
};
use crate::model::{Model, RecycleScores, path_of_url};

/// How many recent message ids each profile remembers for deduplication (a 64-bit hash each,
/// stored with the profile's state): a retried event is applied once as long as fewer than this
/// many other events of the same person came in between, whichever collector took each copy and
/// across restarts and rebalances (a retry carries the same ids, so the same key, partition and
/// profile).
pub const RECENT_IDS: usize = 64;

/// One explained score change.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreChange {
    pub score: String,
    /// The rule's name, or `decay` / `recycling`.
    pub rule: String,
    pub points: f64,
    pub before: f64,
    pub after: f64,
    pub at_ms: i64,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    pub changes: Vec<ScoreChange>,
    /// The lead crossed the qualification threshold while armed: hand it to sales. The number
    /// is the crossing (1 for the first hand-off, 2 after a recycling, …).
    pub handoff: Option<u32>,
}

/// Why an event was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// At or before the last applied log position (a replay after a restart).
    Replayed,
    /// Its `messageId` was applied recently.
    DuplicateMessageId,
    /// The (anonymous) profile was merged into this person's: the event belongs there.
    Forwarded(Box<str>),
}

pub struct Settings {
    /// How many recent pages a profile keeps.
    pub pages: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { pages: 10 }
    }
}

fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn set_stage(state: &mut ProfileState, stage: LifecycleStage, at_ms: i64) {
    if state.stage != stage {
        state.stage = stage;
        state.stages.push(StageChange { stage, at_ms });
    }
}

fn score_slot(state: &mut ProfileState, key: u32, at_ms: i64) -> &mut ScoreState {
    match state.scores.iter().position(|s| s.key == key) {
        Some(i) => &mut state.scores[i],
        None => {
            state.scores.push(ScoreState {
                key,
                value: 0.0,
                as_of_ms: at_ms,
            });
            state.scores.last_mut().expect("just pushed")
        }
    }
}

/// Applies `event`, read at `position`, to `state`.
pub fn apply(
    state: &mut ProfileState,
    event: &Event,
    position: Option<(i32, i64)>,
    model: &Model,
    settings: &Settings,
    fallback_time_ms: i64,
) -> Result<Applied, Skipped> {
    // Exactly once: a replayed position, or a message id seen lately, changes nothing.
    if let Some((p, o)) = position
        && state.applied(p, o)
    {
        return Err(Skipped::Replayed);
    }
    let id = event.message_id.as_deref().map(id_hash);
    if let Some(h) = id
        && state.recent.contains(&h)
    {
        if let Some((p, o)) = position {
            state.advance(p, o);
        }
        return Err(Skipped::DuplicateMessageId);
    }
    if let Some(h) = id {
        state.recent.push_bounded(h, RECENT_IDS);
    }
    if let Some((p, o)) = position {
        state.advance(p, o);
    }

    let at = event
        .event_time()
        .map(|t| t.timestamp_millis())
        .unwrap_or(fallback_time_ms);
    let kind = EventKind::classify(event);
    let bot = event.enrichment.as_ref().is_some_and(|e| e.bot);

    // Bookkeeping.
    if event
        .user_id
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty())
    {
        state.identified = true;
    }
    state.first_seen_ms = if state.event_count == 0 {
        at
    } else {
        state.first_seen_ms.min(at)
    };
    state.last_seen_ms = state.last_seen_ms.max(at);
    state.event_count += 1;
    let machine_email = bot && matches!(kind, EventKind::EmailOpened | EventKind::EmailClicked);
    if machine_email {
        match kind {
            EventKind::EmailOpened => state.rare.get_mut().bot_opens += 1,
            _ => state.rare.get_mut().bot_clicks += 1,
        }
    } else {
        state.kinds.add(kind, 1);
        count_day(state, kind, at);
    }
    match kind {
        EventKind::PageViewed => {
            let page = event.context.page.as_ref();
            let path = page
                .and_then(|p| p.path.as_deref())
                .or_else(|| page.and_then(|p| p.url.as_deref()).map(path_of_url))
                .or(event.name.as_deref());
            if let Some(path) = path {
                state.pages.push_bounded(path.into(), settings.pages);
            }
        }
        EventKind::EmailUnsubscribed => state.rare.get_mut().email_unsubscribed = true,
        EventKind::SmsOptedOut => state.rare.get_mut().sms_opted_out = true,
        // The order's value by Segment's fallbacks (revenue, total, value, products), bounded
        // where it entered; a purchase without a usable value still counts, with 0.
        EventKind::PurchaseCompleted => {
            let rare = state.rare.get_mut();
            rare.revenue = add_money(rare.revenue, kind.money(&event.properties));
            rare.last_purchase_ms = rare.last_purchase_ms.max(at);
        }
        EventKind::OrderRefunded => {
            let rare = state.rare.get_mut();
            rare.revenue = add_money(rare.revenue, kind.money(&event.properties));
        }
        // The latest `group` call decides the person's account (people change jobs); the
        // traits of repeated calls for one account add up, a new account starts afresh.
        EventKind::Group if at >= state.rare.account_at_ms && event.group_id.is_some() => {
            let rare = state.rare.get_mut();
            if rare.account != event.group_id {
                rare.account_traits = None;
            }
            rare.account = event.group_id.clone();
            rare.account_at_ms = at;
            if !event.traits.is_empty() {
                let traits = rare.account_traits.get_or_insert_with(Default::default);
                for (k, v) in &event.traits {
                    traits.insert(k.clone(), v.clone());
                }
            }
        }
        _ => {}
    }
    if matches!(event.event_type, EventType::Identify) && !event.traits.is_empty() {
        // What a visitor typed into a form only fills gaps: it never overwrites a trait set by
        // an authenticated source (or by an earlier form).
        let submitted = event
            .enrichment
            .as_ref()
            .is_some_and(|e| e.submitted_traits);
        let traits = state.traits.get_mut();
        for (k, v) in &event.traits {
            if submitted {
                traits.entry(k.clone()).or_insert_with(|| v.clone());
            } else {
                traits.insert(k.clone(), v.clone());
            }
        }
        let (points, grade) = model.grade(&state.traits);
        state.fit_points = points;
        state.grade = grade.as_str().chars().next();
    }
    if let Some(c) = event.context.campaign.as_ref()
        && (c.source.is_some() || c.name.is_some())
    {
        let touch = Touch {
            source: c.source.clone(),
            medium: c.medium.clone(),
            name: c.name.clone(),
            at_ms: at,
        };
        let rare = state.rare.get_mut();
        if rare.first_touch.is_none() {
            rare.first_touch = Some(Box::new(touch.clone()));
        }
        rare.last_touch = Some(Box::new(touch));
    }

    // Scores: decay since the last activity, then the matching rules.
    let mut applied = Applied::default();
    for def in &model.scores {
        let slot = score_slot(state, name_hash(&def.name), at);
        if at > slot.as_of_ms {
            let before = slot.value;
            let after = def.decay.apply(before, slot.as_of_ms, at);
            slot.as_of_ms = at;
            if (after - before).abs() >= 0.005 {
                slot.value = after;
                applied.changes.push(ScoreChange {
                    score: def.name.clone(),
                    rule: "decay".into(),
                    points: after - before,
                    before,
                    after,
                    at_ms: at,
                });
            }
        }
    }
    let day = (at.max(0) / DAY_MS) as u32;
    for (_, rule) in model.candidates(kind, event.event.as_deref()) {
        if bot && !rule.include_bots {
            continue;
        }
        if !rule.conditions.iter().all(|c| c.holds(event)) {
            continue;
        }
        let rule_key = name_hash(&rule.name);
        if rule.once && state.rare.once.contains(&rule_key) {
            continue;
        }
        let mut points = rule.points;
        if let Some((cap, per_days)) = rule.cap {
            let window = day / per_days;
            let used = match state.caps.iter_mut().find(|c| c.rule == rule_key) {
                Some(c) if c.window == window => c,
                Some(c) => {
                    *c = CapState {
                        rule: rule_key,
                        window,
                        points: 0.0,
                    };
                    c
                }
                None => {
                    state.caps.push(CapState {
                        rule: rule_key,
                        window,
                        points: 0.0,
                    });
                    state.caps.last_mut().expect("just pushed")
                }
            };
            let room = (cap - f64::from(used.points)).max(0.0);
            points = points.signum() * points.abs().min(room);
            if points == 0.0 {
                continue;
            }
            used.points += points.abs() as f32;
        }
        if rule.once {
            state.rare.get_mut().once.push(rule_key);
        }
        let name = &model.scores[rule.score].name;
        let slot = score_slot(state, name_hash(name), at);
        let before = slot.value;
        slot.value += points;
        applied.changes.push(ScoreChange {
            score: name.clone(),
            rule: rule.name.clone(),
            points,
            before,
            after: slot.value,
            at_ms: at,
        });
    }

    // Lifecycle.
    match kind {
        EventKind::LeadRecycled => {
            set_stage(state, LifecycleStage::Recycled, at);
            state.armed = true;
            for def in &model.scores {
                let slot = score_slot(state, name_hash(&def.name), at);
                let before = slot.value;
                let after = match model.recycling {
                    RecycleScores::Keep => before,
                    RecycleScores::Zero => 0.0,
                    RecycleScores::Halve => before / 2.0,
                    RecycleScores::Subtract(p) => before - p,
                };
                if after != before {
                    slot.value = after;
                    applied.changes.push(ScoreChange {
                        score: def.name.clone(),
                        rule: "recycling".into(),
                        points: after - before,
                        before,
                        after,
                        at_ms: at,
                    });
                }
            }
        }
        EventKind::DealWon | EventKind::PurchaseCompleted => {
            set_stage(state, LifecycleStage::Customer, at);
        }
        _ => {}
    }
    // A lead made by hand (a campaign response turned into a lead) goes to sales whatever its
    // score, unless sales has it already or it is a customer.
    applied.handoff = if kind == EventKind::LeadCreated {
        hand_over(state, at)
    } else {
        qualify(state, model, at)
    };
    Ok(applied)
}

/// Hands the lead to sales if it is armed (not with sales since its last hand-off) and not a
/// customer: returns the crossing's number.
fn hand_over(state: &mut ProfileState, at: i64) -> Option<u32> {
    if !state.armed || state.stage == LifecycleStage::Customer {
        return None;
    }
    state.armed = false;
    state.rare.get_mut().handoffs += 1;
    set_stage(state, LifecycleStage::Mql, at);
    set_stage(state, LifecycleStage::SalesAccepted, at);
    Some(state.rare.handoffs)
}

/// Hands the lead over when it is armed, not a customer, and at or over the qualification
/// threshold (and grade): returns the crossing's number.
fn qualify(state: &mut ProfileState, model: &Model, at: i64) -> Option<u32> {
    let q = &model.qualification;
    let qualifying = state
        .scores
        .iter()
        .find(|s| s.key == name_hash(&model.scores[q.score].name))
        .map_or(0.0, |s| s.value);
    let grade_ok = q
        .min_grade
        .is_none_or(|min| state.grade().is_some_and(|g| g <= min));
    if qualifying >= q.threshold && grade_ok {
        return hand_over(state, at);
    }
    None
}

/// Merges `other` (an anonymous profile handed over by its owner) into `state`, at `at`: counts,
/// windows, pages, email and SMS facts, purchases, touches, traits `state` does not have yet,
/// rule caps and once-only rules, and every score (both decayed to `at`, then added; each
/// addition explained as the rule `merge`). A crossing of the threshold hands the lead over.
pub fn absorb(
    state: &mut ProfileState,
    other: &ProfileState,
    model: &Model,
    settings: &Settings,
    at: i64,
) -> Applied {
    let mut applied = Applied::default();
    if other.event_count > 0 {
        state.first_seen_ms = if state.event_count == 0 {
            other.first_seen_ms
        } else {
            state.first_seen_ms.min(other.first_seen_ms)
        };
        state.last_seen_ms = state.last_seen_ms.max(other.last_seen_ms);
    }
    state.event_count += other.event_count;
    state.kinds.add_all(&other.kinds);
    for d in &other.days {
        match state
            .days
            .iter_mut()
            .find(|m| m.day == d.day && m.kind == d.kind)
        {
            Some(m) => m.count = m.count.saturating_add(d.count),
            None => state.days.push(*d),
        }
    }
    if let Some(newest) = state.days.iter().map(|d| d.day).max() {
        state.days.retain(|d| d.day + WINDOW_DAYS > newest);
    }
    // The anonymous visit usually came first: its pages go before, the newest are kept.
    let mut pages = other.pages.to_vec();
    pages.extend(std::mem::take(&mut state.pages).into_vec());
    let excess = pages.len().saturating_sub(settings.pages);
    state.pages = pages.into_iter().skip(excess).collect();
    if other.rare.is_present() {
        absorb_rare(state.rare.get_mut(), &other.rare);
    }
    if !other.traits.is_empty() {
        let traits = state.traits.get_mut();
        for (k, v) in other.traits.iter() {
            traits.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut stages = other.stages.to_vec();
    stages.extend_from_slice(&state.stages);
    stages.sort_by_key(|s| s.at_ms);
    state.stages = stages.into();
    if state.stage == LifecycleStage::Name && other.stage != LifecycleStage::Name {
        state.stage = other.stage;
    }
    for c in &other.caps {
        match state.caps.iter_mut().find(|m| m.rule == c.rule) {
            Some(m) if m.window == c.window => m.points += c.points,
            Some(m) if m.window < c.window => *m = *c,
            Some(_) => {}
            None => state.caps.push(*c),
        }
    }
    for h in &other.recent {
        if !state.recent.contains(h) {
            state.recent.push_bounded(*h, RECENT_IDS);
        }
    }
    if !other.traits.is_empty() {
        let (points, grade) = model.grade(&state.traits);
        state.fit_points = points;
        state.grade = grade.as_str().chars().next();
    }
    for def in &model.scores {
        let key = name_hash(&def.name);
        let Some(theirs) = other.scores.iter().find(|s| s.key == key).copied() else {
            continue;
        };
        let added = def
            .decay
            .apply(theirs.value, theirs.as_of_ms, at.max(theirs.as_of_ms));
        let slot = score_slot(state, key, at);
        if at > slot.as_of_ms {
            slot.value = def.decay.apply(slot.value, slot.as_of_ms, at);
            slot.as_of_ms = at;
        }
        if added.abs() < 0.005 {
            continue;
        }
        let before = slot.value;
        slot.value += added;
        applied.changes.push(ScoreChange {
            score: def.name.clone(),
            rule: "merge".into(),
            points: added,
            before,
            after: slot.value,
            at_ms: at,
        });
    }
    applied.handoff = qualify(state, model, at);
    applied
}

/// The [`Rare`] facts of an absorbed profile added to `state`'s (see [`absorb`]).
fn absorb_rare(state: &mut Rare, other: &Rare) {
    state.bot_opens += other.bot_opens;
    state.bot_clicks += other.bot_clicks;
    state.email_unsubscribed |= other.email_unsubscribed;
    state.sms_opted_out |= other.sms_opted_out;
    state.revenue = add_money(state.revenue, other.revenue);
    state.last_purchase_ms = state.last_purchase_ms.max(other.last_purchase_ms);
    if let Some(t) = &other.first_touch
        && state.first_touch.as_ref().is_none_or(|m| t.at_ms < m.at_ms)
    {
        state.first_touch = Some(t.clone());
    }
    if let Some(t) = &other.last_touch
        && state.last_touch.as_ref().is_none_or(|m| t.at_ms > m.at_ms)
    {
        state.last_touch = Some(t.clone());
    }
    if other.account.is_some()
        && (state.account.is_none() || other.account_at_ms > state.account_at_ms)
    {
        state.account = other.account.clone();
        state.account_traits = other.account_traits.clone();
        state.account_at_ms = other.account_at_ms;
    }
    for r in other.once.iter() {
        if !state.once.contains(r) {
            state.once.push(*r);
        }
    }
}

fn count_day(state: &mut ProfileState, kind: EventKind, at: i64) {
    let day = (at.max(0) / DAY_MS) as u32;
    match state
        .days
        .iter_mut()
        .find(|d| d.day == day && d.kind == kind as u8)
    {
        Some(d) => d.count = d.count.saturating_add(1),
        None => state.days.push(DayCount {
            day,
            kind: kind as u8,
            count: 1,
        }),
    }
    let newest = state.days.iter().map(|d| d.day).max().unwrap_or(day);
    state.days.retain(|d| d.day + WINDOW_DAYS > newest);
}
