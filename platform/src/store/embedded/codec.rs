//! Rows ⇄ polars frames for every stored table, generic over the tables' descriptions
//! ([`Table`], generated in `store/rows.rs` from each row's fields): one codec, no per-table code.
//!
//! A column a file does not have (written before the column existed) reads as the type's default,
//! so a data directory survives upgrades.

use polars::prelude::*;

use crate::store::{
    Column as Col, ColumnType, DeliveryRow, EventRow, HandoffRow, IdentityRow, ObjectRow,
    OwnedValues, ProfileRow, ScoreChangeRow, SetMemberRow, StoreError, Table, Values,
};

/// Every table the embedded store keeps, by name.
pub const TABLES: &[&str] = &[
    EventRow::TABLE,
    ProfileRow::TABLE,
    ScoreChangeRow::TABLE,
    DeliveryRow::TABLE,
    HandoffRow::TABLE,
    IdentityRow::TABLE,
    ObjectRow::TABLE,
    SetMemberRow::TABLE,
];

/// The order rows are written in within a file, as the ClickHouse tables' `ORDER BY`: a person's
/// rows sit together, so the files' row-group statistics let a scan for a few people skip the rest
/// (a person's page reads a few row groups of each file, not every event).
pub fn order_by(table: &str) -> &'static [&'static str] {
    match table {
        "events" => &["workspace", "profile_id", "timestamp_ms"],
        "profiles" | "handoffs" => &["workspace", "profile_id"],
        "score_changes" => &["workspace", "profile_id", "at_ms"],
        "identities" | "webhook_deliveries" => &["workspace", "id"],
        "objects" => &["workspace", "kind", "id"],
        "set_members" => &["workspace", "set_id", "member_id"],
        _ => &[],
    }
}

/// Rows per row group in a written file (about: polars splits a frame into `height / ROW_GROUP`
/// groups): small enough that a lookup of a few people skips most
/// of a large file, large enough that a full scan is not slowed by per-group overhead.
pub const ROW_GROUP: usize = 32_768;

/// The frame of `rows`, one column per field, in the table's key order ([`order_by`]; rows
/// with equal keys keep their order). Sorting here, on the borrowed values, costs a fraction of
/// polars' sort of the built frame, which gathers every column again (a tenth of the scorer's
/// CPU under load, `perf`).
pub fn frame<T: Table>(rows: &[T]) -> PolarsResult<DataFrame> {
    let mut values = T::columns(rows);
    if let Some(order) = key_order::<T>(&values, rows.len()) {
        for v in &mut values {
            v.permute(&order);
        }
    }
    let columns = values
        .into_iter()
        .zip(T::COLUMNS)
        .map(|(values, c)| column(c.name, values))
        .collect();
    DataFrame::new_infer_height(columns)
}

/// The row order that sorts `values` (`len` rows of `T`) by the table's key; `None` when they
/// already are.
fn key_order<T: Table>(values: &[Values<'_>], len: usize) -> Option<Vec<usize>> {
    let key: Vec<&Values<'_>> = order_by(T::TABLE)
        .iter()
        .filter_map(|k| T::COLUMNS.iter().position(|c| c.name == *k))
        .map(|i| &values[i])
        .collect();
    let compare = |a: usize, b: usize| {
        key.iter()
            .map(|v| v.cmp_at(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    if key.is_empty() || (1..len).all(|i| compare(i - 1, i).is_le()) {
        return None;
    }
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| compare(a, b));
    Some(order)
}

fn column(name: &str, values: Values<'_>) -> Column {
    let name = PlSmallStr::from(name);
    match values {
        Values::Text(v) => Column::new(name, v),
        Values::Int64(v) => Column::new(name, v),
        Values::UInt64(v) => Column::new(name, v),
        Values::UInt32(v) => Column::new(name, v),
        Values::Flag(v) => Column::new(name, v.into_iter().map(u32::from).collect::<Vec<u32>>()),
        Values::Float64(v) => Column::new(name, v),
    }
}

/// The rows of a frame with `T`'s columns (missing ones read as defaults).
pub fn rows<T: Table>(df: &DataFrame) -> PolarsResult<Vec<T>> {
    let columns = T::COLUMNS
        .iter()
        .map(|c| read(df, c))
        .collect::<PolarsResult<Vec<_>>>()?;
    T::from_columns(columns, df.height())
        .ok_or_else(|| polars_err!(ComputeError: "table {}: columns do not match", T::TABLE))
}

fn read(df: &DataFrame, c: &Col) -> PolarsResult<OwnedValues> {
    let height = df.height();
    let Ok(found) = df.column(c.name) else {
        return Ok(match c.ty {
            ColumnType::Text => OwnedValues::Text(vec![String::new(); height]),
            ColumnType::Int64 => OwnedValues::Int64(vec![0; height]),
            ColumnType::UInt64 => OwnedValues::UInt64(vec![0; height]),
            ColumnType::UInt32 => OwnedValues::UInt32(vec![0; height]),
            ColumnType::Flag => OwnedValues::Flag(vec![0; height]),
            ColumnType::Float64 => OwnedValues::Float64(vec![0.0; height]),
        });
    };
    let s = found.as_materialized_series();
    Ok(match c.ty {
        ColumnType::Text => OwnedValues::Text(text(s)?),
        ColumnType::Int64 => OwnedValues::Int64(num::<Int64Type>(s)?),
        ColumnType::UInt64 => OwnedValues::UInt64(num::<UInt64Type>(s)?),
        ColumnType::UInt32 => OwnedValues::UInt32(num::<UInt32Type>(s)?),
        ColumnType::Flag => OwnedValues::Flag(
            num::<UInt32Type>(s)?
                .into_iter()
                .map(|v| u8::from(v > 0))
                .collect(),
        ),
        ColumnType::Float64 => OwnedValues::Float64(num::<Float64Type>(s)?),
    })
}

fn text(s: &Series) -> PolarsResult<Vec<String>> {
    Ok(s.str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

fn num<T: PolarsNumericType>(s: &Series) -> PolarsResult<Vec<T::Native>>
where
    T::Native: Default,
{
    let s = s.cast(&T::get_static_dtype())?;
    Ok(s.unpack::<T>()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect())
}

/// The schema of `table` (its current columns), for scanning files written at any version.
pub fn schema(table: &str) -> Result<Schema, StoreError> {
    fn of<T: Table>() -> PolarsResult<Schema> {
        Ok(frame::<T>(&[])?.schema().as_ref().clone())
    }
    let schema = match table {
        EventRow::TABLE => of::<EventRow>(),
        ProfileRow::TABLE => of::<ProfileRow>(),
        ScoreChangeRow::TABLE => of::<ScoreChangeRow>(),
        DeliveryRow::TABLE => of::<DeliveryRow>(),
        HandoffRow::TABLE => of::<HandoffRow>(),
        IdentityRow::TABLE => of::<IdentityRow>(),
        ObjectRow::TABLE => of::<ObjectRow>(),
        SetMemberRow::TABLE => of::<SetMemberRow>(),
        other => return Err(StoreError::Invalid(format!("no table {other}"))),
    };
    schema.map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Typed column access for the query answers that are not a table's rows (aggregates); a column
/// the frame does not have reads as defaults.
pub(super) struct Columns<'a>(pub(super) &'a DataFrame);

impl Columns<'_> {
    pub(super) fn text(&self, name: &str) -> PolarsResult<Vec<String>> {
        let Ok(c) = self.0.column(name) else {
            return Ok(vec![String::new(); self.0.height()]);
        };
        text(c.as_materialized_series())
    }

    pub(super) fn num<T: PolarsNumericType>(&self, name: &str) -> PolarsResult<Vec<T::Native>>
    where
        T::Native: Default,
    {
        let Ok(c) = self.0.column(name) else {
            return Ok(vec![T::Native::default(); self.0.height()]);
        };
        num::<T>(c.as_materialized_series())
    }
}
