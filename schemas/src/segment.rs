//! The segment language: a boolean tree of conditions over people's current profiles and their
//! behaviour, written as JSON. One definition, two back ends (ClickHouse SQL and polars), the
//! same members.
//!
//! ```json
//! {"and": [
//!   {"trait": "title", "contains": "VP"},
//!   {"or": [{"score": {"gte": 50}}, {"grade": ["A", "B"]}]},
//!   {"did": "file_downloaded", "at_least": 2, "within_days": 30},
//!   {"not": {"stage": ["customer"]}}
//! ]}
//! ```
//!
//! | node | meaning |
//! |---|---|
//! | `{"and": [..]}`, `{"or": [..]}`, `{"not": {..}}` | boolean tree (`and`/`or` need 1 to 64 children) |
//! | `{"trait": K, OP: V}` | a person's trait `K` (top level of the traits) |
//! | `{"account_trait": K, OP: V}` | the same on the traits of the person's account |
//! | `{"account": [ids]}` | the person's account is one of these |
//! | `{"score": {"gt"/"gte"/"lt"/"lte": n, "between": [a, b]}}` | the qualifying score |
//! | `{"grade": ["A", …]}` | the fit grade is one of these |
//! | `{"stage": ["mql", …]}` | the lifecycle stage is one of these |
//! | `{"did": KIND, "where": [P, …], "at_least": n, "at_most": m, "within_days": d}` | did `KIND` (with every property condition `P` holding, if given) between n (default 1) and m times in the last d days |
//! | `{"did_not": KIND, "where": [P, …], "within_days": d}` | has not done `KIND` (so qualified) in the last d days |
//! | `{"in_segment": ID}` | is a member of the saved segment `ID` (its definition is used as it is now) |
//! | `{"in_list": ID}` | is on the list `ID`; for a list of accounts, the person's account is |
//! | `{"rfm": [NAME, …], "spec": {…}}` | is a customer in one of these RFM segments now ([`crate::rfm`]; `spec` optional, as in the RFM API) |
//!
//! A property condition `P` is `{"property": K, OP: V}` with the trait operators below, on the
//! event's top-level property `K` (`{"property": "revenue", "gte": 100}`).
//!
//! Trait operators (`OP`): `eq`, `ne` (a string or a number), `contains`, `starts_with` (a string),
//! `in` (strings), `gt`, `gte`, `lt`, `lte` (a number), `between` (`[low, high]`, both included),
//! `exists` (`true` or `false`). A trait's value is compared as text: a string as it is, a number
//! or a boolean as JSON writes it; the number operators read the text as a number (so `"200"` and
//! `200` are both 200) and never hold for text that is not one. A missing or `null` trait holds
//! for `ne` and `exists: false` only. Behaviour counts distinct `messageId`s, and counts an
//! anonymous id's events for the person it was merged into. Days are counted back from the time
//! the query runs.

use serde_json::{Map, Value};

use crate::kinds::EventKind;
use crate::profile::LifecycleStage;

/// Deepest nesting accepted, and most children of one `and`/`or`.
pub const MAX_DEPTH: usize = 16;
pub const MAX_CHILDREN: usize = 64;
const MAX_TEXT: usize = 1024;
const MAX_DAYS: u32 = 3650;

/// A test on one (trait) value.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueTest {
    /// Equal text (`eq` with a string or a number; a number is compared as a number).
    Eq(Scalar),
    Ne(Scalar),
    Contains(String),
    StartsWith(String),
    In(Vec<String>),
    Range(Range),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Number(f64),
}

/// A numeric range; each bound optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Range {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    And(Vec<Segment>),
    Or(Vec<Segment>),
    Not(Box<Segment>),
    Trait {
        key: String,
        test: ValueTest,
    },
    AccountTrait {
        key: String,
        test: ValueTest,
    },
    Account(Vec<String>),
    Score(Range),
    Grade(Vec<String>),
    Stage(Vec<LifecycleStage>),
    /// Did `kind` (with every property test holding) between `at_least` and `at_most` times
    /// (distinct messages) in the last `days`.
    Did {
        kind: EventKind,
        props: Vec<(String, ValueTest)>,
        at_least: u64,
        at_most: Option<u64>,
        days: u32,
    },
    /// Member of a saved segment; replaced by its definition before a back end sees it.
    InSegment(String),
    /// On a list (a member set); `accounts` once resolved to a list of accounts.
    InList {
        id: String,
        accounts: bool,
    },
    /// In one of these RFM segments as of the query's time.
    Rfm {
        segments: Vec<String>,
        spec: crate::rfm::RfmSpec,
    },
    /// One of these people (not part of the language: the API uses it to ask whether given
    /// people are members).
    Ids(Vec<String>),
}

/// A definition that is not a segment: where (a JSON path like `$.and[1].gte`) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct SegmentError {
    pub path: String,
    pub problem: String,
}

fn err<T>(path: &str, problem: impl Into<String>) -> Result<T, SegmentError> {
    Err(SegmentError {
        path: path.to_string(),
        problem: problem.into(),
    })
}

const VALUE_OPS: &[&str] = &[
    "eq",
    "ne",
    "contains",
    "starts_with",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "exists",
];

impl Segment {
    /// Reads a definition, naming the node at fault.
    pub fn parse(value: &Value) -> Result<Segment, SegmentError> {
        parse_node(value, "$", 0)
    }

    /// Every behaviour and list condition of the tree, in order (the back ends resolve them
    /// first, each to a set of people).
    pub fn behaviours(&self) -> Vec<&Segment> {
        let mut out = Vec::new();
        self.walk(&mut |s| {
            if matches!(
                s,
                Segment::Did { .. } | Segment::InList { .. } | Segment::Rfm { .. }
            ) {
                out.push(s);
            }
        });
        out
    }

    /// Rebuilds the tree bottom-up, letting `f` replace any leaf (with its JSON path).
    pub fn try_map_leaves<E>(
        self,
        path: &str,
        f: &mut impl FnMut(Segment, &str) -> Result<Segment, E>,
    ) -> Result<Segment, E> {
        Ok(match self {
            Segment::And(xs) => Segment::And(
                xs.into_iter()
                    .enumerate()
                    .map(|(i, x)| x.try_map_leaves(&format!("{path}.and[{i}]"), f))
                    .collect::<Result<_, _>>()?,
            ),
            Segment::Or(xs) => Segment::Or(
                xs.into_iter()
                    .enumerate()
                    .map(|(i, x)| x.try_map_leaves(&format!("{path}.or[{i}]"), f))
                    .collect::<Result<_, _>>()?,
            ),
            Segment::Not(x) => Segment::Not(Box::new(x.try_map_leaves(&format!("{path}.not"), f)?)),
            leaf => f(leaf, path)?,
        })
    }

    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Segment)) {
        f(self);
        match self {
            Segment::And(xs) | Segment::Or(xs) => xs.iter().for_each(|x| x.walk(f)),
            Segment::Not(x) => x.walk(f),
            _ => {}
        }
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, SegmentError> {
    value
        .as_object()
        .map_or_else(|| err(path, "must be an object"), Ok)
}

fn text(value: &Value, path: &str) -> Result<String, SegmentError> {
    match value.as_str() {
        Some(s) if s.len() <= MAX_TEXT => Ok(s.to_string()),
        Some(_) => err(path, format!("must be at most {MAX_TEXT} bytes")),
        None => err(path, "must be a string"),
    }
}

fn number(value: &Value, path: &str) -> Result<f64, SegmentError> {
    match value.as_f64() {
        Some(n) if n.is_finite() => Ok(n),
        _ => err(path, "must be a number"),
    }
}

fn texts(value: &Value, path: &str) -> Result<Vec<String>, SegmentError> {
    let Some(items) = value.as_array() else {
        return err(path, "must be an array of strings");
    };
    if items.is_empty() || items.len() > 1000 {
        return err(path, "must hold 1 to 1000 strings");
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| text(v, &format!("{path}[{i}]")))
        .collect()
}

/// Keys name a top-level trait: letters, digits, `_`, `-`, `.` and spaces.
fn key(value: &Value, path: &str) -> Result<String, SegmentError> {
    let k = text(value, path)?;
    if k.is_empty()
        || k.len() > 128
        || !k
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
    {
        return err(
            path,
            "must be a trait name of 1 to 128 letters, digits, `_`, `-`, `.` or spaces",
        );
    }
    Ok(k)
}

fn only(map: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), SegmentError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => err(
            &format!("{path}.{k}"),
            format!("unknown here; expected one of {}", allowed.join(", ")),
        ),
        None => Ok(()),
    }
}

fn range(map: &Map<String, Value>, path: &str) -> Result<Range, SegmentError> {
    let mut r = Range::default();
    let mut any = false;
    for (k, v) in map {
        let at = format!("{path}.{k}");
        match k.as_str() {
            "gt" => r.gt = Some(number(v, &at)?),
            "gte" => r.gte = Some(number(v, &at)?),
            "lt" => r.lt = Some(number(v, &at)?),
            "lte" => r.lte = Some(number(v, &at)?),
            "between" => {
                let pair = v.as_array().filter(|a| a.len() == 2);
                let Some(pair) = pair else {
                    return err(&at, "must be [low, high]");
                };
                let (lo, hi) = (
                    number(&pair[0], &format!("{at}[0]"))?,
                    number(&pair[1], &format!("{at}[1]"))?,
                );
                if lo > hi {
                    return err(&at, "low must not be above high");
                }
                r.gte = Some(lo);
                r.lte = Some(hi);
            }
            _ => continue,
        }
        any = true;
    }
    if !any {
        return err(path, "needs gt, gte, lt, lte or between");
    }
    Ok(r)
}

fn value_test(
    map: &Map<String, Value>,
    subject: &str,
    path: &str,
) -> Result<ValueTest, SegmentError> {
    let mut allowed = vec![subject];
    allowed.extend_from_slice(VALUE_OPS);
    only(map, &allowed, path)?;
    let ops: Vec<&String> = map.keys().filter(|k| k.as_str() != subject).collect();
    let numeric = ["gt", "gte", "lt", "lte", "between"];
    if ops.is_empty() {
        return err(path, format!("needs an operator: {}", VALUE_OPS.join(", ")));
    }
    if ops.iter().all(|o| numeric.contains(&o.as_str())) {
        return Ok(ValueTest::Range(range(map, path)?));
    }
    if ops.len() > 1 {
        return err(path, "one operator per condition (or a numeric range)");
    }
    let op = ops[0].as_str();
    let v = &map[op];
    let at = format!("{path}.{op}");
    let scalar = |v: &Value| -> Result<Scalar, SegmentError> {
        match v {
            Value::String(_) => Ok(Scalar::Text(text(v, &at)?)),
            Value::Number(_) => Ok(Scalar::Number(number(v, &at)?)),
            _ => err(&at, "must be a string or a number"),
        }
    };
    Ok(match op {
        "eq" => ValueTest::Eq(scalar(v)?),
        "ne" => ValueTest::Ne(scalar(v)?),
        "contains" => ValueTest::Contains(text(v, &at)?),
        "starts_with" => ValueTest::StartsWith(text(v, &at)?),
        "in" => ValueTest::In(texts(v, &at)?),
        "exists" => ValueTest::Exists(
            v.as_bool()
                .map_or_else(|| err(&at, "must be true or false"), Ok)?,
        ),
        other => return err(&at, format!("unknown operator {other}")),
    })
}

fn days(map: &Map<String, Value>, path: &str) -> Result<u32, SegmentError> {
    let at = format!("{path}.within_days");
    match map.get("within_days").and_then(Value::as_u64) {
        Some(d) if (1..=u64::from(MAX_DAYS)).contains(&d) => Ok(d as u32),
        Some(_) => err(&at, format!("must be 1 to {MAX_DAYS}")),
        None => err(&at, "is required: a whole number of days"),
    }
}

fn kind(value: &Value, path: &str) -> Result<EventKind, SegmentError> {
    let k = text(value, path)?;
    EventKind::from_key(&k).map_or_else(
        || {
            err(
                path,
                format!("unknown event kind `{k}` (e.g. page_viewed, file_downloaded)"),
            )
        },
        Ok,
    )
}

fn count(map: &Map<String, Value>, name: &str, path: &str) -> Result<Option<u64>, SegmentError> {
    match map.get(name) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).map_or_else(
            || err(&format!("{path}.{name}"), "must be a whole number ≥ 0"),
            Ok,
        ),
    }
}

fn parse_node(value: &Value, path: &str, depth: usize) -> Result<Segment, SegmentError> {
    if depth > MAX_DEPTH {
        return err(path, format!("nested deeper than {MAX_DEPTH}"));
    }
    let map = object(value, path)?;
    let children = |v: &Value, at: &str| -> Result<Vec<Segment>, SegmentError> {
        let Some(items) = v.as_array() else {
            return err(at, "must be an array of conditions");
        };
        if items.is_empty() || items.len() > MAX_CHILDREN {
            return err(at, format!("must hold 1 to {MAX_CHILDREN} conditions"));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_node(c, &format!("{at}[{i}]"), depth + 1))
            .collect()
    };
    let head = [
        "and",
        "or",
        "not",
        "trait",
        "account_trait",
        "account",
        "score",
        "grade",
        "stage",
        "did",
        "did_not",
        "in_segment",
        "in_list",
        "rfm",
    ];
    let Some(h) = head.iter().find(|h| map.contains_key(**h)) else {
        return err(path, format!("needs one of {}", head.join(", ")));
    };
    let at = format!("{path}.{h}");
    let v = &map[*h];
    Ok(match *h {
        "and" | "or" => {
            only(map, &[h], path)?;
            let xs = children(v, &at)?;
            if *h == "and" {
                Segment::And(xs)
            } else {
                Segment::Or(xs)
            }
        }
        "not" => {
            only(map, &["not"], path)?;
            Segment::Not(Box::new(parse_node(v, &at, depth + 1)?))
        }
        "trait" => Segment::Trait {
            key: key(v, &at)?,
            test: value_test(map, "trait", path)?,
        },
        "account_trait" => Segment::AccountTrait {
            key: key(v, &at)?,
            test: value_test(map, "account_trait", path)?,
        },
        "account" => {
            only(map, &["account"], path)?;
            Segment::Account(texts(v, &at)?)
        }
        "score" => {
            only(map, &["score"], path)?;
            let r = object(v, &at)?;
            only(r, &["gt", "gte", "lt", "lte", "between"], &at)?;
            Segment::Score(range(r, &at)?)
        }
        "grade" => {
            only(map, &["grade"], path)?;
            let grades = texts(v, &at)?;
            for (i, g) in grades.iter().enumerate() {
                if !["A", "B", "C", "D", "E", "F"].contains(&g.as_str()) {
                    return err(&format!("{at}[{i}]"), "must be a grade A to F");
                }
            }
            Segment::Grade(grades)
        }
        "stage" => {
            only(map, &["stage"], path)?;
            let names = texts(v, &at)?;
            let mut stages = Vec::new();
            for (i, s) in names.iter().enumerate() {
                match LifecycleStage::parse(s) {
                    Some(st) => stages.push(st),
                    None => {
                        return err(
                            &format!("{at}[{i}]"),
                            "must be name, mql, sales_accepted, recycled or customer",
                        );
                    }
                }
            }
            Segment::Stage(stages)
        }
        "did" => {
            only(
                map,
                &["did", "where", "at_least", "at_most", "within_days"],
                path,
            )?;
            let at_least = count(map, "at_least", path)?.unwrap_or(1);
            let at_most = count(map, "at_most", path)?;
            if at_most.is_some_and(|m| m < at_least) {
                return err(&format!("{path}.at_most"), "must not be below at_least");
            }
            Segment::Did {
                kind: kind(v, &at)?,
                props: props(map, path)?,
                at_least,
                at_most,
                days: days(map, path)?,
            }
        }
        "did_not" => {
            only(map, &["did_not", "where", "within_days"], path)?;
            Segment::Did {
                kind: kind(v, &at)?,
                props: props(map, path)?,
                at_least: 0,
                at_most: Some(0),
                days: days(map, path)?,
            }
        }
        "rfm" => {
            only(map, &["rfm", "spec"], path)?;
            let segments = texts(v, &at)?;
            for (i, name) in segments.iter().enumerate() {
                if !crate::rfm::SEGMENTS.contains(&name.as_str()) {
                    return err(
                        &format!("{at}[{i}]"),
                        format!(
                            "must be an RFM segment: {}",
                            crate::rfm::SEGMENTS.join(", ")
                        ),
                    );
                }
            }
            let spec = match map.get("spec") {
                None => crate::rfm::RfmSpec::default(),
                Some(v) => {
                    let at = format!("{path}.spec");
                    let spec: crate::rfm::RfmSpec = serde_json::from_value(v.clone())
                        .map_or_else(|e| err(&at, e.to_string()), Ok)?;
                    if let Err((field, problem)) = spec.check() {
                        return err(&format!("{at}.{field}"), problem);
                    }
                    spec
                }
            };
            Segment::Rfm { segments, spec }
        }
        "in_segment" => {
            only(map, &["in_segment"], path)?;
            Segment::InSegment(id(v, &at)?)
        }
        _ => {
            only(map, &["in_list"], path)?;
            Segment::InList {
                id: id(v, &at)?,
                accounts: false,
            }
        }
    })
}

/// A saved object's id: 1 to 64 letters, digits, `_` or `-`.
fn id(value: &Value, path: &str) -> Result<String, SegmentError> {
    let s = text(value, path)?;
    if s.is_empty()
        || s.len() > 64
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return err(path, "must be an id of 1 to 64 letters, digits, `_` or `-`");
    }
    Ok(s)
}

/// A behaviour's `where`: 1 to 16 property conditions, all of which must hold.
fn props(map: &Map<String, Value>, path: &str) -> Result<Vec<(String, ValueTest)>, SegmentError> {
    let Some(v) = map.get("where") else {
        return Ok(Vec::new());
    };
    let at = format!("{path}.where");
    let Some(items) = v.as_array().filter(|a| !a.is_empty() && a.len() <= 16) else {
        return err(&at, "must be an array of 1 to 16 property conditions");
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = format!("{at}[{i}]");
            let m = object(item, &p)?;
            let Some(k) = m.get("property") else {
                return err(&p, "needs `property`: the event property's name");
            };
            Ok((
                key(k, &format!("{p}.property"))?,
                value_test(m, "property", &p)?,
            ))
        })
        .collect()
}

impl Range {
    pub fn holds(&self, v: f64) -> bool {
        self.gt.is_none_or(|b| v > b)
            && self.gte.is_none_or(|b| v >= b)
            && self.lt.is_none_or(|b| v < b)
            && self.lte.is_none_or(|b| v <= b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_documented_example() {
        let s = Segment::parse(&json!({"and": [
            {"trait": "title", "contains": "VP"},
            {"or": [{"score": {"gte": 50}}, {"grade": ["A", "B"]}]},
            {"did": "file_downloaded", "at_least": 2, "within_days": 30},
            {"not": {"stage": ["customer"]}}
        ]}))
        .expect("valid");
        assert_eq!(s.behaviours().len(), 1);
        let Segment::And(xs) = s else { panic!("and") };
        assert_eq!(
            xs[0],
            Segment::Trait {
                key: "title".into(),
                test: ValueTest::Contains("VP".into())
            }
        );
    }

    #[test]
    fn errors_point_at_the_node() {
        for (def, path) in [
            (json!([]), "$"),
            (json!({"and": []}), "$.and"),
            (
                json!({"and": [{"trait": "t", "eq": "x"}, {"score": {"gte": "high"}}]}),
                "$.and[1].score.gte",
            ),
            (json!({"or": [{"grade": ["A", "Z"]}]}), "$.or[0].grade[1]"),
            (json!({"did": "teleported", "within_days": 3}), "$.did"),
            (json!({"did": "page_viewed"}), "$.within_days"),
            (
                json!({"did": "page_viewed", "within_days": 3, "at_least": 3, "at_most": 1}),
                "$.at_most",
            ),
            (json!({"trait": "t", "eq": "x", "contains": "y"}), "$"),
            (json!({"trait": "t", "like": "x"}), "$.like"),
            (json!({"trait": "a'b", "eq": "x"}), "$.trait"),
            (json!({"not": {"stage": ["won"]}}), "$.not.stage[0]"),
            (json!({"trait": "n", "between": [5, 1]}), "$.between"),
            (
                json!({"did": "purchase_completed", "within_days": 3, "where": [{"revenue": 1}]}),
                "$.where[0]",
            ),
            (
                json!({"did": "purchase_completed", "within_days": 3, "where": [{"property": "revenue", "gte": "x"}]}),
                "$.where[0].gte",
            ),
            (json!({"in_list": "a b"}), "$.in_list"),
            (json!({"in_segment": 3}), "$.in_segment"),
            (json!({"rfm": ["Champions", "Heroes"]}), "$.rfm[1]"),
            (
                json!({"rfm": ["Lost"], "spec": {"window_days": 0}}),
                "$.spec.window_days",
            ),
            (json!({"rfm": ["Lost"], "spec": {"windows": 3}}), "$.spec"),
        ] {
            let e = Segment::parse(&def).expect_err("invalid");
            assert_eq!(e.path, path, "{def}: {e}");
        }
        let mut deep = json!({"stage": ["mql"]});
        for _ in 0..=MAX_DEPTH {
            deep = json!({"not": deep});
        }
        assert!(Segment::parse(&deep).is_err());
    }
}
