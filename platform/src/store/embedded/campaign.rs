//! Campaign responders over the embedded store with polars: the same steps as the ClickHouse
//! query (responders, then first hand-off, first won deal and revenue after the first response).

use leadstream_schemas::campaign::Responder;
use polars::prelude::*;

use super::attribution::person_events;
use crate::campaign::ResponderQuery;

fn in_list(column: &str, values: &[String]) -> Expr {
    if values.is_empty() {
        return lit(false);
    }
    col(column)
        .is_in(
            lit(Series::new("codes".into(), values.to_vec())).implode(false),
            false,
        )
        .fill_null(lit(false))
}

/// The responders, by person.
pub fn responders(
    events: Option<LazyFrame>,
    identities: Option<LazyFrame>,
    handoffs: Option<LazyFrame>,
    workspace: &str,
    q: &ResponderQuery,
) -> PolarsResult<Vec<Responder>> {
    let Some(events) = events else {
        return Ok(Vec::new());
    };
    let responses = person_events(
        events.clone(),
        identities.clone(),
        workspace,
        "revenue",
        col("timestamp_ms")
            .gt_eq(lit(q.from_ms))
            .and(col("timestamp_ms").lt(lit(q.to_ms)))
            .and(in_list("campaign", &q.utm_campaigns).or(in_list("promo_code", &q.promo_codes))),
    )
    .group_by([col("person")])
    .agg([
        col("message_id").count().cast(DataType::UInt64).alias("n"),
        col("ts").min().alias("f0"),
    ])
    .collect()?;
    if responses.height() == 0 {
        return Ok(Vec::new());
    }
    // The outcomes below are read only for the responders and the ids merged into them.
    let mut srcs = super::codec::Columns(&responses).text("person")?;
    if let Some(ids) = &identities {
        let merged = ids
            .clone()
            .filter(
                col("workspace")
                    .eq(lit(workspace.to_string()))
                    .and(in_list("profile_id", &srcs)),
            )
            .select([col("id")])
            .collect()?;
        let merged = super::codec::Columns(&merged).text("id")?;
        srcs.extend(merged);
    }
    let responses = responses.lazy();
    // The first outcome of a kind at or after the first response.
    let first_after = |outcomes: LazyFrame, name: &str| -> LazyFrame {
        responses
            .clone()
            .select([col("person"), col("f0")])
            .join(
                outcomes,
                [col("person")],
                [col("person")],
                JoinArgs::new(JoinType::Inner),
            )
            .filter(col("t").gt_eq(col("f0")))
            .group_by([col("person")])
            .agg([col("t").min().alias(name)])
    };
    let until = col("timestamp_ms").lt_eq(lit(q.until_ms));
    let of_kind = |kind: &str| {
        person_events(
            events.clone(),
            identities.clone(),
            workspace,
            "revenue",
            col("kind")
                .eq(lit(kind.to_string()))
                .and(until.clone())
                .and(in_list("profile_id", &srcs)),
        )
    };
    let handed = match handoffs {
        Some(h) => h
            .filter(
                col("workspace")
                    .eq(lit(workspace.to_string()))
                    .and(col("qualified_at_ms").lt_eq(lit(q.until_ms))),
            )
            .select([
                col("profile_id").alias("person"),
                col("qualified_at_ms").alias("t"),
            ]),
        None => df!("person" => Vec::<String>::new(), "t" => Vec::<i64>::new())?.lazy(),
    };
    let won = of_kind("deal_won").select([col("person"), col("ts").alias("t")]);
    let revenue = responses
        .clone()
        .select([col("person"), col("f0")])
        .join(
            of_kind("purchase_completed"),
            [col("person")],
            [col("person")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("ts").gt_eq(col("f0")))
        .group_by([col("person")])
        .agg([col("rev").sum().alias("revenue")]);
    let left = |a: LazyFrame, b: LazyFrame| {
        a.join(
            b,
            [col("person")],
            [col("person")],
            JoinArgs::new(JoinType::Left),
        )
    };
    let (qualified, won) = (
        first_after(handed, "qualified_ms"),
        first_after(won, "won_ms"),
    );
    let all = left(left(left(responses, qualified), won), revenue)
        .sort(["person"], SortMultipleOptions::default())
        .collect()?;
    let text = all
        .column("person")?
        .as_materialized_series()
        .str()?
        .clone();
    let int = |name: &str| -> PolarsResult<Vec<i64>> {
        Ok(all
            .column(name)?
            .as_materialized_series()
            .cast(&DataType::Int64)?
            .i64()?
            .iter()
            .map(Option::unwrap_or_default)
            .collect())
    };
    let (n, f0, qualified, won) = (int("n")?, int("f0")?, int("qualified_ms")?, int("won_ms")?);
    let revenue: Vec<f64> = all
        .column("revenue")?
        .as_materialized_series()
        .f64()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect();
    Ok((0..all.height())
        .map(|i| Responder {
            profile_id: text.get(i).unwrap_or_default().to_string(),
            responses: u64::try_from(n[i]).unwrap_or_default(),
            first_response_ms: f0[i],
            qualified_ms: qualified[i],
            won_ms: won[i],
            revenue: revenue[i],
        })
        .collect())
}
