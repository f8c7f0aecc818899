//! The console's overview in SQL: events per day and kind, new people per day, hand-offs per
//! day, and the people now by score bucket, grade and stage. Days are `intDiv(ms, 86400000)`
//! (UTC day numbers, by arithmetic: no server time zone involved).

use super::sql::{Bind, Sql};

fn range(sql: &mut Sql, workspace: &str, column: &str, from: i64, to: i64) {
    sql.push(" WHERE workspace = ");
    sql.bind(Bind::Str(workspace.to_string()));
    sql.push(&format!(" AND {column} >= "));
    sql.bind(Bind::I64(from));
    sql.push(&format!(" AND {column} < "));
    sql.bind(Bind::I64(to));
}

/// `day, kind, events`.
pub fn events(workspace: &str, from: i64, to: i64) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT intDiv(timestamp_ms, 86400000) AS day, kind, count() FROM events");
    range(&mut sql, workspace, "timestamp_ms", from, to);
    sql.push(" GROUP BY day, kind ORDER BY day, kind");
    sql
}

/// `day, hand-offs` (a crossing a replay wrote twice counts once).
pub fn handoffs(workspace: &str, from: i64, to: i64) -> Sql {
    let mut sql = Sql::default();
    sql.push(
        "SELECT intDiv(qualified_at_ms, 86400000) AS day, uniqExact(profile_id, crossing) \
         FROM handoffs",
    );
    range(&mut sql, workspace, "qualified_at_ms", from, to);
    sql.push(" GROUP BY day ORDER BY day");
    sql
}

/// The current, unmerged profiles: `pid, first seen, score, grade, stage`.
fn current(sql: &mut Sql, workspace: &str) {
    sql.push(
        "SELECT profile_id AS pid, argMax(first_seen_ms, version) AS fs, \
         argMax(score, version) AS sc, argMax(grade, version) AS gr, \
         argMax(lifecycle_stage, version) AS st, argMax(merged_into, version) AS mi \
         FROM profiles WHERE workspace = ",
    );
    sql.bind(Bind::Str(workspace.to_string()));
    sql.push(" GROUP BY profile_id");
}

/// `day, people` first seen that day.
pub fn new_people(workspace: &str, from: i64, to: i64) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT intDiv(fs, 86400000) AS day, count() FROM (");
    current(&mut sql, workspace);
    sql.push(") WHERE mi = '' AND fs >= ");
    sql.bind(Bind::I64(from));
    sql.push(" AND fs < ");
    sql.bind(Bind::I64(to));
    sql.push(" GROUP BY day ORDER BY day");
    sql
}

/// `bucket, grade, stage, people` now.
pub fn people(workspace: &str) -> Sql {
    let mut sql = Sql::default();
    sql.push(
        "SELECT toInt64(if(sc < 0, -1, least(floor(sc / 10), 10))) AS bucket, gr, st, count() \
         FROM (",
    );
    current(&mut sql, workspace);
    sql.push(") WHERE mi = '' GROUP BY bucket, gr, st ORDER BY bucket, gr, st");
    sql
}

/// `campaign, promo code, events` of the events with either.
pub fn campaign_events(workspace: &str, from: i64, to: i64) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT campaign, promo_code, count() FROM events");
    range(&mut sql, workspace, "timestamp_ms", from, to);
    sql.push(" AND (campaign != '' OR promo_code != '') GROUP BY campaign, promo_code");
    sql
}
