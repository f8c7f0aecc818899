//! The console's overview with polars over the Parquet files (the same counts as
//! `store/clickhouse/overview.rs`; days are UTC day numbers, `ms / 86,400,000` floored).

use polars::prelude::*;

use super::codec::Columns;
use crate::store::OverviewRows;

const DAY: i64 = 86_400_000;

fn day_of(column: &str) -> Expr {
    // Floor division, also for times before 1970.
    let c = col(column);
    ((c.clone() - (c % lit(DAY) + lit(DAY)) % lit(DAY)) / lit(DAY)).alias("day")
}

fn within(column: &str, workspace: &str, from: i64, to: i64) -> Expr {
    col("workspace")
        .eq(lit(workspace.to_string()))
        .and(col(column).gt_eq(lit(from)))
        .and(col(column).lt(lit(to)))
}

fn count_rows(df: &DataFrame, name: &str) -> PolarsResult<Vec<u64>> {
    Ok(df
        .column(name)?
        .as_materialized_series()
        .cast(&DataType::UInt64)?
        .u64()?
        .into_no_null_iter()
        .collect())
}

/// The overview's rows from the scans (`None`: the table has no file yet); `current` is the
/// newest version of each of the workspace's profiles.
pub fn overview(
    events: Option<LazyFrame>,
    handoffs: Option<LazyFrame>,
    current: Option<LazyFrame>,
    workspace: &str,
    from: i64,
    to: i64,
) -> PolarsResult<OverviewRows> {
    let mut out = OverviewRows::default();
    if let Some(events) = events {
        let events = events.filter(within("timestamp_ms", workspace, from, to));
        let df = events
            .clone()
            .filter(
                col("campaign")
                    .neq(lit(""))
                    .or(col("promo_code").neq(lit(""))),
            )
            .group_by([col("campaign"), col("promo_code")])
            .agg([len().alias("n")])
            .collect()?;
        let c = Columns(&df);
        let (campaigns, codes, n) = (
            c.text("campaign")?,
            c.text("promo_code")?,
            count_rows(&df, "n")?,
        );
        out.campaign_events = (0..df.height())
            .map(|i| (campaigns[i].clone(), codes[i].clone(), n[i]))
            .collect();
        let df = events
            .group_by([day_of("timestamp_ms"), col("kind")])
            .agg([len().alias("n")])
            .sort(["day", "kind"], SortMultipleOptions::default())
            .collect()?;
        let c = Columns(&df);
        let (days, kinds, n) = (
            c.num::<Int64Type>("day")?,
            c.text("kind")?,
            count_rows(&df, "n")?,
        );
        out.events = (0..df.height())
            .map(|i| (days[i], kinds[i].clone(), n[i]))
            .collect();
    }
    if let Some(handoffs) = handoffs {
        let df = handoffs
            .filter(within("qualified_at_ms", workspace, from, to))
            .unique_stable_generic(
                Some(vec![col("profile_id"), col("crossing")]),
                UniqueKeepStrategy::First,
            )
            .group_by([day_of("qualified_at_ms")])
            .agg([len().alias("n")])
            .sort(["day"], SortMultipleOptions::default())
            .collect()?;
        let c = Columns(&df);
        let (days, n) = (c.num::<Int64Type>("day")?, count_rows(&df, "n")?);
        out.handoffs = days.into_iter().zip(n).collect();
    }
    if let Some(current) = current {
        // Collected once, for both counts below.
        let people = current
            .filter(col("merged_into").eq(lit("")))
            .collect()?
            .lazy();
        let df = people
            .clone()
            .filter(
                col("first_seen_ms")
                    .gt_eq(lit(from))
                    .and(col("first_seen_ms").lt(lit(to))),
            )
            .group_by([day_of("first_seen_ms")])
            .agg([len().alias("n")])
            .sort(["day"], SortMultipleOptions::default())
            .collect()?;
        let c = Columns(&df);
        let (days, n) = (c.num::<Int64Type>("day")?, count_rows(&df, "n")?);
        out.new_people = days.into_iter().zip(n).collect();

        let bucket = when(col("score").lt(lit(0.0)))
            .then(lit(-1i64))
            .when(col("score").gt_eq(lit(100.0)))
            .then(lit(10i64))
            // Not negative here: truncating is flooring.
            .otherwise((col("score") / lit(10.0)).cast(DataType::Int64))
            .alias("bucket");
        let df = people
            .group_by([bucket, col("grade"), col("lifecycle_stage")])
            .agg([len().alias("n")])
            .sort(
                ["bucket", "grade", "lifecycle_stage"],
                SortMultipleOptions::default(),
            )
            .collect()?;
        let c = Columns(&df);
        let (buckets, grades, stages, n) = (
            c.num::<Int64Type>("bucket")?,
            c.text("grade")?,
            c.text("lifecycle_stage")?,
            count_rows(&df, "n")?,
        );
        out.people = (0..df.height())
            .map(|i| (buckets[i], grades[i].clone(), stages[i].clone(), n[i]))
            .collect();
    }
    Ok(out)
}
