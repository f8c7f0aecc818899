//! What every service shares about authentication: the API tokens issued through the query API
//! (`POST /v1/tokens`), held in memory so that checking one costs no I/O, and the limit on failed
//! authentications per client address.
//!
//! Issued tokens look like `lsk_<workspace>.<48 hex>` and are kept in the store as SHA-256 hashes
//! only (saved objects of kind [`TOKEN`]). Each process holds the hashes of every workspace's
//! live tokens in memory: the process that issues or revokes a token changes its copy at once,
//! the others re-read the store every [`REFRESH`]. A token that is not in memory is unknown,
//! whatever its shape: a miss reads nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::workspaces::{Scope, hash_token};

/// The saved-object kind of issued tokens.
pub const TOKEN: &str = "token";
/// The prefix of issued tokens.
pub const ISSUED_PREFIX: &str = "lsk_";
/// How often a process re-reads the issued tokens of every workspace.
pub const REFRESH: Duration = Duration::from_secs(10);

/// What an issued token's stored definition holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StoredToken {
    pub sha256: String,
    pub scope: Scope,
    /// The last four characters, to tell tokens apart.
    pub hint: String,
    /// When it stops working (Unix ms); none: when revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
}

/// What checking a token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    Valid { workspace: String, scope: Scope },
    Expired,
    Unknown,
}

#[derive(Debug, Clone)]
struct Entry {
    workspace: String,
    scope: Scope,
    expires_ms: Option<i64>,
}

/// The issued tokens of every workspace, by hash.
#[derive(Default)]
pub struct IssuedTokens {
    by_hash: RwLock<HashMap<String, Entry>>,
}

impl IssuedTokens {
    /// Checks `token` at `now_ms` (no I/O).
    pub fn check(&self, token: &str, now_ms: i64) -> Issued {
        if !token.starts_with(ISSUED_PREFIX) {
            return Issued::Unknown;
        }
        let map = self.by_hash.read().unwrap_or_else(|e| e.into_inner());
        match map.get(&hash_token(token)) {
            None => Issued::Unknown,
            Some(e) if e.expires_ms.is_some_and(|x| now_ms >= x) => Issued::Expired,
            Some(e) => Issued::Valid {
                workspace: e.workspace.clone(),
                scope: e.scope,
            },
        }
    }

    /// Remembers a token this process just issued.
    pub fn insert(&self, workspace: &str, token: &StoredToken) {
        self.by_hash
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                token.sha256.clone(),
                Entry {
                    workspace: workspace.to_string(),
                    scope: token.scope,
                    expires_ms: token.expires_ms,
                },
            );
    }

    /// Forgets a token this process just revoked.
    pub fn forget(&self, sha256: &str) {
        self.by_hash
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(sha256);
    }

    /// Re-reads the live tokens of `workspaces` from the store and replaces what is held.
    pub async fn refresh(
        &self,
        store: &dyn Store,
        workspaces: &[String],
    ) -> Result<usize, crate::store::StoreError> {
        let mut fresh = HashMap::new();
        for w in workspaces {
            for row in store.objects(w, TOKEN).await? {
                if let Ok(t) = serde_json::from_str::<StoredToken>(&row.definition) {
                    fresh.insert(
                        t.sha256,
                        Entry {
                            workspace: w.clone(),
                            scope: t.scope,
                            expires_ms: t.expires_ms,
                        },
                    );
                }
            }
        }
        let n = fresh.len();
        *self.by_hash.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(n)
    }

    /// Reads the tokens now, then every [`REFRESH`] until `shutdown`. A store that cannot be
    /// read keeps the last copy (logged); issued tokens then stop working only when revoked
    /// here or when the store answers again.
    pub async fn keep_fresh(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        workspaces: Vec<String>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.refresh(&*store, &workspaces).await {
                tracing::warn!(error = %e, "issued API tokens not re-read; keeping the last copy");
            }
        }
    }
}

/// Failed authentications per client address in the current minute. Past the limit, requests
/// from that address that need authentication answer 429 without being checked, until the
/// minute is over.
pub struct FailedAuth {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// Addresses tracked at most; past it, windows that ended are swept, then the oldest dropped.
const MAX_ADDRESSES: usize = 100_000;

impl FailedAuth {
    /// `per_minute = 0`: no limit.
    pub fn new(per_minute: u32) -> FailedAuth {
        FailedAuth {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `ip` may try again, when it is over the limit.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        if self.per_minute == 0 {
            return None;
        }
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (n, since) = seen.get(&ip)?;
        let elapsed = since.elapsed();
        (*n >= self.per_minute && elapsed < Duration::from_secs(60))
            .then(|| 60u64.saturating_sub(elapsed.as_secs()).max(1))
    }

    /// Counts one failed authentication from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if self.per_minute == 0 {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_ADDRESSES && !seen.contains_key(&ip) {
            seen.retain(|_, (_, since)| since.elapsed() < Duration::from_secs(60));
            if seen.len() >= MAX_ADDRESSES
                && let Some(oldest) = seen.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| *k)
            {
                seen.remove(&oldest);
            }
        }
        let entry = seen.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= Duration::from_secs(60) {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_held_unexpired_tokens_are_valid() {
        let tokens = IssuedTokens::default();
        let t = "lsk_acme.0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(tokens.check(t, 0), Issued::Unknown);
        let stored = StoredToken {
            sha256: hash_token(t),
            scope: Scope::Read,
            hint: "cdef".into(),
            expires_ms: Some(1_000),
        };
        tokens.insert("acme", &stored);
        assert_eq!(
            tokens.check(t, 999),
            Issued::Valid {
                workspace: "acme".into(),
                scope: Scope::Read
            }
        );
        assert_eq!(tokens.check(t, 1_000), Issued::Expired);
        // Not an issued token's shape, even with a held hash: unknown.
        assert_eq!(tokens.check(&t[4..], 0), Issued::Unknown);
        tokens.forget(&stored.sha256);
        assert_eq!(tokens.check(t, 0), Issued::Unknown);
    }

    #[test]
    fn failures_past_the_limit_block_the_address_only() {
        let limit = FailedAuth::new(3);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..2 {
            limit.failed(a);
        }
        assert_eq!(limit.blocked(a), None);
        limit.failed(a);
        assert!(limit.blocked(a).is_some_and(|s| (1..=60).contains(&s)));
        assert_eq!(limit.blocked(b), None);
        assert_eq!(FailedAuth::new(0).blocked(a), None);
    }
}
