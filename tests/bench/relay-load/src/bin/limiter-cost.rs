//! The relay's rate limiter: cost of one check as the number of tracked keys grows from
//! 1,000 to 1,000,000 (issue 18: the old sliding log scanned every key under one mutex once
//! it tracked more than 10,000). Each size: fill the limiter with that many distinct client
//! keys (IPv6 /64s), then time checks of keys picked at random among them, as a busy relay
//! sees them; each check includes making the key's text from the address (~100 ns).
//! Prints a Markdown table; `bash tests/bench/relay-load.sh` runs it.

use std::hint::black_box;
use std::time::Instant;

use latch_relay::limits::{address_key, RateLimiter};

const CHECKS: u64 = 1_000_000;

fn main() {
    println!("| tracked keys | ns per check (p50 of 5 runs) | ns per lookup in a bare HashMap of as many keys | tracked after |");
    println!("|---:|---:|---:|---:|");
    // LATCH_BENCH_LIMITER_KEYS caps the sizes (npm test's smoke of an unoptimised build).
    let most: u64 = std::env::var("LATCH_BENCH_LIMITER_KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    for keys in [1_000u64, 10_000, 100_000, 1_000_000].into_iter().filter(|&k| k <= most) {
        // A generous limit, as describe's: checks are admitted, so each one updates state.
        let limiter = RateLimiter::per_minute(1_000_000);
        for i in 0..keys {
            limiter.check(&address_key(ipv6(i))).expect("admitted");
        }
        assert_eq!(limiter.tracked() as u64, keys, "each address its own key");
        // The floor: the same key making and a lookup in a std HashMap of as many entries,
        // whose growth with size is the memory hierarchy's (cache misses), not the limiter's.
        let bare: std::collections::HashMap<String, u64> = (0..keys).map(|i| (address_key(ipv6(i)), i)).collect();
        let limited = p50(keys, |k| {
            let _ = black_box(limiter.check(k));
        });
        let floor = p50(keys, |k| {
            let _ = black_box(bare.get(k));
        });
        println!("| {keys} | {limited:.0} | {floor:.0} | {} |", limiter.tracked());
    }
}

/// Median over 5 runs of the ns per call of `f` on keys picked at random among `keys`.
fn p50(keys: u64, mut f: impl FnMut(&str)) -> f64 {
    let mut runs: Vec<f64> = (0..5)
        .map(|run| {
            let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ run;
            let started = Instant::now();
            for _ in 0..CHECKS {
                // xorshift: a random key each time, so caches don't flatter large maps.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // The key's text is made per check, as a request's would be: a cost that
                // does not grow with the map, unlike a table of a million strings.
                f(&address_key(ipv6(x % keys)));
            }
            started.elapsed().as_nanos() as f64 / CHECKS as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

/// A distinct IPv6 /64 per `i` (bits in the network half): each one its own limiter key.
fn ipv6(i: u64) -> std::net::IpAddr {
    let [a, b, c] = [(i >> 32) as u16, (i >> 16) as u16, i as u16];
    std::net::IpAddr::V6(std::net::Ipv6Addr::new(0x2001, a, b, c, 0xffff, 0, 0, 1))
}
