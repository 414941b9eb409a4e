//! Rate limits, answered with 429 and `Retry-After`.
//!
//! Sign-in counts *failures* only, so that a stranger guessing cannot lock a person out: a
//! failure counts against the (account, address) pair, the address, and the account — the
//! account's own ceiling is much higher than the pair's, so ten wrong guesses from somewhere
//! else leave the real owner signing in from their own address untouched. Endpoints that mint
//! keys and tokens, and downloads, count every request (GCRA via `governor`, keyed in memory).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::settings::RateLimitSettings;

/// The window failures are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// Most keys a failure counter remembers; past this the oldest window is forgotten first, so
/// that sprayed addresses or made-up accounts cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct RateLimits {
    login_by_ip: Failures<IpAddr>,
    login_by_account: Failures<String>,
    login_by_pair: Failures<(String, IpAddr)>,
    tokens_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    tokens_by_account: DefaultKeyedRateLimiter<String>,
    downloads_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    mail_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    mail_by_address: DefaultKeyedRateLimiter<String>,
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

/// Failures per key in fixed one-minute windows.
#[derive(Debug)]
struct Failures<K> {
    limit: u32,
    windows: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    fn new(limit: u32) -> Self {
        Self { limit: limit.max(1), windows: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, u32)>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(429)` while `key` has used up its failures in the current window.
    fn check(&self, key: &K, now: Instant) -> Result<(), ApiError> {
        match self.lock().get(key) {
            Some((start, n)) if *n >= self.limit && now.duration_since(*start) < WINDOW => {
                let left = WINDOW.saturating_sub(now.duration_since(*start));
                Err(ApiError::too_many_requests(left.as_secs().max(1)))
            }
            _ => Ok(()),
        }
    }

    fn record(&self, key: K, now: Instant) {
        let mut map = self.lock();
        if map.len() >= MAX_KEYS && !map.contains_key(&key) {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if map.len() >= MAX_KEYS
                && let Some(oldest) = map.iter().min_by_key(|(_, (start, _))| *start).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    fn shrink(&self, now: Instant) {
        self.lock().retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
    }
}

fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl RateLimits {
    pub fn new(s: &RateLimitSettings) -> Self {
        Self {
            login_by_ip: Failures::new(s.login_per_ip_per_minute),
            login_by_account: Failures::new(s.login_per_account_per_minute),
            login_by_pair: Failures::new(s.login_per_account_and_ip_per_minute),
            tokens_by_ip: per_minute(s.tokens_per_minute),
            tokens_by_account: per_minute(s.tokens_per_minute),
            downloads_by_ip: per_minute(s.downloads_per_ip_per_minute),
            mail_by_ip: per_minute(s.mail_links_per_minute.saturating_mul(4)),
            mail_by_address: per_minute(s.mail_links_per_minute),
        }
    }

    /// A request that mails a link to `address` (counted whether or not an account has it, so
    /// the answer says nothing about accounts).
    pub fn mail_link(&self, ip: IpAddr, address: &str) -> Result<(), ApiError> {
        check(&self.mail_by_ip, &ip)?;
        check(&self.mail_by_address, &account_key(address))
    }

    /// Before checking a password of `email` from `ip`: refused while the pair, the address or
    /// the account has used up its failures.
    pub fn login(&self, ip: IpAddr, email: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let account = account_key(email);
        self.login_by_pair.check(&(account.clone(), ip), now)?;
        self.login_by_ip.check(&ip, now)?;
        self.login_by_account.check(&account, now)
    }

    /// A wrong password for `email` from `ip`.
    pub fn login_failed(&self, ip: IpAddr, email: &str) {
        let now = Instant::now();
        let account = account_key(email);
        self.login_by_pair.record((account.clone(), ip), now);
        self.login_by_ip.record(ip, now);
        self.login_by_account.record(account, now);
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
        let now = Instant::now();
        self.login_by_ip.shrink(now);
        self.login_by_account.shrink(now);
        self.login_by_pair.shrink(now);
        self.tokens_by_ip.retain_recent();
        self.tokens_by_account.retain_recent();
        self.downloads_by_ip.retain_recent();
        self.mail_by_ip.retain_recent();
        self.mail_by_address.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: u32, per_account: u32, per_pair: u32, tokens: u32) -> RateLimits {
        RateLimits::new(&RateLimitSettings {
            login_per_ip_per_minute: per_ip,
            login_per_account_per_minute: per_account,
            login_per_account_and_ip_per_minute: per_pair,
            tokens_per_minute: tokens,
            downloads_per_ip_per_minute: 100,
            mail_links_per_minute: 3,
        })
    }

    #[test]
    fn only_failures_count_and_a_stranger_cannot_lock_the_owner_out() {
        let l = limits(100, 50, 3, 100);
        let owner: IpAddr = "10.0.0.1".parse().expect("ip");
        let stranger: IpAddr = "10.9.9.9".parse().expect("ip");
        for _ in 0..10 {
            assert!(l.login(owner, "admin@example.com").is_ok(), "successes never count");
        }
        for _ in 0..3 {
            assert!(l.login(stranger, "Admin@example.com ").is_ok());
            l.login_failed(stranger, "Admin@example.com ");
        }
        let err = l.login(stranger, "admin@example.com").expect_err("the stranger is out of guesses");
        assert!(matches!(err, ApiError::TooManyRequests(_, secs) if (1..=60).contains(&secs)));
        assert!(l.login(owner, "admin@example.com").is_ok(), "the owner's own address is unaffected");
        assert!(l.login(stranger, "other@example.com").is_ok(), "other accounts are unaffected");
    }

    #[test]
    fn the_account_and_the_address_have_their_own_ceilings() {
        let l = limits(4, 6, 100, 100);
        let ips: Vec<IpAddr> = (1..=8u8).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        for ip in &ips[..6] {
            l.login_failed(*ip, "victim@example.com");
        }
        assert!(l.login(ips[7], "victim@example.com").is_err(), "spread over addresses, the account ceiling holds");
        for n in 0..4 {
            l.login_failed(ips[7], &format!("user{n}@example.com"));
        }
        assert!(l.login(ips[7], "fresh@example.com").is_err(), "spraying accounts from one address is limited");
    }

    #[test]
    fn failure_counters_stay_bounded() {
        let f: Failures<u32> = Failures::new(1);
        let now = Instant::now();
        for k in 0..(MAX_KEYS as u32 + 10) {
            f.record(k, now);
        }
        assert!(f.lock().len() <= MAX_KEYS);
    }

    #[test]
    fn token_endpoints_limit_per_account_across_addresses() {
        let l = limits(100, 100, 100, 2);
        let ips: Vec<IpAddr> = (1..=3u8).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        assert!(l.tokens(ips[0], Some("user-1")).is_ok());
        assert!(l.tokens(ips[1], Some("user-1")).is_ok());
        assert!(l.tokens(ips[2], Some("user-1")).is_err(), "third from a new address, same account");
        assert!(l.tokens(ips[2], Some("user-2")).is_ok());
    }
}
