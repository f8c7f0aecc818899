//! Duplicate `messageId`s within a window: acknowledged, not written twice.
//!
//! Ids are remembered as 64-bit hashes of (workspace, messageId) in time buckets (1/24 of the
//! window each), so memory is about 16 bytes per id and expiry drops whole buckets. An id is
//! remembered only after the log confirmed the write, so a client retrying a failed request is
//! never refused. The memory is this process's: several collectors, or a restart, each start
//! their own window (the scorer deduplicates again downstream).

use std::collections::hash_map::RandomState;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Deduper {
    window: Duration,
    bucket: Duration,
    max_ids: usize,
    hasher: RandomState,
    buckets: Mutex<VecDeque<(Instant, HashSet<u64>)>>,
}

impl Deduper {
    /// `window` zero turns deduplication off.
    pub fn new(window: Duration, max_ids: usize) -> Deduper {
        Deduper {
            window,
            bucket: (window / 24).max(Duration::from_secs(1)),
            max_ids,
            hasher: RandomState::new(),
            buckets: Mutex::new(VecDeque::new()),
        }
    }

    fn enabled(&self) -> bool {
        !self.window.is_zero() && self.max_ids > 0
    }

    fn hash(&self, workspace: &str, message_id: &str) -> u64 {
        self.hasher.hash_one((workspace, message_id))
    }

    fn expire(&self, buckets: &mut VecDeque<(Instant, HashSet<u64>)>, now: Instant) {
        while buckets
            .front()
            .is_some_and(|(start, _)| now.duration_since(*start) > self.window + self.bucket)
        {
            buckets.pop_front();
        }
        let mut total: usize = buckets.iter().map(|(_, ids)| ids.len()).sum();
        while total > self.max_ids && buckets.len() > 1 {
            total -= buckets.pop_front().map(|(_, ids)| ids.len()).unwrap_or(0);
        }
    }

    /// Whether this (workspace, messageId) was written within the window.
    pub fn seen(&self, workspace: &str, message_id: &str) -> bool {
        if !self.enabled() {
            return false;
        }
        let h = self.hash(workspace, message_id);
        let now = Instant::now();
        let Ok(buckets) = self.buckets.lock() else {
            return false;
        };
        buckets.iter().any(|(start, ids)| {
            now.duration_since(*start) <= self.window + self.bucket && ids.contains(&h)
        })
    }

    /// Remembers ids the log has confirmed.
    pub fn remember<'a>(&self, ids: impl IntoIterator<Item = (&'a str, &'a str)>) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return;
        };
        if buckets
            .back()
            .is_none_or(|(start, _)| now.duration_since(*start) >= self.bucket)
        {
            buckets.push_back((now, HashSet::new()));
        }
        let hashes: Vec<u64> = ids.into_iter().map(|(w, m)| self.hash(w, m)).collect();
        if let Some((_, current)) = buckets.back_mut() {
            current.extend(hashes);
        }
        self.expire(&mut buckets, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_workspace_and_can_be_off() {
        let d = Deduper::new(Duration::from_secs(3600), 1000);
        assert!(!d.seen("w", "m1"));
        d.remember([("w", "m1")]);
        assert!(d.seen("w", "m1"));
        assert!(!d.seen("other", "m1"), "workspaces do not share ids");
        let off = Deduper::new(Duration::ZERO, 1000);
        off.remember([("w", "m1")]);
        assert!(!off.seen("w", "m1"));
    }

    #[test]
    fn forgets_after_the_window_and_beyond_the_cap() {
        let d = Deduper::new(Duration::from_millis(0) + Duration::from_secs(0), 10);
        assert!(!d.enabled());
        let d = Deduper::new(Duration::from_secs(24), 2);
        d.remember([("w", "a")]);
        // The cap drops the oldest bucket once a newer one exists.
        {
            let mut b = d.buckets.lock().expect("lock");
            let older = Instant::now() - Duration::from_secs(2);
            b.front_mut().expect("bucket").0 = older;
        }
        d.remember([("w", "b"), ("w", "c")]);
        assert!(!d.seen("w", "a"), "over the cap, the oldest bucket went");
        assert!(d.seen("w", "b") && d.seen("w", "c"));
        // Past the window, nothing is seen.
        {
            let mut b = d.buckets.lock().expect("lock");
            for (start, _) in b.iter_mut() {
                *start = Instant::now() - Duration::from_secs(60);
            }
        }
        assert!(!d.seen("w", "b"));
    }
}
