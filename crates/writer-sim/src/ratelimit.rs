//! The per-key request budget: a token bucket on the simulated clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::RateLimitConfig;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: DateTime<Utc>,
}

/// One token bucket per API key; `None` config means no limit.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    config: Option<RateLimitConfig>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub(crate) fn new(config: Option<RateLimitConfig>) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key` at sim time `now`, or says how long (in
    /// sim time) until one is available.
    pub(crate) fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let Some(config) = self.config else {
            return Ok(());
        };
        let capacity = config.capacity();
        let per_sec = config.requests / config.per.duration().as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = (now - bucket.last).to_std().unwrap_or(Duration::ZERO);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * per_sec).min(capacity);
        bucket.last = bucket.last.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / per_sec;
            Err(Duration::from_secs_f64(wait.min(1e9)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn bucket_refills_on_sim_time() {
        let limiter = RateLimiter::new(Some(RateLimitConfig::per_minute(60.0, 3)));
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        for _ in 0..3 {
            limiter.check("k", t0).unwrap();
        }
        let wait = limiter.check("k", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        // Another key has its own budget.
        limiter.check("other", t0).unwrap();
        limiter.check("k", t0 + TimeDelta::seconds(1)).unwrap();
        assert!(limiter.check("k", t0 + TimeDelta::seconds(1)).is_err());
    }

    #[test]
    fn no_config_no_limit() {
        let limiter = RateLimiter::new(None);
        for _ in 0..10_000 {
            limiter.check("k", DateTime::<Utc>::UNIX_EPOCH).unwrap();
        }
    }
}
