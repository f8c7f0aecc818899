//! A segment as a polars query over the embedded store's `profiles`, `events` and `identities`
//! tables. Behaviour conditions are resolved first (one grouped query each, to the set of people
//! they hold for); the rest is one filter expression over the newest profile versions.

use leadstream_schemas::segment::{Range, Scalar, Segment, ValueTest};
use polars::prelude::*;

use super::attribution::attribute;
use super::one_of;
use crate::segment::{DAY_MS, NUMBER};

/// The embedded store's tables as lazy scans (`None`: the table has no file yet).
pub struct Tables {
    pub profiles: Option<LazyFrame>,
    pub events: Option<LazyFrame>,
    pub identities: Option<LazyFrame>,
    pub set_members: Option<LazyFrame>,
}

/// The current members of a member set, ordered.
pub fn set_members(scan: LazyFrame, workspace: &str, set_id: &str) -> PolarsResult<Vec<String>> {
    let df = set_members_lazy(scan, workspace, set_id)
        .select([col("member_id")])
        .sort(["member_id"], SortMultipleOptions::default())
        .collect()?;
    strings_of(&df, "member_id")
}

/// The current members of a member set, lazily (column `member_id`).
fn set_members_lazy(scan: LazyFrame, workspace: &str, set_id: &str) -> LazyFrame {
    scan.filter(
        col("workspace")
            .eq(lit(workspace.to_string()))
            .and(col("set_id").eq(lit(set_id.to_string()))),
    )
    .sort(
        ["version"],
        SortMultipleOptions::default().with_order_descending(true),
    )
    .unique_stable_generic(Some(vec![col("member_id")]), UniqueKeepStrategy::First)
    .filter(col("removed").eq(lit(0u32)))
}

fn strings_of(df: &DataFrame, column: &str) -> PolarsResult<Vec<String>> {
    Ok(df
        .column(column)?
        .as_materialized_series()
        .str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

/// Members of `segment` among `current` (the newest version of each profile of the workspace),
/// ordered.
pub fn members(
    tables: &Tables,
    current: LazyFrame,
    workspace: &str,
    segment: &Segment,
    now_ms: i64,
) -> PolarsResult<Vec<String>> {
    let ids = member_frame(tables, current, workspace, segment, now_ms)?
        .sort(["profile_id"], SortMultipleOptions::default());
    strings_of(&ids.collect()?, "profile_id")
}

/// How many members `segment` has, and the first `sample` by id.
pub fn preview(
    tables: &Tables,
    current: LazyFrame,
    workspace: &str,
    segment: &Segment,
    now_ms: i64,
    sample: usize,
) -> PolarsResult<(u64, Vec<String>)> {
    let all = member_frame(tables, current, workspace, segment, now_ms)?.collect()?;
    let count = all.height() as u64;
    let first = all
        .lazy()
        .sort(["profile_id"], SortMultipleOptions::default())
        .limit(sample as IdxSize)
        .collect()?;
    Ok((count, strings_of(&first, "profile_id")?))
}

/// The members' `profile_id`s, lazily, unordered. Behaviour, list and RFM leaves are lazy sets
/// of people: those directly under the top-level `and` become semi (anti) joins after the other
/// conditions have filtered the profiles, as a hand-written query would; any deeper in the tree
/// are joined on as boolean columns. Either way the segment stays one plan.
fn member_frame(
    tables: &Tables,
    current: LazyFrame,
    workspace: &str,
    segment: &Segment,
    now_ms: i64,
) -> PolarsResult<LazyFrame> {
    let is_set = |s: &Segment| {
        matches!(
            s,
            Segment::Did { .. } | Segment::InList { .. } | Segment::Rfm { .. }
        )
    };
    // The top-level `and`, flattened (an `and` directly in it is the same conjunction).
    fn flatten<'a>(s: &'a Segment, out: &mut Vec<&'a Segment>) {
        match s {
            Segment::And(xs) => xs.iter().for_each(|x| flatten(x, out)),
            other => out.push(other),
        }
    }
    let mut conjuncts: Vec<&Segment> = Vec::new();
    flatten(segment, &mut conjuncts);
    // Asked about given people only (whether a person is a member): the behaviour counts need
    // only their events (and those of the ids merged into them), not every event of the
    // workspace. RFM stays on every customer: its cut points are the population's.
    let only: Option<Vec<String>> = conjuncts.iter().find_map(|c| match c {
        Segment::Ids(ids) => Some(ids.clone()),
        _ => None,
    });
    let narrowed = match (&only, &tables.events) {
        (Some(ids), Some(events)) => {
            let mut srcs = ids.clone();
            if let Some(identities) = &tables.identities {
                let merged = identities
                    .clone()
                    .filter(
                        col("workspace")
                            .eq(lit(workspace.to_string()))
                            .and(is_in(col("profile_id"), ids)),
                    )
                    .select([col("id")])
                    .collect()?;
                srcs.extend(strings_of(&merged, "id")?);
            }
            Some(Tables {
                profiles: tables.profiles.clone(),
                events: Some(events.clone().filter(one_of(col("profile_id"), &srcs))),
                identities: tables.identities.clone(),
                set_members: tables.set_members.clone(),
            })
        }
        _ => None,
    };
    let for_leaf = |leaf: &Segment| match (leaf, &narrowed) {
        (Segment::Did { .. }, Some(n)) => n,
        _ => tables,
    };
    let (direct, others): (Vec<&Segment>, Vec<&Segment>) =
        conjuncts.into_iter().partition(|s| is_set(s));
    let join_on = |leaf: &Segment| match leaf {
        Segment::InList { accounts: true, .. } => "account",
        _ => "profile_id",
    };
    let mut frame = current;
    if let Some(ids) = &only {
        // A filter of its own: polars pushes it past the newest-version `unique` (it is on that
        // key) down to the scan's row groups, but not when it shares a filter with a trait test.
        frame = frame.filter(one_of(col("profile_id"), ids));
    }
    let mut frame = frame.filter(col("merged_into").eq(lit("")));
    let mut columns = Columns::new();
    for leaf in others.iter().flat_map(|o| o.behaviours()) {
        let set = behaviour_set(for_leaf(leaf), workspace, leaf, now_ms)?;
        let name = format!("__hit{}", columns.len());
        let hits = set
            .people
            .unique_generic(Some(vec![col("person")]), UniqueKeepStrategy::Any)
            .select([col("person"), lit(true).alias(&name)]);
        frame = frame
            .join(
                hits,
                [col(join_on(leaf))],
                [col("person")],
                JoinArgs::new(JoinType::Left),
            )
            .with_column(col(&name).fill_null(lit(false)));
        columns.insert(std::ptr::from_ref(leaf), (name, set.include));
    }
    let filter = others
        .iter()
        .fold(lit(true), |e, o| e.and(condition(o, &columns)));
    frame = frame.filter(filter);
    for leaf in direct {
        let set = behaviour_set(for_leaf(leaf), workspace, leaf, now_ms)?;
        let how = if set.include {
            JoinType::Semi
        } else {
            JoinType::Anti
        };
        frame = frame.join(
            set.people,
            [col(join_on(leaf))],
            [col("person")],
            JoinArgs::new(how),
        );
    }
    Ok(frame.select([col("profile_id")]))
}

/// Joined columns of set leaves: the leaf (by address) → its column and whether it includes.
type Columns = std::collections::HashMap<*const Segment, (String, bool)>;

/// For a behaviour, list or RFM leaf: the people (column `person`) it holds for (`include`), or
/// those it excludes.
struct PeopleSet {
    people: LazyFrame,
    include: bool,
}

fn nobody() -> PolarsResult<LazyFrame> {
    Ok(df!("person" => Vec::<String>::new())?.lazy())
}

fn behaviour_set(
    tables: &Tables,
    workspace: &str,
    leaf: &Segment,
    now_ms: i64,
) -> PolarsResult<PeopleSet> {
    let include = |people| PeopleSet {
        people,
        include: true,
    };
    let (kind, props, at_least, at_most, days) = match leaf {
        Segment::Did {
            kind,
            props,
            at_least,
            at_most,
            days,
        } => (kind, props, at_least, at_most, days),
        Segment::Rfm { segments, spec } => {
            let (scored, _) = super::rfm::scored(
                tables.events.clone(),
                tables.identities.clone(),
                workspace,
                spec,
                now_ms,
            )?;
            let wanted = lit(Series::new("segments".into(), segments.clone())).implode(false);
            return Ok(include(
                scored
                    .filter(col("segment").is_in(wanted, false))
                    .select([col("person")]),
            ));
        }
        Segment::InList { id, .. } => {
            return Ok(include(match &tables.set_members {
                Some(scan) => set_members_lazy(scan.clone(), workspace, id)
                    .select([col("member_id").alias("person")]),
                None => nobody()?,
            }));
        }
        _ => return Ok(include(nobody()?)),
    };
    let since = now_ms - i64::from(*days) * DAY_MS;
    let (min, max, include_them) = if *at_least == 0 {
        (at_most.map_or(u64::MAX, |m| m + 1), None, false)
    } else {
        (*at_least, *at_most, true)
    };
    let people = match &tables.events {
        None => nobody()?,
        Some(events) => {
            let mut hits = events
                .clone()
                .filter(
                    props.iter().fold(
                        col("workspace")
                            .eq(lit(workspace.to_string()))
                            .and(col("kind").eq(lit(kind.key())))
                            .and(col("timestamp_ms").gt_eq(lit(since))),
                        |e, (key, test)| e.and(trait_test("properties", key, test)),
                    ),
                )
                .select([col("profile_id").alias("src"), col("message_id")]);
            hits = attribute(hits, tables.identities.clone(), workspace, &["message_id"]);
            let mut counted = hits
                .group_by([col("person")])
                .agg([col("message_id")
                    .n_unique()
                    .cast(DataType::UInt64)
                    .alias("n")])
                .filter(col("n").gt_eq(lit(min)));
            if let Some(max) = max {
                counted = counted.filter(col("n").lt_eq(lit(max)));
            }
            counted.select([col("person")])
        }
    };
    Ok(PeopleSet {
        people,
        include: include_them,
    })
}

fn strings(values: &[String]) -> Expr {
    lit(Series::new("values".into(), values.to_vec()))
}

fn is_in(column: Expr, values: &[String]) -> Expr {
    column
        .is_in(strings(values).implode(false), false)
        .fill_null(lit(false))
}

fn range(value: Expr, r: &Range) -> Expr {
    let mut e = lit(true);
    if let Some(b) = r.gt {
        e = e.and(value.clone().gt(lit(b)));
    }
    if let Some(b) = r.gte {
        e = e.and(value.clone().gt_eq(lit(b)));
    }
    if let Some(b) = r.lt {
        e = e.and(value.clone().lt(lit(b)));
    }
    if let Some(b) = r.lte {
        e = e.and(value.lt_eq(lit(b)));
    }
    e.fill_null(lit(false))
}

fn trait_test(column: &str, key: &str, test: &ValueTest) -> Expr {
    // Keys are checked by the parser: no quote or backslash reaches the path.
    let text = col(column)
        .str()
        .json_path_match(lit(format!("$['{key}']")));
    let present = text.clone().is_not_null();
    let numeric = |r: &Range| {
        let is_number = text.clone().str().contains(lit(NUMBER), true);
        let value = text.clone().cast(DataType::Float64);
        is_number.and(range(value, r)).fill_null(lit(false))
    };
    let equal = |v: &Scalar| match v {
        // A missing trait's text is null: the comparison is null, and null is false.
        Scalar::Text(s) => text.clone().eq(lit(s.clone())).fill_null(lit(false)),
        Scalar::Number(n) => numeric(&Range {
            gte: Some(*n),
            lte: Some(*n),
            ..Range::default()
        }),
    };
    match test {
        ValueTest::Exists(true) => present,
        ValueTest::Exists(false) => present.not(),
        ValueTest::Eq(v) => equal(v),
        ValueTest::Ne(v) => equal(v).not(),
        ValueTest::Contains(s) => text
            .clone()
            .str()
            .contains_literal(lit(s.clone()))
            .fill_null(lit(false)),
        ValueTest::StartsWith(s) => text
            .clone()
            .str()
            .starts_with(lit(s.clone()))
            .fill_null(lit(false)),
        ValueTest::In(values) => is_in(text.clone(), values),
        ValueTest::Range(r) => numeric(r),
    }
}

/// The filter for `segment`; `sets` holds the joined column of each set leaf in it.
fn condition(segment: &Segment, sets: &Columns) -> Expr {
    match segment {
        Segment::And(xs) => xs.iter().fold(lit(true), |e, x| e.and(condition(x, sets))),
        Segment::Or(xs) => xs.iter().fold(lit(false), |e, x| e.or(condition(x, sets))),
        Segment::Not(x) => condition(x, sets).not(),
        Segment::Trait { key, test } => trait_test("traits", key, test),
        Segment::AccountTrait { key, test } => {
            col("account")
                .neq(lit(""))
                .and(trait_test("account_traits", key, test))
        }
        Segment::Account(ids) => is_in(col("account"), ids),
        Segment::Score(r) => range(col("score"), r),
        Segment::Grade(grades) => is_in(col("grade"), grades),
        Segment::Stage(stages) => is_in(
            col("lifecycle_stage"),
            &stages
                .iter()
                .map(|s| s.as_str().to_string())
                .collect::<Vec<_>>(),
        ),
        Segment::Did { .. } | Segment::InList { .. } | Segment::Rfm { .. } => {
            match sets.get(&std::ptr::from_ref(segment)) {
                Some((name, true)) => col(name),
                Some((name, false)) => col(name).not(),
                None => lit(false),
            }
        }
        Segment::Ids(ids) => one_of(col("profile_id"), ids),
        // Resolved away before compiling (the stores refuse unresolved trees).
        Segment::InSegment(_) => lit(false),
    }
}
