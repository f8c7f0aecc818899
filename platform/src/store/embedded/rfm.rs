//! RFM over the embedded store with polars: the per-customer measures as one lazy query over
//! `events` and `identities`, the quintile cuts from the sorted columns, the scores and segment
//! as expressions, the per-segment sums as a group-by.

use leadstream_schemas::rfm::{CellSums, Cuts, RfmSpec, grid_by_index, quintile_cuts};
use polars::prelude::*;

use crate::segment::DAY_MS;

/// The kind of refunds, which lower the monetary value (with the default purchase event).
const REFUND: &str = "order_refunded";

/// Per customer: `person, r, f, m` (Float64); `None` when there are no events at all. As in
/// ClickHouse's `base`: refunds lower `m` and count neither as purchases nor for recency.
fn base(
    events: Option<LazyFrame>,
    identities: Option<LazyFrame>,
    workspace: &str,
    spec: &RfmSpec,
    as_of: i64,
) -> PolarsResult<DataFrame> {
    let Some(events) = events else {
        return df!(
            "person" => Vec::<String>::new(),
            "r" => Vec::<f64>::new(),
            "f" => Vec::<f64>::new(),
            "m" => Vec::<f64>::new(),
        );
    };
    let mut counted = col("kind").eq(lit(spec.purchase_event.clone()));
    if !spec.purchase_is_kind() {
        counted = counted.or(col("event").eq(lit(spec.purchase_event.clone())));
    }
    if spec.counts_refunds() {
        counted = counted.or(col("kind").eq(lit(REFUND)));
    }
    let purchase = col("kind").neq(lit(REFUND));
    super::attribution::person_events(
        events,
        identities,
        workspace,
        &spec.revenue_property,
        counted
            .and(col("timestamp_ms").gt_eq(lit(as_of - i64::from(spec.window_days) * DAY_MS)))
            .and(col("timestamp_ms").lt_eq(lit(as_of))),
    )
    .group_by([col("person")])
    .agg([
        whole_div(
            lit(as_of) - col("ts").filter(purchase.clone()).max(),
            DAY_MS,
        )
        .cast(DataType::Float64)
        .alias("r"),
        col("message_id")
            .filter(purchase)
            .count()
            .cast(DataType::Float64)
            .alias("f"),
        col("rev").sum().alias("m"),
    ])
    // Refunds lower the monetary value, never below 0; a person with refunds only is no customer.
    .filter(col("f").gt(lit(0.0)))
    .with_column(
        when(col("m").lt(lit(0.0)))
            .then(lit(0.0))
            .otherwise(col("m"))
            .alias("m"),
    )
    .collect()
}

/// `⌊e / d⌋` for `e ≥ 0` without polars' rounding kernels: `(e − e mod d) / d` is exact.
fn whole_div(e: Expr, d: i64) -> Expr {
    (e.clone() - e % lit(d)) / lit(d)
}

fn sorted(df: &DataFrame, column: &str) -> PolarsResult<Vec<f64>> {
    let mut v: Vec<f64> = df
        .column(column)?
        .as_materialized_series()
        .f64()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// `1 + #{k : value > c_k}` as an expression.
fn bin(column: &str, cuts: &[f64]) -> Expr {
    cuts.iter().fold(lit(1i32), |e, c| {
        e + col(column).gt(lit(*c)).cast(DataType::Int32)
    })
}

/// Per customer, lazily: `person, r, f, m, rs, fs, ms, segment`, and the cuts used.
pub fn scored(
    events: Option<LazyFrame>,
    identities: Option<LazyFrame>,
    workspace: &str,
    spec: &RfmSpec,
    as_of: i64,
) -> PolarsResult<(LazyFrame, Cuts)> {
    let df = base(events, identities, workspace, spec, as_of)?;
    let cuts = match &spec.bins {
        Some(b) => Cuts {
            recency_days: b.recency_days.to_vec(),
            frequency: b.frequency.to_vec(),
            monetary: b.monetary.to_vec(),
        },
        None => Cuts {
            recency_days: quintile_cuts(&sorted(&df, "r")?),
            frequency: quintile_cuts(&sorted(&df, "f")?),
            monetary: quintile_cuts(&sorted(&df, "m")?),
        },
    };
    let grid = df!(
        "cell" => (0..25i32).collect::<Vec<_>>(),
        "segment" => grid_by_index(),
    )?;
    let scored = df
        .lazy()
        .with_columns([
            (lit(6i32) - bin("r", &cuts.recency_days)).alias("rs"),
            bin("f", &cuts.frequency).alias("fs"),
            bin("m", &cuts.monetary).alias("ms"),
        ])
        .with_column(
            ((col("rs") - lit(1i32)) * lit(5i32)
                + whole_div(col("fs") + col("ms") + lit(1i32), 2).cast(DataType::Int32)
                - lit(1i32))
            .alias("cell"),
        )
        .join(
            grid.lazy(),
            [col("cell")],
            [col("cell")],
            JoinArgs::new(JoinType::Left),
        )
        .select([
            col("person"),
            col("r"),
            col("f"),
            col("m"),
            col("rs"),
            col("fs"),
            col("ms"),
            col("segment"),
        ]);
    Ok((scored, cuts))
}

/// Per cell of the grid: its sums, and the cuts used.
pub fn summary(
    events: Option<LazyFrame>,
    identities: Option<LazyFrame>,
    workspace: &str,
    spec: &RfmSpec,
    as_of: i64,
) -> PolarsResult<(Vec<CellSums>, Cuts)> {
    let (scored, cuts) = scored(events, identities, workspace, spec, as_of)?;
    let df = scored
        .with_column(
            whole_div(col("fs") + col("ms") + lit(1i32), 2)
                .cast(DataType::Int32)
                .alias("fm"),
        )
        .group_by([col("rs"), col("fm")])
        .agg([
            col("person").count().cast(DataType::UInt64).alias("people"),
            col("m").sum().alias("revenue"),
            col("r").sum().alias("sr"),
            col("f").sum().alias("sf"),
            col("m").sum().alias("sm"),
        ])
        .collect()?;
    let score = |name: &str| -> PolarsResult<Int32Chunked> {
        Ok(df.column(name)?.as_materialized_series().i32()?.clone())
    };
    let (rs, fm) = (score("rs")?, score("fm")?);
    let people = df.column("people")?.as_materialized_series().u64()?.clone();
    let f = |name: &str| -> PolarsResult<Float64Chunked> {
        Ok(df.column(name)?.as_materialized_series().f64()?.clone())
    };
    let (revenue, sr, sf, sm) = (f("revenue")?, f("sr")?, f("sf")?, f("sm")?);
    let small = |v: Option<i32>| u8::try_from(v.unwrap_or_default()).unwrap_or_default();
    let cells = (0..df.height())
        .map(|i| CellSums {
            r: small(rs.get(i)),
            fm: small(fm.get(i)),
            people: people.get(i).unwrap_or_default(),
            revenue: revenue.get(i).unwrap_or_default(),
            sum_r: sr.get(i).unwrap_or_default(),
            sum_f: sf.get(i).unwrap_or_default(),
            sum_m: sm.get(i).unwrap_or_default(),
        })
        .collect();
    Ok((cells, cuts))
}

/// `(from, to, people)` between the segments at `from` and at `to` (`none`: not a customer).
pub fn migration(
    events: Option<LazyFrame>,
    identities: Option<LazyFrame>,
    workspace: &str,
    spec: &RfmSpec,
    from: i64,
    to: i64,
) -> PolarsResult<Vec<(String, String, u64)>> {
    let (a, _) = scored(events.clone(), identities.clone(), workspace, spec, from)?;
    let (b, _) = scored(events, identities, workspace, spec, to)?;
    let a = a.select([col("person"), col("segment").alias("a")]);
    let b = b.select([col("person"), col("segment").alias("b")]);
    let df = a
        .join(
            b,
            [col("person")],
            [col("person")],
            JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
        )
        .group_by([
            col("a").fill_null(lit("none")).alias("from"),
            col("b").fill_null(lit("none")).alias("to"),
        ])
        .agg([col("person").count().cast(DataType::UInt64).alias("people")])
        .sort(["from", "to"], SortMultipleOptions::default())
        .collect()?;
    let from = df.column("from")?.as_materialized_series().str()?.clone();
    let to = df.column("to")?.as_materialized_series().str()?.clone();
    let people = df.column("people")?.as_materialized_series().u64()?.clone();
    Ok((0..df.height())
        .map(|i| {
            (
                from.get(i).unwrap_or_default().to_string(),
                to.get(i).unwrap_or_default().to_string(),
                people.get(i).unwrap_or_default(),
            )
        })
        .collect())
}
