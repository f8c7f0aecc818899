//! Per-write-key rate limits (GCRA, the `governor` crate). Keys are checked only after they are
//! known to belong to a workspace, so the limiter's memory is bounded by the number of keys.
//!
//! The configured limit is the fleet's: with `ingest.instances` collectors behind a load
//! balancer, each enforces its share (limit / instances, rounded up), so the fleet admits about
//! the configured rate when the balancer spreads a key's requests evenly (round robin, least
//! connections). A balancer that pins one key to one instance gives that key only one share.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use leadstream_platform::config::IngestConfig;

pub struct RateLimits {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

impl RateLimits {
    pub fn new(config: &IngestConfig) -> RateLimits {
        let share = |n: u32| n.div_ceil(config.instances.max(1));
        let limiter = NonZeroU32::new(share(config.rate_limit_per_second)).map(|per_second| {
            let burst = NonZeroU32::new(share(config.rate_limit_burst)).unwrap_or(per_second);
            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        RateLimits { limiter }
    }

    /// `Err(wait)` when `write_key` is over its limit.
    pub fn check(&self, write_key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&write_key.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_key_on_its_own() {
        let limits = RateLimits::new(&IngestConfig {
            rate_limit_per_second: 1,
            rate_limit_burst: 2,
            ..IngestConfig::default()
        });
        assert!(limits.check("a").is_ok());
        assert!(limits.check("a").is_ok());
        let wait = limits.check("a").expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limits.check("b").is_ok(), "another key has its own budget");
        assert!(RateLimits::new(&IngestConfig::default()).check("a").is_ok());
    }
}
