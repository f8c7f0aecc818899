//! `leadstream import prospects FILE.csv`: people from a CSV (a trade-show scan, a purchased
//! list) become profiles. Each row is an `identify` call (the id column as `userId`, every other
//! non-empty column a trait) posted to a running collector's Segment batch endpoint with a write
//! key, so it goes through the same intake as any client (validation, enrichment, dedup, the
//! durable log, refusals kept) in both modes. The list import of the query API only matches
//! people who exist already; this creates them.
//!
//! Each row's `messageId` is derived from the workspace, the id and the row's content, so an
//! interrupted import (Ctrl-C stops after the batch in flight) is re-run from the start without
//! counting anyone twice: the collector drops ids it wrote in the last day, the scorer the last
//! 64 of each person.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub rows: usize,
    pub accepted: usize,
    /// `(row number in the file, counting the header as 1; the reason)`.
    pub refused: Vec<(usize, String)>,
    /// Rows without a value in the id column: not sent.
    pub skipped: Vec<usize>,
    pub interrupted: bool,
}

pub struct Options<'a> {
    pub collector: &'a str,
    pub write_key: &'a str,
    pub id_column: &'a str,
    /// Added to every person as the trait `lead_source` when set (`trade-show-berlin-2026`).
    pub source: Option<&'a str>,
    pub batch: usize,
}

/// One row as an identify call.
fn row_event(
    headers: &[String],
    record: &csv::StringRecord,
    id_at: usize,
    source: Option<&str>,
) -> Option<Value> {
    let id = record.get(id_at)?.trim();
    if id.is_empty() {
        return None;
    }
    let mut traits = Map::new();
    for (i, header) in headers.iter().enumerate() {
        if i == id_at {
            continue;
        }
        let value = record.get(i).unwrap_or("").trim();
        if !value.is_empty() && !header.is_empty() {
            traits.insert(header.clone(), Value::String(value.to_string()));
        }
    }
    if let Some(source) = source {
        traits.insert("lead_source".into(), Value::String(source.to_string()));
    }
    // The id column is often the email: keep it as the trait too.
    if headers[id_at].eq_ignore_ascii_case("email") {
        traits.insert("email".into(), Value::String(id.to_string()));
    }
    let mut digest = Sha256::new();
    digest.update(id.as_bytes());
    for field in record.iter() {
        digest.update([0u8]);
        digest.update(field.as_bytes());
    }
    let message_id = format!("import-{}", &hex::encode(digest.finalize())[..32]);
    Some(json!({
        "type": "identify",
        "userId": id,
        "traits": traits,
        "messageId": message_id,
        "context": {"library": {"name": "leadstream-import", "version": env!("CARGO_PKG_VERSION")}},
    }))
}

/// Sends `file`'s rows; `stop` set (Ctrl-C) ends it after the batch in flight.
pub async fn prospects(
    file: &Path,
    options: &Options<'_>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Report> {
    let mut text = String::new();
    std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        .read_to_string(&mut text)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let id_at = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case(options.id_column))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no `{}` column (columns: {}); choose one with --id-column",
                file.display(),
                options.id_column,
                headers.join(", ")
            )
        })?;
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let mut report = Report {
        rows: records.len(),
        ..Report::default()
    };
    let bar = indicatif::ProgressBar::new(records.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} rows ({per_sec}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let client = leadstream_platform::webhook::client();
    let url = format!("{}/v1/batch", options.collector.trim_end_matches('/'));
    let mut rows = records.iter().enumerate().peekable();
    while rows.peek().is_some() {
        if stop.load(Ordering::Relaxed) {
            report.interrupted = true;
            break;
        }
        // (row number in the file, event)
        let mut chunk: Vec<(usize, Value)> = Vec::new();
        let mut consumed = 0u64;
        for (i, record) in rows.by_ref() {
            consumed += 1;
            let line = i + 2;
            match row_event(&headers, record, id_at, options.source) {
                Some(event) => chunk.push((line, event)),
                None => report.skipped.push(line),
            }
            if chunk.len() == options.batch {
                break;
            }
        }
        if chunk.is_empty() {
            bar.inc(consumed);
            continue;
        }
        let body = json!({"batch": chunk.iter().map(|(_, e)| e).collect::<Vec<_>>()});
        let answer = client
            .post(&url)
            .basic_auth(options.write_key, Some(""))
            .json(&body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        let status = answer.status();
        let reply: Value = answer.json().await.unwrap_or(Value::Null);
        if status.is_server_error() || status.as_u16() == 401 || status.as_u16() == 429 {
            anyhow::bail!(
                "{url} answered {status}: {}; {} rows were accepted before (re-running the import \
                 sends them again without counting them twice)",
                reply["message"].as_str().unwrap_or(""),
                report.accepted
            );
        }
        report.accepted += reply["accepted"].as_u64().unwrap_or(0) as usize;
        for r in reply["rejected"].as_array().into_iter().flatten() {
            let index = r["index"].as_u64().unwrap_or(0) as usize;
            let line = chunk.get(index).map_or(0, |(line, _)| *line);
            report.refused.push((
                line,
                format!(
                    "{}: {}",
                    r["field"].as_str().unwrap_or(""),
                    r["message"].as_str().unwrap_or("")
                ),
            ));
        }
        bar.inc(consumed);
    }
    bar.finish_and_clear();
    Ok(report)
}
