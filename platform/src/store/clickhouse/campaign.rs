//! Campaign responders as one ClickHouse query: responders, then (one join per level, as 18.16
//! wants) their first hand-off, first won deal and revenue after their first response.

use super::sql::{Bind, Sql, person_events};
use crate::campaign::ResponderQuery;

/// The responses: the campaign's events (by UTM campaign or promo code) in its window, each
/// attributed to its person.
fn responses(sql: &mut Sql, workspace: &str, q: &ResponderQuery) {
    person_events(sql, workspace, "revenue", |sql| {
        sql.push(" AND timestamp_ms >= ");
        sql.bind(Bind::I64(q.from_ms));
        sql.push(" AND timestamp_ms < ");
        sql.bind(Bind::I64(q.to_ms));
        // An empty array literal has no element type on 18.16: leave an empty code list out.
        sql.push(" AND (0");
        for (codes, column) in [
            (&q.utm_campaigns, "campaign"),
            (&q.promo_codes, "promo_code"),
        ] {
            if !codes.is_empty() {
                sql.push(" OR has(");
                sql.bind(Bind::Strs(codes.clone()));
                sql.push(&format!(", {column})"));
            }
        }
        sql.push(")");
    });
}

/// A responder's events of `kind` up to `until`: only the ids of responders and the ids merged
/// into them are read, not the whole workspace's `kind` events.
fn of_kind(sql: &mut Sql, workspace: &str, kind: &str, q: &ResponderQuery) {
    person_events(sql, workspace, "revenue", |sql| {
        sql.push(" AND kind = ");
        sql.bind(Bind::Str(kind.to_string()));
        sql.push(" AND timestamp_ms <= ");
        sql.bind(Bind::I64(q.until_ms));
        sql.push(" AND (profile_id IN (SELECT person FROM (");
        responses(sql, workspace, q);
        sql.push(")) OR profile_id IN (SELECT id FROM identities WHERE workspace = ");
        sql.bind(Bind::Str(workspace.to_string()));
        sql.push(" AND profile_id IN (SELECT person FROM (");
        responses(sql, workspace, q);
        sql.push("))))");
    });
}

/// `person, responses, first_ms, qualified_ms, won_ms, revenue`, by person.
pub fn responders(workspace: &str, q: &ResponderQuery) -> Sql {
    let mut sql = Sql::default();
    sql.push(
        "SELECT person, any(n2), any(f2), any(q2), any(w2), sumIf(pr, pt > 0 AND pt >= f2) \
         FROM (SELECT person, any(n1) AS n2, any(f1) AS f2, any(q1) AS q2, \
         minIf(wt, wt > 0 AND wt >= f1) AS w2 FROM (SELECT person, any(n) AS n1, any(f0) AS f1, \
         minIf(h, h > 0 AND h >= f0 AND h <= ",
    );
    sql.bind(Bind::I64(q.until_ms));
    sql.push(") AS q1 FROM (SELECT person, count() AS n, min(ts) AS f0 FROM (");
    responses(&mut sql, workspace, q);
    sql.push(
        ") GROUP BY person) AS responses ALL LEFT JOIN (SELECT profile_id AS person, qualified_at_ms AS h \
         FROM handoffs WHERE workspace = ",
    );
    sql.bind(Bind::Str(workspace.to_string()));
    sql.push(") AS handed USING person GROUP BY person) AS qualified ALL LEFT JOIN (SELECT person, ts AS wt FROM (");
    of_kind(&mut sql, workspace, "deal_won", q);
    sql.push(
        ")) AS won USING person GROUP BY person) AS outcomes ALL LEFT JOIN (SELECT person, ts AS pt, rev AS pr FROM (",
    );
    of_kind(&mut sql, workspace, "purchase_completed", q);
    sql.push(")) AS bought USING person GROUP BY person ORDER BY person");
    sql
}
