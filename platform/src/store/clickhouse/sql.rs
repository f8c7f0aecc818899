//! The SQL builder every ClickHouse query of this folder uses: text with `?` placeholders and
//! the values bound to them ([`Sql`], [`Bind`]; user values never reach the text), and the one
//! reading of events that segments, RFM and campaigns share ([`person_events`]: merged ids
//! attributed to their person, each message once).

use crate::segment::DEFAULT_REVENUE_KEY;

/// A value bound to the next `?`.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Str(String),
    F64(f64),
    I64(i64),
    U64(u64),
    Strs(Vec<String>),
}

/// SQL text with `?` placeholders, and the values for them in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    /// Appends another fragment with its binds.
    pub fn append(&mut self, other: Sql) {
        self.text.push_str(&other.text);
        self.binds.extend(other.binds);
    }

    pub fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    pub fn bind(&mut self, b: Bind) {
        self.text.push('?');
        self.binds.push(b);
    }

    /// Binds everything to a `clickhouse` query.
    pub fn query(&self, client: &clickhouse::Client) -> clickhouse::query::Query {
        let mut q = client.query(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Str(s) => q.bind(s.as_str()),
                Bind::F64(v) => q.bind(*v),
                Bind::I64(v) => q.bind(*v),
                Bind::U64(v) => q.bind(*v),
                Bind::Strs(v) => q.bind(v.as_slice()),
            };
        }
        q
    }
}

/// `person, message_id, ts, rev, kind` of a workspace's events passing `filter` (which adds its
/// own `AND …` text and binds): merged ids attributed to their person, each message once. `rev` is
/// the event's money (the `revenue` column: an order's value by Segment's fallbacks, a refund's
/// negative) when `revenue_key` is [`DEFAULT_REVENUE_KEY`], else the property `revenue_key` as a
/// number (0 when it is none). RFM and campaigns read events so.
pub fn person_events(
    sql: &mut Sql,
    workspace: &str,
    revenue_key: &str,
    filter: impl FnOnce(&mut Sql),
) {
    sql.push(
        "SELECT person, message_id, any(ts) AS ts, any(rev) AS rev, any(k) AS kind FROM \
         (SELECT if(ip = '', src, ip) AS person, message_id, ts, rev, k FROM \
         (SELECT profile_id AS src, message_id, timestamp_ms AS ts, kind AS k, ",
    );
    if revenue_key == DEFAULT_REVENUE_KEY {
        sql.push("revenue");
    } else {
        sql.push("toFloat64OrZero(");
        json_text(sql, "properties", revenue_key);
        sql.push(")");
    }
    sql.push(" AS rev FROM events WHERE workspace = ");
    sql.bind(Bind::Str(workspace.to_string()));
    filter(sql);
    sql.push(
        ") AS e ANY LEFT JOIN (SELECT id AS src, profile_id AS ip FROM identities WHERE workspace = ",
    );
    sql.bind(Bind::Str(workspace.to_string()));
    sql.push(") AS i USING src) GROUP BY person, message_id");
}

/// The text of the JSON object `column`'s top-level `key`: a string's value, else the raw JSON.
pub fn json_text(sql: &mut Sql, column: &str, key: &str) {
    let raw = |sql: &mut Sql| {
        sql.push(&format!("visitParamExtractRaw({column}, "));
        sql.bind(Bind::Str(key.to_string()));
        sql.push(")");
    };
    sql.push("if(substring(");
    raw(sql);
    sql.push(&format!(
        ", 1, 1) = '\"', visitParamExtractString({column}, "
    ));
    sql.bind(Bind::Str(key.to_string()));
    sql.push("), ");
    raw(sql);
    sql.push(")");
}
