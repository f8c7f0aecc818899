//! Duplicate `messageId`s within a window: acknowledged, not written twice.
//!
//! Ids are remembered as 64-bit keys (a keyed hash of workspace and messageId) in time buckets
//! (1/24 of the window each), so memory is about 16 bytes per id and expiry drops whole buckets.
//! An id is remembered only after the log confirmed the write, so a client retrying a failed
//! request is never refused. The memory is this process's: several collectors, or a restart, each
//! start their own window (the scorer deduplicates again downstream).
//!
//! A request looks its ids up and remembers them in one lock each, not one per event.

use std::collections::hash_map::RandomState;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A set of [`Deduper::key`]s. The keys are already SipHash outputs: the set only needs to fold
/// them cheaply.
pub type Keys = HashSet<u64, foldhash::fast::FixedState>;

pub struct Deduper {
    window: Duration,
    bucket: Duration,
    max_ids: usize,
    /// SipHash with a random key per process: nobody can choose an id that collides with
    /// another's and have that one dropped as a duplicate.
    hasher: RandomState,
    buckets: Mutex<VecDeque<(Instant, Keys)>>,
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

    /// The key of (workspace, messageId).
    pub fn key(&self, workspace: &str, message_id: &str) -> u64 {
        self.hasher.hash_one((workspace, message_id))
    }

    fn expire(&self, buckets: &mut VecDeque<(Instant, Keys)>, now: Instant) {
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

    /// For each key, whether its id was written within the window.
    pub fn seen(&self, keys: &[u64]) -> Vec<bool> {
        let mut seen = vec![false; keys.len()];
        if !self.enabled() {
            return seen;
        }
        let now = Instant::now();
        let Ok(buckets) = self.buckets.lock() else {
            return seen;
        };
        let live: Vec<&Keys> = buckets
            .iter()
            .filter(|(start, _)| now.duration_since(*start) <= self.window + self.bucket)
            .map(|(_, ids)| ids)
            .collect();
        for (seen, key) in seen.iter_mut().zip(keys) {
            *seen = live.iter().any(|ids| ids.contains(key));
        }
        seen
    }

    /// Remembers the keys of ids the log has confirmed.
    pub fn remember(&self, keys: impl IntoIterator<Item = u64>) {
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
            buckets.push_back((now, Keys::default()));
        }
        if let Some((_, current)) = buckets.back_mut() {
            current.extend(keys);
        }
        self.expire(&mut buckets, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Deduper {
        fn seen_one(&self, workspace: &str, message_id: &str) -> bool {
            self.seen(&[self.key(workspace, message_id)])[0]
        }
        fn remember_ids<'a>(&self, ids: impl IntoIterator<Item = (&'a str, &'a str)>) {
            self.remember(ids.into_iter().map(|(w, m)| self.key(w, m)));
        }
    }

    #[test]
    fn remembers_per_workspace_and_can_be_off() {
        let d = Deduper::new(Duration::from_secs(3600), 1000);
        assert!(!d.seen_one("w", "m1"));
        d.remember_ids([("w", "m1")]);
        assert!(d.seen_one("w", "m1"));
        assert!(!d.seen_one("other", "m1"), "workspaces do not share ids");
        assert!(
            !d.seen_one("w", "m2") && !d.seen_one("w1", ""),
            "nor do other ids"
        );
        let keys = [d.key("w", "m2"), d.key("w", "m1"), d.key("other", "m1")];
        assert_eq!(d.seen(&keys), [false, true, false], "one lookup for many");
        assert_eq!(d.seen(&[]), Vec::<bool>::new());
        let off = Deduper::new(Duration::ZERO, 1000);
        off.remember_ids([("w", "m1")]);
        assert!(!off.seen_one("w", "m1"));
    }

    #[test]
    fn forgets_after_the_window_and_beyond_the_cap() {
        let d = Deduper::new(Duration::from_millis(0) + Duration::from_secs(0), 10);
        assert!(!d.enabled());
        let d = Deduper::new(Duration::from_secs(24), 2);
        d.remember_ids([("w", "a")]);
        // The cap drops the oldest bucket once a newer one exists.
        {
            let mut b = d.buckets.lock().expect("lock");
            let older = Instant::now() - Duration::from_secs(2);
            b.front_mut().expect("bucket").0 = older;
        }
        d.remember_ids([("w", "b"), ("w", "c")]);
        assert!(
            !d.seen_one("w", "a"),
            "over the cap, the oldest bucket went"
        );
        assert!(d.seen_one("w", "b") && d.seen_one("w", "c"));
        // Past the window, nothing is seen.
        {
            let mut b = d.buckets.lock().expect("lock");
            for (start, _) in b.iter_mut() {
                *start = Instant::now() - Duration::from_secs(60);
            }
        }
        assert!(!d.seen_one("w", "b"));
    }
}
