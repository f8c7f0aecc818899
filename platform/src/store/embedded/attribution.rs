//! The one reading of events that segments, RFM and campaigns share in the embedded store:
//! events attributed to their person (merged ids through the `identities` table), each message
//! once (the polars side of ClickHouse's `sql::person_events`).

use polars::prelude::*;

use crate::segment::DEFAULT_REVENUE_KEY;

/// `person, message_id, ts, rev, kind` of a workspace's events passing `filter`: merged ids
/// attributed to their person, each message once; `rev` as in ClickHouse's `person_events` (the
/// event's money for [`DEFAULT_REVENUE_KEY`], else the property `revenue_key` as a number, 0 when
/// it is none). RFM and campaigns read events so.
pub fn person_events(
    events: LazyFrame,
    identities: Option<LazyFrame>,
    workspace: &str,
    revenue_key: &str,
    filter: Expr,
) -> LazyFrame {
    // Keys are checked by the parsers: no quote or backslash reaches the path.
    let property = |key: &str| {
        col("properties")
            .str()
            .json_path_match(lit(format!("$['{key}']")))
            .cast(DataType::Float64)
    };
    let rev = if revenue_key == DEFAULT_REVENUE_KEY {
        // Files written before the column existed read it as null: their `revenue` property.
        col("revenue").fill_null(property(revenue_key))
    } else {
        property(revenue_key)
    };
    let hits = events
        .filter(col("workspace").eq(lit(workspace.to_string())).and(filter))
        .select([
            col("profile_id").alias("src"),
            col("message_id"),
            col("timestamp_ms").alias("ts"),
            rev.fill_null(lit(0.0)).alias("rev"),
            col("kind"),
        ]);
    attribute(
        hits,
        identities,
        workspace,
        &["message_id", "ts", "rev", "kind"],
    )
    .unique_generic(
        Some(vec![col("person"), col("message_id")]),
        UniqueKeepStrategy::Any,
    )
}

/// `hits` (a column `src`: the profile an event was stored under, and `columns`) with `src`
/// replaced by `person`: the person an anonymous id was merged into (the identities table), else
/// the id itself. Every back end of behaviour, RFM and campaigns attributes events this way.
pub fn attribute(
    hits: LazyFrame,
    identities: Option<LazyFrame>,
    workspace: &str,
    columns: &[&str],
) -> LazyFrame {
    let rest = || columns.iter().map(|c| col(*c)).collect::<Vec<_>>();
    match identities {
        Some(ids) => {
            let ids = ids
                .filter(col("workspace").eq(lit(workspace.to_string())))
                .select([col("id").alias("src"), col("profile_id").alias("ip")])
                .unique_stable_generic(Some(vec![col("src")]), UniqueKeepStrategy::First);
            let mut select = vec![
                when(col("ip").is_null())
                    .then(col("src"))
                    .otherwise(col("ip"))
                    .alias("person"),
            ];
            select.extend(rest());
            hits.join(
                ids,
                [col("src")],
                [col("src")],
                JoinArgs::new(JoinType::Left),
            )
            .select(select)
        }
        None => {
            let mut select = vec![col("src").alias("person")];
            select.extend(rest());
            hits.select(select)
        }
    }
}
