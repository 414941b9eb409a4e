//! Rate limits for sign-in and for endpoints that mint keys or tokens, per client address and
//! per account, answered with 429 and `Retry-After`. GCRA via `governor`, keyed in memory.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::settings::RateLimitSettings;

#[derive(Debug)]
pub struct RateLimits {
    login_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    login_by_account: DefaultKeyedRateLimiter<String>,
    tokens_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    tokens_by_account: DefaultKeyedRateLimiter<String>,
    downloads_by_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn per_minute<K: Hash + Eq + Clone>(n: u32) -> DefaultKeyedRateLimiter<K> {
    // Settings validation guarantees n >= 1.
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(n))
}

fn check<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::too_many_requests(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
    })
}

impl RateLimits {
    pub fn new(s: &RateLimitSettings) -> Self {
        Self {
            login_by_ip: per_minute(s.login_per_ip_per_minute),
            login_by_account: per_minute(s.login_per_account_per_minute),
            tokens_by_ip: per_minute(s.tokens_per_minute),
            tokens_by_account: per_minute(s.tokens_per_minute),
            downloads_by_ip: per_minute(s.downloads_per_ip_per_minute),
        }
    }

    /// One sign-in attempt from `ip` for `email`.
    pub fn login(&self, ip: IpAddr, email: &str) -> Result<(), ApiError> {
        check(&self.login_by_ip, &ip)?;
        check(&self.login_by_account, &email.trim().to_lowercase())
    }

    /// One request to an endpoint that mints or exchanges keys and tokens, from `ip` and, when
    /// the caller is known, on behalf of `account`.
    pub fn tokens(&self, ip: IpAddr, account: Option<&str>) -> Result<(), ApiError> {
        check(&self.tokens_by_ip, &ip)?;
        match account {
            Some(a) => check(&self.tokens_by_account, &a.to_string()),
            None => Ok(()),
        }
    }

    /// One artifact download from `ip`.
    pub fn download(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.downloads_by_ip, &ip)
    }

    /// Forgets keys whose limits have fully recovered, so memory stays bounded.
    pub fn shrink(&self) {
        self.login_by_ip.retain_recent();
        self.login_by_account.retain_recent();
        self.tokens_by_ip.retain_recent();
        self.tokens_by_account.retain_recent();
        self.downloads_by_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_account_across_addresses() {
        let limits = RateLimits::new(&RateLimitSettings {
            login_per_ip_per_minute: 100,
            login_per_account_per_minute: 2,
            tokens_per_minute: 100,
            downloads_per_ip_per_minute: 100,
        });
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        assert!(limits.login(a, "x@example.com").is_ok());
        assert!(limits.login(b, "X@example.com ").is_ok());
        let err = limits.login(a, "x@example.com").expect_err("third attempt");
        assert!(matches!(err, ApiError::TooManyRequests(_, secs) if (1..=60).contains(&secs)));
        assert!(limits.login(a, "y@example.com").is_ok(), "other accounts unaffected");
    }

    #[test]
    fn token_endpoints_limit_per_account_across_addresses() {
        let limits = RateLimits::new(&RateLimitSettings {
            login_per_ip_per_minute: 100,
            login_per_account_per_minute: 100,
            tokens_per_minute: 2,
            downloads_per_ip_per_minute: 100,
        });
        let ips: Vec<IpAddr> = (1..=3u8).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        assert!(limits.tokens(ips[0], Some("user-1")).is_ok());
        assert!(limits.tokens(ips[1], Some("user-1")).is_ok());
        assert!(limits.tokens(ips[2], Some("user-1")).is_err(), "third from a new address, same account");
        assert!(limits.tokens(ips[2], Some("user-2")).is_ok());
    }
}
