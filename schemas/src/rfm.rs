//! RFM analysis: recency, frequency and monetary value of each customer's purchases, scored 1–5,
//! and the named segment each score pair falls in. The same definition runs in ClickHouse and in
//! polars (`platform/src/rfm/`) and in the independent reference computation
//! (`benches/rfm/reference.py`); `platform/tests/rfm.rs` checks all three agree on the public
//! CDNOW purchase dataset.
//!
//! **Customers** are the people with at least one purchase event (`purchase_event`, matched on the
//! event's kind or its name) dated within the `window_days` before `as_of` (both ends included),
//! an anonymous id's purchases counting for the person it was merged into and a replayed event
//! once. For each:
//! - `recency_days`: whole days from the last purchase to `as_of` (rounded down);
//! - `frequency`: purchases (distinct message ids);
//! - `monetary`: the sum of the purchases' `revenue_property` (a number, or numeric text; else 0).
//!   The default `revenue` is each order's value by Segment's fallbacks (`revenue`, else `total`,
//!   else `value`, else the products' prices × quantities), less refunds (`Order Refunded`), never
//!   below 0.
//!
//! **Scores.** For each measure, with the customers' values sorted ascending as `v[0..n]`, the four
//! cut points are `c_k = v[ceil(k·n/5) − 1]` for k = 1..4 (quintiles; or four explicit edges per
//! measure from `bins`). A value's bin is `1 + #{k : value > c_k}`, so equal values share a bin.
//! F and M scores are their bins; the R score is `6 − bin` (the most recent score 5).
//!
//! **Segments** ([`segment_name`]): by R and `FM = ⌊(F + M + 1) / 2⌋` (F and M averaged, halves
//! rounded up):
//!
//! | R \ FM | 1 | 2 | 3 | 4 | 5 |
//! |---|---|---|---|---|---|
//! | 5 | New Customers | Potential Loyalists | Potential Loyalists | Champions | Champions |
//! | 4 | Promising | Potential Loyalists | Potential Loyalists | Loyal Customers | Champions |
//! | 3 | About to Sleep | About to Sleep | Need Attention | Loyal Customers | Loyal Customers |
//! | 2 | Hibernating | Hibernating | At Risk | At Risk | Can't Lose Them |
//! | 1 | Lost | Lost | At Risk | Can't Lose Them | Can't Lose Them |

use serde::{Deserialize, Serialize};

/// The named segments, best first (the order reports use).
pub const SEGMENTS: [&str; 11] = [
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
];

/// The mapping table, row R = 5 first, columns FM = 1..5.
pub const GRID: [[&str; 5]; 5] = [
    [
        "New Customers",
        "Potential Loyalists",
        "Potential Loyalists",
        "Champions",
        "Champions",
    ],
    [
        "Promising",
        "Potential Loyalists",
        "Potential Loyalists",
        "Loyal Customers",
        "Champions",
    ],
    [
        "About to Sleep",
        "About to Sleep",
        "Need Attention",
        "Loyal Customers",
        "Loyal Customers",
    ],
    [
        "Hibernating",
        "Hibernating",
        "At Risk",
        "At Risk",
        "Can't Lose Them",
    ],
    [
        "Lost",
        "Lost",
        "At Risk",
        "Can't Lose Them",
        "Can't Lose Them",
    ],
];

/// The grid as 25 names in the order `(R − 1) · 5 + (FM − 1)`, for the back ends' lookups.
pub fn grid_by_index() -> Vec<String> {
    (1..=5u8)
        .flat_map(|r| (1..=5u8).map(move |fm| segment_name(r, fm).to_string()))
        .collect()
}

/// The segment of scores `r` and `fm` (each 1 to 5).
pub fn segment_name(r: u8, fm: u8) -> &'static str {
    let (r, fm) = (r.clamp(1, 5), fm.clamp(1, 5));
    GRID[usize::from(5 - r)][usize::from(fm - 1)]
}

/// `FM` of scores `f` and `m`.
pub fn fm(f: u8, m: u8) -> u8 {
    (f + m).div_ceil(2)
}

/// Four ascending edges per measure, in place of the quintile cut points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bins {
    pub recency_days: [f64; 4],
    pub frequency: [f64; 4],
    pub monetary: [f64; 4],
}

/// What an RFM analysis counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RfmSpec {
    #[serde(default = "default_window")]
    pub window_days: u32,
    /// An event kind (`purchase_completed`) or an event name (`Subscription Renewed`).
    #[serde(default = "default_event")]
    pub purchase_event: String,
    #[serde(default = "default_revenue")]
    pub revenue_property: String,
    /// Explicit bin edges; absent: quintiles of the customers' own values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<Bins>,
}

fn default_window() -> u32 {
    365
}

fn default_event() -> String {
    "purchase_completed".into()
}

fn default_revenue() -> String {
    "revenue".into()
}

impl Default for RfmSpec {
    fn default() -> Self {
        RfmSpec {
            window_days: default_window(),
            purchase_event: default_event(),
            revenue_property: default_revenue(),
            bins: None,
        }
    }
}

/// Longest window accepted (days).
pub const MAX_WINDOW_DAYS: u32 = 3650;

impl RfmSpec {
    /// Whether the kind alone identifies a purchase: `purchase_event` is the key of a kind the
    /// collector files that very name under (`purchase_completed`), so a `track` call named so
    /// is stored with that kind, and matching the kind finds what matching kind or event name
    /// finds, without reading every event's name. Otherwise (`Subscription Renewed`, or a kind
    /// the collector never gives a `track` name) a purchase is the kind or the event name.
    pub fn purchase_is_kind(&self) -> bool {
        crate::kinds::EventKind::from_name(&self.purchase_event).key() == self.purchase_event
    }

    /// Whether refunds (`Order Refunded`) lower the monetary value: with the default purchase
    /// event and revenue (the event's money, where a refund's is negative).
    pub fn counts_refunds(&self) -> bool {
        self.purchase_event == default_event() && self.revenue_property == default_revenue()
    }

    /// Checks the spec; the error names the field (relative to the spec).
    pub fn check(&self) -> Result<(), (String, String)> {
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            return Err((
                "window_days".into(),
                format!("must be 1 to {MAX_WINDOW_DAYS}"),
            ));
        }
        let name_ok = |s: &str| !s.trim().is_empty() && s.len() <= 200;
        if !name_ok(&self.purchase_event) {
            return Err(("purchase_event".into(), "must be 1 to 200 bytes".into()));
        }
        let key_ok = !self.revenue_property.is_empty()
            && self.revenue_property.len() <= 128
            && self
                .revenue_property
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '));
        if !key_ok {
            return Err((
                "revenue_property".into(),
                "must be a property name of 1 to 128 letters, digits, `_`, `-`, `.` or spaces"
                    .into(),
            ));
        }
        if let Some(b) = &self.bins {
            for (name, edges) in [
                ("recency_days", b.recency_days),
                ("frequency", b.frequency),
                ("monetary", b.monetary),
            ] {
                if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] > w[1]) {
                    return Err((
                        format!("bins.{name}"),
                        "must be four finite edges in ascending order".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Cut points used (four per measure, ascending).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Cuts {
    pub recency_days: Vec<f64>,
    pub frequency: Vec<f64>,
    pub monetary: Vec<f64>,
}

/// One named segment's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SegmentStats {
    pub segment: String,
    pub people: u64,
    /// Of all customers (0 to 1).
    pub share: f64,
    pub revenue: f64,
    pub avg_recency_days: f64,
    pub avg_frequency: f64,
    pub avg_monetary: f64,
}

/// An RFM analysis as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RfmReport {
    pub as_of_ms: i64,
    pub spec: RfmSpec,
    pub customers: u64,
    pub revenue: f64,
    pub cuts: Cuts,
    /// Every named segment, in [`SEGMENTS`] order (empty ones with zeros).
    pub segments: Vec<SegmentStats>,
    /// The 25 cells of the recency × frequency-monetary grid, R = 5 first and FM = 1 to 5 in
    /// each (empty ones with zeros): the heat map's numbers.
    pub grid: Vec<GridCell>,
}

/// One cell of the grid: the customers scored `r` and `fm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GridCell {
    pub r: u8,
    pub fm: u8,
    /// The named segment the cell belongs to.
    pub segment: String,
    pub people: u64,
    pub revenue: f64,
}

/// One cell's sums as a back end answers them: `r`, `fm`, people, revenue, Σr, Σf, Σm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellSums {
    pub r: u8,
    pub fm: u8,
    pub people: u64,
    pub revenue: f64,
    pub sum_r: f64,
    pub sum_f: f64,
    pub sum_m: f64,
}

/// One customer's measures and scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RfmPerson {
    pub profile_id: String,
    pub recency_days: f64,
    pub frequency: f64,
    pub monetary: f64,
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub segment: String,
}

/// One cell of a migration matrix: how many people were in `from` at the first date and in `to`
/// at the second (`none`: not a customer then).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub people: u64,
}

/// The name for "not in any segment" in migration matrices.
pub const NONE: &str = "none";

/// One segment's side of a migration: how many were in it at each date, stayed, came, went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Flow {
    pub segment: String,
    pub at_from: u64,
    pub at_to: u64,
    pub stayed: u64,
    /// In it at the second date, not at the first.
    pub arrivals: u64,
    /// In it at the first date, not at the second.
    pub departures: u64,
}

/// How people moved between the segments of a family from one date to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Migration {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The segments in order, [`NONE`] last.
    pub segments: Vec<String>,
    /// Every non-empty cell.
    pub moves: Vec<Move>,
    /// `matrix[i][j]`: people in `segments[i]` at the first date and `segments[j]` at the second.
    pub matrix: Vec<Vec<u64>>,
    pub flows: Vec<Flow>,
}

impl Migration {
    /// The matrix and flows of `moves` over `order` (+ [`NONE`]); cells naming other segments
    /// are ignored.
    pub fn new(from_ms: i64, to_ms: i64, order: &[String], moves: Vec<Move>) -> Migration {
        let mut segments: Vec<String> = order.to_vec();
        segments.push(NONE.to_string());
        let at = |name: &str| segments.iter().position(|s| s == name);
        let n = segments.len();
        let mut matrix = vec![vec![0u64; n]; n];
        for m in &moves {
            if let (Some(i), Some(j)) = (at(&m.from), at(&m.to)) {
                matrix[i][j] += m.people;
            }
        }
        let flows = (0..n)
            .map(|i| {
                let at_from: u64 = matrix[i].iter().sum();
                let at_to: u64 = matrix.iter().map(|row| row[i]).sum();
                let stayed = matrix[i][i];
                Flow {
                    segment: segments[i].clone(),
                    at_from,
                    at_to,
                    stayed,
                    arrivals: at_to - stayed,
                    departures: at_from - stayed,
                }
            })
            .collect();
        let moves = moves.into_iter().filter(|m| m.people > 0).collect();
        Migration {
            from_ms,
            to_ms,
            segments,
            moves,
            matrix,
            flows,
        }
    }
}

impl RfmReport {
    /// A report from per-cell sums (cells absent from `cells` get zeros); each named segment's
    /// figures are the sums of its cells.
    pub fn from_cells(as_of_ms: i64, spec: RfmSpec, cuts: Cuts, cells: &[CellSums]) -> RfmReport {
        let customers: u64 = cells.iter().map(|c| c.people).sum();
        let revenue: f64 = cells.iter().map(|c| c.revenue).sum();
        let segments = SEGMENTS
            .iter()
            .map(|name| {
                let mine = cells.iter().filter(|c| segment_name(c.r, c.fm) == *name);
                let (mut people, mut rev, mut sr, mut sf, mut sm) = (0, 0.0, 0.0, 0.0, 0.0);
                for c in mine {
                    people += c.people;
                    rev += c.revenue;
                    sr += c.sum_r;
                    sf += c.sum_f;
                    sm += c.sum_m;
                }
                let avg = |s: f64| if people == 0 { 0.0 } else { s / people as f64 };
                SegmentStats {
                    segment: (*name).to_string(),
                    people,
                    share: if customers == 0 {
                        0.0
                    } else {
                        people as f64 / customers as f64
                    },
                    revenue: rev,
                    avg_recency_days: avg(sr),
                    avg_frequency: avg(sf),
                    avg_monetary: avg(sm),
                }
            })
            .collect();
        let grid = (1..=5u8)
            .rev()
            .flat_map(|r| (1..=5u8).map(move |fm| (r, fm)))
            .map(|(r, fm)| {
                let (people, revenue) = cells
                    .iter()
                    .filter(|c| (c.r, c.fm) == (r, fm))
                    .fold((0, 0.0), |(p, v), c| (p + c.people, v + c.revenue));
                GridCell {
                    r,
                    fm,
                    segment: segment_name(r, fm).to_string(),
                    people,
                    revenue,
                }
            })
            .collect();
        RfmReport {
            as_of_ms,
            spec,
            customers,
            revenue,
            cuts,
            segments,
            grid,
        }
    }
}

/// Quintile cut points of `sorted` (ascending): `v[ceil(k·n/5) − 1]`, k = 1..4 (empty: none).
pub fn quintile_cuts(sorted: &[f64]) -> Vec<f64> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    (1..=4).map(|k| sorted[(k * n).div_ceil(5) - 1]).collect()
}

/// `1 + #{k : value > c_k}`.
pub fn bin(value: f64, cuts: &[f64]) -> u8 {
    1 + cuts.iter().filter(|c| value > **c).count() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purchase_is_matched_by_kind_only_where_its_name_files_under_that_kind() {
        let spec = |e: &str| RfmSpec {
            purchase_event: e.into(),
            ..RfmSpec::default()
        };
        assert!(RfmSpec::default().purchase_is_kind());
        assert!(spec("form_submitted").purchase_is_kind());
        // A track call named `custom` is a custom event: kind `custom` covers it.
        assert!(spec("custom").purchase_is_kind());
        // A name (not a key), a custom name, and a kind no `track` name is filed under.
        assert!(!spec("Order Completed").purchase_is_kind());
        assert!(!spec("Subscription Renewed").purchase_is_kind());
        assert!(!spec("screen_viewed").purchase_is_kind());
        // What the shortcut relies on: a `track` call named as the key is filed under it.
        for key in ["purchase_completed", "form_submitted", "email_clicked"] {
            assert_eq!(crate::kinds::EventKind::from_name(key).key(), key);
        }
    }

    #[test]
    fn every_cell_is_named_and_every_name_used() {
        let grid = grid_by_index();
        assert_eq!(grid.len(), 25);
        for name in SEGMENTS {
            assert!(grid.iter().any(|g| g == name), "{name} unused");
        }
        assert!(grid.iter().all(|g| SEGMENTS.contains(&g.as_str())));
        assert_eq!(segment_name(5, 5), "Champions");
        assert_eq!(segment_name(1, 1), "Lost");
        assert_eq!(segment_name(5, 1), "New Customers");
        assert_eq!(segment_name(1, 5), "Can't Lose Them");
        assert_eq!(grid[(3 - 1) * 5 + (3 - 1)], "Need Attention");
    }

    #[test]
    fn quintiles_split_evenly_and_keep_ties_together() {
        let v: Vec<f64> = (0..10).map(f64::from).collect();
        let cuts = quintile_cuts(&v);
        assert_eq!(cuts, [1.0, 3.0, 5.0, 7.0]);
        let bins: Vec<u8> = v.iter().map(|x| bin(*x, &cuts)).collect();
        assert_eq!(bins, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        // Most customers bought once: they share the lowest bin.
        let f = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 9.0];
        let cuts = quintile_cuts(&f);
        assert_eq!(cuts, [1.0, 1.0, 1.0, 2.0]);
        assert_eq!(bin(1.0, &cuts), 1);
        assert_eq!(bin(2.0, &cuts), 4);
        assert_eq!(bin(9.0, &cuts), 5);
        assert_eq!(fm(5, 4), 5);
        assert_eq!(fm(1, 2), 2);
        assert_eq!(fm(2, 2), 2);
    }

    #[test]
    fn migration_counts_arrivals_and_departures() {
        let order = vec!["A".to_string(), "B".to_string()];
        let mv = |f: &str, t: &str, n: u64| Move {
            from: f.into(),
            to: t.into(),
            people: n,
        };
        let m = Migration::new(
            0,
            1,
            &order,
            vec![
                mv("A", "A", 5),
                mv("A", "B", 2),
                mv("none", "A", 3),
                mv("B", "none", 1),
            ],
        );
        assert_eq!(m.segments, ["A", "B", "none"]);
        assert_eq!(m.matrix, [[5, 2, 0], [0, 0, 1], [3, 0, 0]]);
        let a = &m.flows[0];
        assert_eq!(
            (a.at_from, a.at_to, a.stayed, a.arrivals, a.departures),
            (7, 8, 5, 3, 2)
        );
        let b = &m.flows[1];
        assert_eq!((b.at_from, b.at_to, b.arrivals, b.departures), (1, 2, 2, 1));
    }

    #[test]
    fn specs_are_checked() {
        assert!(RfmSpec::default().check().is_ok());
        let bad = RfmSpec {
            window_days: 0,
            ..RfmSpec::default()
        };
        assert_eq!(bad.check().expect_err("refused").0, "window_days");
        let bad = RfmSpec {
            bins: Some(Bins {
                recency_days: [1.0, 2.0, 3.0, 4.0],
                frequency: [1.0, 3.0, 2.0, 4.0],
                monetary: [1.0, 2.0, 3.0, 4.0],
            }),
            ..RfmSpec::default()
        };
        assert_eq!(bad.check().expect_err("refused").0, "bins.frequency");
        let bad = RfmSpec {
            revenue_property: "a'b".into(),
            ..RfmSpec::default()
        };
        assert_eq!(bad.check().expect_err("refused").0, "revenue_property");
    }
}
