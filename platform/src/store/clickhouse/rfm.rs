//! RFM as ClickHouse SQL. [`scored`] is the per-customer query (measures, scores, segment) the
//! other three build on; it reads the events once, for the customers and the quintiles (sorted
//! arrays of the measures) of their measures.

use leadstream_schemas::rfm::{RfmSpec, grid_by_index};

use super::sql::{Bind, Sql, person_events};
use crate::segment::DAY_MS;

/// Per customer: `person, r, f, m` (all Float64), purchases in the spec's window up to `as_of`.
/// With the default purchase event and revenue, refunds in the window lower `m` (never below 0)
/// and count neither as a purchase nor for recency. `m` is rounded to 6 decimals: the sum is
/// computed twice (customers and cut points) in whatever order the threads add, and the last
/// bits of the two must agree or a customer on a cut point scores on either side of it.
fn base(sql: &mut Sql, workspace: &str, spec: &RfmSpec, as_of: i64) {
    let refunds = spec.counts_refunds();
    sql.push("SELECT person, toFloat64(intDiv(");
    sql.bind(Bind::I64(as_of));
    sql.push(
        " - maxIf(ts, kind != 'order_refunded'), 86400000)) AS r, \
         toFloat64(countIf(kind != 'order_refunded')) AS f, round(greatest(sum(rev), 0), 6) AS m FROM (",
    );
    person_events(sql, workspace, &spec.revenue_property, |sql| {
        sql.push(" AND (kind = ");
        sql.bind(Bind::Str(spec.purchase_event.clone()));
        if !spec.purchase_is_kind() {
            sql.push(" OR event = ");
            sql.bind(Bind::Str(spec.purchase_event.clone()));
        }
        if refunds {
            sql.push(" OR kind = 'order_refunded'");
        }
        sql.push(") AND timestamp_ms >= ");
        sql.bind(Bind::I64(as_of - i64::from(spec.window_days) * DAY_MS));
        sql.push(" AND timestamp_ms <= ");
        sql.bind(Bind::I64(as_of));
    });
    sql.push(") GROUP BY person HAVING f > 0");
}

/// The cut points of measure `i` (1 = r, 2 = f, 3 = m): from the sorted array `sorted`, or the
/// spec's explicit edges.
fn cuts(sql: &mut Sql, spec: &RfmSpec, i: usize, sorted: &str) {
    match &spec.bins {
        Some(b) => {
            let edges = [b.recency_days, b.frequency, b.monetary][i - 1];
            sql.push("[");
            for (k, e) in edges.iter().enumerate() {
                if k > 0 {
                    sql.push(", ");
                }
                sql.push("toFloat64(");
                sql.bind(Bind::F64(*e));
                sql.push(")");
            }
            sql.push("]");
        }
        // Spelled out: 18.16 cannot see a joined column inside a lambda.
        None => {
            let at = |k: u32| format!("{sorted}[intDiv({k} * length({sorted}) + 4, 5)]");
            sql.push(&format!("[{}, {}, {}, {}]", at(1), at(2), at(3), at(4)));
        }
    }
}

/// Per customer: `person, r, f, m, cr, cf, cm` (cut points), `rs, fs, ms` (scores), `segment`.
pub fn scored(sql: &mut Sql, workspace: &str, spec: &RfmSpec, as_of: i64) {
    // No lambdas: 18.16 cannot see columns inside one on the right side of a join.
    let above = |v: &str, c: &str| {
        (1..=4)
            .map(|k| format!("({v} > {c}[{k}])"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    sql.push(&format!(
        "SELECT person, r, f, m, cr, cf, cm, toUInt8(5 - ({})) AS rs, \
         toUInt8(1 + {}) AS fs, toUInt8(1 + {}) AS ms, ",
        above("r", "cr"),
        above("f", "cf"),
        above("m", "cm")
    ));
    sql.bind(Bind::Strs(grid_by_index()));
    sql.push("[(rs - 1) * 5 + intDiv(fs + ms + 1, 2)] AS segment FROM (SELECT person, r, f, m, ");
    if spec.bins.is_some() {
        cut_columns(sql, spec);
        sql.push(" FROM (");
        base(sql, workspace, spec, as_of);
        sql.push("))");
        return;
    }
    // One pass over the events: the customers are gathered into one row with the sorted
    // measures, the cut points computed there (before the sorted arrays would be copied to every
    // customer), and the customers unfolded again with them. 18.16 cannot reuse a subquery, so a
    // join of the customers to their cut points would compute them twice.
    sql.push(
        "cr, cf, cm FROM (SELECT tupleElement(c, 1) AS person, tupleElement(c, 2) AS r, \
         tupleElement(c, 3) AS f, tupleElement(c, 4) AS m, cr, cf, cm FROM (SELECT customers, ",
    );
    cut_columns(sql, spec);
    sql.push(
        " FROM (SELECT groupArray(tuple(person, r, f, m)) AS customers, \
         arraySort(groupArray(r)) AS sr, arraySort(groupArray(f)) AS sf, \
         arraySort(groupArray(m)) AS sm FROM (",
    );
    base(sql, workspace, spec, as_of);
    sql.push("))) ARRAY JOIN customers AS c))");
}

fn cut_columns(sql: &mut Sql, spec: &RfmSpec) {
    cuts(sql, spec, 1, "sr");
    sql.push(" AS cr, ");
    cuts(sql, spec, 2, "sf");
    sql.push(" AS cf, ");
    cuts(sql, spec, 3, "sm");
    sql.push(" AS cm");
}

/// Per cell of the grid: `rs, fm, people, revenue, Σr, Σf, Σm, cr, cf, cm`.
pub fn summary(workspace: &str, spec: &RfmSpec, as_of: i64) -> Sql {
    let mut sql = Sql::default();
    sql.push(
        "SELECT rs, toUInt8(intDiv(fs + ms + 1, 2)) AS fmc, count() AS people, \
         sum(m) AS revenue, sum(r), sum(f), sum(m), any(cr), any(cf), any(cm) FROM (",
    );
    scored(&mut sql, workspace, spec, as_of);
    sql.push(") GROUP BY rs, fmc");
    sql
}

/// Every customer: `person, r, f, m, rs, fs, ms, segment`, by person.
pub fn people(workspace: &str, spec: &RfmSpec, as_of: i64) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT person, r, f, m, rs, fs, ms, segment FROM (");
    scored(&mut sql, workspace, spec, as_of);
    sql.push(") ORDER BY person");
    sql
}

/// How many people moved from each segment at `from` to each at `to` (`none`: not a customer).
pub fn migration(workspace: &str, spec: &RfmSpec, from: i64, to: i64) -> Sql {
    let mut sql = Sql::default();
    sql.push(
        "SELECT if(a = '', 'none', a) AS from_segment, if(b = '', 'none', b) AS to_segment, \
         count() AS people FROM (SELECT person, segment AS a FROM (",
    );
    scored(&mut sql, workspace, spec, from);
    sql.push(")) AS at_from ALL FULL OUTER JOIN (SELECT person, segment AS b FROM (");
    scored(&mut sql, workspace, spec, to);
    sql.push(")) AS at_to USING person GROUP BY from_segment, to_segment ORDER BY from_segment, to_segment");
    sql
}
