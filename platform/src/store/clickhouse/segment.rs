//! A segment as one ClickHouse query (runs on 18.16 and current releases). User values only ever
//! travel as bound parameters; column names and functions are constants here.

use leadstream_schemas::segment::{Range, Scalar, Segment, ValueTest};

use super::sql::{Bind, Sql, json_text};
use crate::segment::{DAY_MS, NUMBER};

/// The current members of member set `set_id`, ordered.
pub fn set_members(workspace: &str, set_id: &str) -> Sql {
    let mut sql = Sql::default();
    sql.push(
        "SELECT member_id FROM (SELECT member_id, argMax(removed, version) AS r FROM set_members \
         WHERE workspace = ",
    );
    sql.bind(Bind::Str(workspace.to_string()));
    sql.push(" AND set_id = ");
    sql.bind(Bind::Str(set_id.to_string()));
    sql.push(" GROUP BY member_id) WHERE r = 0 ORDER BY member_id");
    sql
}

/// How many members the segment has in `workspace` as of `now_ms`, and the first `sample` ids:
/// one row `(count, [ids])`.
pub fn preview(workspace: &str, segment: &Segment, now_ms: i64, sample: usize) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT count(), arraySlice(arraySort(groupArray(pid)), 1, ");
    sql.bind(Bind::U64(sample as u64));
    sql.push(") FROM (");
    sql.append(unordered(workspace, segment, now_ms));
    sql.push(")");
    sql
}

/// The ids of the segment's members in `workspace`, ordered, as of `now_ms`.
pub fn members(workspace: &str, segment: &Segment, now_ms: i64) -> Sql {
    let mut sql = unordered(workspace, segment, now_ms);
    sql.push(" ORDER BY pid");
    sql
}

fn unordered(workspace: &str, segment: &Segment, now_ms: i64) -> Sql {
    let only = only_ids(segment);
    let mut sql = Sql::default();
    sql.push(
        "SELECT pid FROM (SELECT profile_id AS pid, argMax(traits, version) AS t, \
         argMax(score, version) AS sc, argMax(grade, version) AS gr, \
         argMax(lifecycle_stage, version) AS st, argMax(account, version) AS acc, \
         argMax(account_traits, version) AS atr, argMax(merged_into, version) AS mi \
         FROM profiles WHERE workspace = ",
    );
    sql.bind(Bind::Str(workspace.to_string()));
    if let Some(ids) = only {
        // Asked about given people only: their rows, found by the table's key.
        sql.push(" AND profile_id IN (SELECT arrayJoin(");
        sql.bind(Bind::Strs(ids.to_vec()));
        sql.push("))");
    }
    sql.push(" GROUP BY profile_id) WHERE mi = '' AND (");
    let c = Compile {
        workspace,
        now_ms,
        only,
    };
    c.condition(&mut sql, segment);
    sql.push(")");
    sql
}

/// The ids of an `ids` condition in the segment's top-level conjunction (nested `and`s are the
/// same conjunction): the segment then only asks about those people (whether a person is in it).
fn only_ids(segment: &Segment) -> Option<&[String]> {
    match segment {
        Segment::Ids(ids) => Some(ids),
        Segment::And(xs) => xs.iter().find_map(only_ids),
        _ => None,
    }
}

/// What every condition of one segment is compiled with.
struct Compile<'a> {
    workspace: &'a str,
    now_ms: i64,
    /// Only these people can be members (see [`only_ids`]): behaviour counts read only their
    /// events and those of the ids merged into them, by the events' key, not every event. RFM
    /// stays on every customer: its cut points are the population's.
    only: Option<&'a [String]>,
}

fn list(sql: &mut Sql, column: &str, values: Vec<String>) {
    sql.push("has(");
    sql.bind(Bind::Strs(values));
    sql.push(&format!(", {column})"));
}

/// `value` (an expression, spliced in once per bound) within `r`.
fn range(sql: &mut Sql, value: &Sql, r: &Range) {
    let mut parts = 0;
    for (op, bound) in [(">", r.gt), (">=", r.gte), ("<", r.lt), ("<=", r.lte)] {
        if let Some(b) = bound {
            if parts > 0 {
                sql.push(" AND ");
            }
            sql.push(&value.text);
            sql.binds.extend(value.binds.iter().cloned());
            sql.push(&format!(" {op} "));
            sql.bind(Bind::F64(b));
            parts += 1;
        }
    }
    if parts == 0 {
        sql.push("1");
    }
}

/// `column`'s trait `key`: present, its text, and the text as a number.
fn trait_test(sql: &mut Sql, column: &str, key: &str, test: &ValueTest) {
    let k = || Bind::Str(key.to_string());
    let raw = |sql: &mut Sql| {
        sql.push(&format!("visitParamExtractRaw({column}, "));
        sql.bind(k());
        sql.push(")");
    };
    let present = |sql: &mut Sql| {
        sql.push(&format!("(visitParamHas({column}, "));
        sql.bind(k());
        sql.push(") AND ");
        raw(sql);
        sql.push(" != 'null')");
    };
    let text = |sql: &mut Sql| json_text(sql, column, key);
    let numeric = |sql: &mut Sql, r: &Range| {
        sql.push("(match(");
        text(sql);
        sql.push(", ");
        sql.bind(Bind::Str(NUMBER.to_string()));
        sql.push(") AND (");
        let mut value = Sql::default();
        value.push("toFloat64OrZero(");
        text(&mut value);
        value.push(")");
        range(sql, &value, r);
        sql.push("))");
    };
    let equal = |sql: &mut Sql, v: &Scalar| match v {
        Scalar::Text(s) => {
            sql.push("(");
            present(sql);
            sql.push(" AND ");
            text(sql);
            sql.push(" = ");
            sql.bind(Bind::Str(s.clone()));
            sql.push(")");
        }
        Scalar::Number(n) => numeric(
            sql,
            &Range {
                gte: Some(*n),
                lte: Some(*n),
                ..Range::default()
            },
        ),
    };
    match test {
        ValueTest::Exists(true) => present(sql),
        ValueTest::Exists(false) => {
            sql.push("NOT ");
            present(sql);
        }
        ValueTest::Eq(v) => equal(sql, v),
        ValueTest::Ne(v) => {
            sql.push("NOT ");
            equal(sql, v);
        }
        ValueTest::Contains(s) => {
            sql.push("(");
            present(sql);
            sql.push(" AND position(");
            text(sql);
            sql.push(", ");
            sql.bind(Bind::Str(s.clone()));
            sql.push(") > 0)");
        }
        ValueTest::StartsWith(s) => {
            sql.push("(");
            present(sql);
            sql.push(" AND substring(");
            text(sql);
            sql.push(", 1, ");
            sql.bind(Bind::U64(s.len() as u64));
            sql.push(") = ");
            sql.bind(Bind::Str(s.clone()));
            sql.push(")");
        }
        ValueTest::In(values) => {
            sql.push("(");
            present(sql);
            sql.push(" AND has(");
            sql.bind(Bind::Strs(values.clone()));
            sql.push(", ");
            text(sql);
            sql.push("))");
        }
        ValueTest::Range(r) => numeric(sql, r),
    }
}

/// What a behaviour leaf counts: messages of `kind` since `since` whose properties pass `props`.
struct Behaviour<'a> {
    kind: &'a str,
    props: &'a [(String, ValueTest)],
    since: i64,
}

/// People (ids after merges) with between `min` and `max` distinct matching messages; with
/// `only`, among those people.
fn people_with(
    sql: &mut Sql,
    workspace: &str,
    only: Option<&[String]>,
    b: &Behaviour<'_>,
    min: u64,
    max: Option<u64>,
) {
    sql.push(
        "(SELECT person FROM (SELECT if(ip = '', src, ip) AS person, message_id FROM \
         (SELECT profile_id AS src, message_id FROM events WHERE workspace = ",
    );
    sql.bind(Bind::Str(workspace.to_string()));
    if let Some(ids) = only {
        sql.push(" AND (profile_id IN (SELECT arrayJoin(");
        sql.bind(Bind::Strs(ids.to_vec()));
        sql.push(")) OR profile_id IN (SELECT id FROM identities WHERE workspace = ");
        sql.bind(Bind::Str(workspace.to_string()));
        sql.push(" AND has(");
        sql.bind(Bind::Strs(ids.to_vec()));
        sql.push(", profile_id)))");
    }
    sql.push(" AND kind = ");
    sql.bind(Bind::Str(b.kind.to_string()));
    sql.push(" AND timestamp_ms >= ");
    sql.bind(Bind::I64(b.since));
    for (key, test) in b.props {
        sql.push(" AND ");
        trait_test(sql, "properties", key, test);
    }
    sql.push(
        ") AS e ANY LEFT JOIN (SELECT id AS src, profile_id AS ip FROM identities WHERE workspace = ",
    );
    sql.bind(Bind::Str(workspace.to_string()));
    sql.push(") AS i USING src) GROUP BY person HAVING uniqExact(message_id) >= ");
    sql.bind(Bind::U64(min));
    if let Some(max) = max {
        sql.push(" AND uniqExact(message_id) <= ");
        sql.bind(Bind::U64(max));
    }
    sql.push(")");
}

impl Compile<'_> {
    fn condition(&self, sql: &mut Sql, segment: &Segment) {
        let (workspace, now_ms) = (self.workspace, self.now_ms);
        match segment {
            Segment::And(xs) | Segment::Or(xs) => {
                let join = if matches!(segment, Segment::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                sql.push("(");
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        sql.push(join);
                    }
                    self.condition(sql, x);
                }
                sql.push(")");
            }
            Segment::Not(x) => {
                sql.push("NOT (");
                self.condition(sql, x);
                sql.push(")");
            }
            Segment::Trait { key, test } => trait_test(sql, "t", key, test),
            Segment::AccountTrait { key, test } => {
                sql.push("(acc != '' AND ");
                trait_test(sql, "atr", key, test);
                sql.push(")");
            }
            Segment::Account(ids) => list(sql, "acc", ids.clone()),
            Segment::Score(r) => {
                sql.push("(");
                let score = Sql {
                    text: "sc".into(),
                    binds: Vec::new(),
                };
                range(sql, &score, r);
                sql.push(")");
            }
            Segment::Grade(grades) => list(sql, "gr", grades.clone()),
            Segment::Stage(stages) => list(
                sql,
                "st",
                stages.iter().map(|s| s.as_str().to_string()).collect(),
            ),
            Segment::Did {
                kind,
                props,
                at_least,
                at_most,
                days,
            } => {
                let b = Behaviour {
                    kind: kind.key(),
                    props,
                    since: now_ms - i64::from(*days) * DAY_MS,
                };
                if *at_least == 0 {
                    // Nobody is below zero: "at most m" is "not more than m".
                    sql.push("pid NOT IN ");
                    people_with(
                        sql,
                        workspace,
                        self.only,
                        &b,
                        at_most.map_or(u64::MAX, |m| m + 1),
                        None,
                    );
                } else {
                    sql.push("pid IN ");
                    people_with(sql, workspace, self.only, &b, *at_least, *at_most);
                }
            }
            Segment::InList { id, accounts } => {
                sql.push(if *accounts {
                    "(acc != '' AND acc IN ("
                } else {
                    "(pid IN ("
                });
                sql.append(set_members(workspace, id));
                sql.push("))");
            }
            Segment::Rfm { segments, spec } => {
                sql.push("pid IN (SELECT person FROM (");
                super::rfm::scored(sql, workspace, spec, now_ms);
                sql.push(") WHERE has(");
                sql.bind(Bind::Strs(segments.clone()));
                sql.push(", segment))");
            }
            Segment::Ids(ids) => list(sql, "pid", ids.clone()),
            // Resolved away before compiling (the stores refuse unresolved trees).
            Segment::InSegment(_) => sql.push("0"),
        }
    }
}
