//! The event log: what the collector appends to and the scorer consumes, with offsets.
//!
//! Two implementations of the same traits: [`kafka`] (a topic, partitions, a consumer group) and
//! [`embedded`] (a redb file under the data directory, one partition, a persisted cursor per
//! consumer group). Routing policy (which key) is decided by the caller; the log is mechanism.
//!
//! Contract:
//! - [`EventLog::append`] returns only when every message is durable (broker acknowledged with
//!   `acks=all`, or fsynced), in order per key. An `Err` means none of the batch may be
//!   acknowledged to the client; some of it may still have been written (at-least-once), which is
//!   why events carry a `messageId`.
//! - [`LogConsumer::poll`] hands out messages after the last committed position;
//!   [`LogConsumer::commit`] stores a batch's positions so a restart resumes after them.
//! - Partitions come and go ([`Ownership`]): a poll stops at a change of what this consumer owns,
//!   and [`LogConsumer::ownership`] hands the change out, in log order, before any message of a
//!   newly assigned partition and after every message of a revoked one.

pub mod embedded;
pub mod kafka;
pub mod replay;
pub mod spooled;

use std::time::Duration;

use async_trait::async_trait;

/// A message to append: the partitioning key and the payload.
#[derive(Debug, Clone)]
pub struct LogMessage {
    pub key: String,
    pub payload: Vec<u8>,
}

/// A message read from the log, with its position.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// Failures of the log, classified for retrying.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The broker or disk is unavailable or slow; retry later (HTTP 503).
    #[error("log unavailable: {0}")]
    Unavailable(String),
    /// The message can never be written (too large, invalid topic): drop it with a reason.
    #[error("log refused the message: {0}")]
    Rejected(String),
    /// The broker is unreachable and the spool has no room left; retry later (HTTP 503).
    #[error("log full: {0}")]
    Full(String),
    /// The log is shutting down.
    #[error("log is closed")]
    Closed,
}

impl LogError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, LogError::Unavailable(_) | LogError::Full(_))
    }
}

/// The producing side.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends `messages` and returns once all are durable.
    async fn append(&self, messages: Vec<LogMessage>) -> Result<(), LogError>;
    /// Whether appends can currently succeed (for `/ready`).
    async fn check(&self) -> Result<(), LogError>;
    /// Waits for everything in flight, up to `timeout` (shutdown).
    async fn flush(&self, timeout: Duration) -> Result<(), LogError>;
    /// The outage spool, for logs that have one (`/ready`, operators).
    fn spool(&self) -> Option<spooled::SpoolStatus> {
        None
    }
}

/// A change of the partitions a consumer reads.
#[derive(Debug)]
pub enum Ownership {
    /// These partitions (of `of` in the topic) are this consumer's from now on: whatever state
    /// their messages need is loaded before the first of them is applied.
    Assigned { partitions: Vec<i32>, of: i32 },
    /// These partitions are being given to another consumer: what was applied of them is written
    /// and committed, their state dropped, then [`Revocation::done`] lets the group go on.
    Revoked {
        partitions: Vec<i32>,
        done: Revocation,
    },
}

/// Lets a revocation go on; dropping it without [`Revocation::done`] lets it go on as well (the
/// next owner then replays what was not committed).
#[derive(Debug)]
pub struct Revocation(Option<std::sync::mpsc::Sender<()>>);

impl Revocation {
    pub fn new(tx: std::sync::mpsc::Sender<()>) -> Revocation {
        Revocation(Some(tx))
    }

    /// What was applied of the revoked partitions is written and committed.
    pub fn done(mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// The consuming side.
#[async_trait]
pub trait LogConsumer: Send + 'static {
    /// Up to `max` messages, waiting up to `wait` for the first one. Stops early at a change of
    /// ownership, which [`LogConsumer::ownership`] then hands out; a change nobody takes is let
    /// go on at the next poll.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivered>, LogError>;
    /// The change of ownership the last poll stopped at, if any.
    fn ownership(&mut self) -> Option<Ownership> {
        None
    }
    /// For a log whose partitions are this consumer's from the start, never changing (the
    /// embedded log: one partition): those partitions, of how many. `None`: they come as
    /// [`Ownership::Assigned`].
    fn fixed_assignment(&self) -> Option<(Vec<i32>, i32)> {
        None
    }
    /// Commits the positions of `delivered`, so a restart resumes after them.
    async fn commit(&mut self, delivered: &[Delivered]) -> Result<(), LogError>;
    /// Messages in this consumer's share of the log not read yet (`None` when it cannot tell).
    async fn lag(&mut self) -> Option<i64> {
        None
    }
    /// For a bounded reader ([`replay`]): whether it has handed out everything up to its end.
    /// A group's consumer never finishes.
    fn finished(&self) -> bool {
        false
    }
}

/// The next offset to read per partition after `delivered`: highest offset + 1.
pub fn next_positions(delivered: &[Delivered]) -> Vec<(i32, i64)> {
    let mut next: std::collections::BTreeMap<i32, i64> = std::collections::BTreeMap::new();
    for d in delivered {
        let e = next.entry(d.partition).or_insert(d.offset + 1);
        *e = (*e).max(d.offset + 1);
    }
    next.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_positions_take_the_highest_per_partition() {
        let d = |partition, offset| Delivered {
            partition,
            offset,
            key: None,
            payload: vec![],
        };
        let got = next_positions(&[d(0, 4), d(1, 9), d(0, 7), d(0, 5)]);
        assert_eq!(got, vec![(0, 8), (1, 10)]);
    }
}
