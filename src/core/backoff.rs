//! Exponential backoff with full jitter ("AWS architecture blog" style): the n-th
//! consecutive failure waits a uniformly random time in `[0, min(cap, base · 2^(n-1))]`.
//! Randomness comes in from the caller, so the core stays deterministic under test.

pub const BASE_MS: u64 = 1_000;
pub const CAP_MS: u64 = 30_000;

/// Upper bound of the wait after `failures` consecutive failures (≥ 1).
pub fn ceiling_ms(failures: u32) -> u64 {
    let exp = failures.saturating_sub(1).min(20);
    BASE_MS.saturating_mul(1 << exp).min(CAP_MS)
}

/// The wait after `failures` consecutive failures, given 64 random bits.
pub fn full_jitter_ms(failures: u32, random: u64) -> u64 {
    random % (ceiling_ms(failures) + 1)
}

/// A small deterministic generator (SplitMix64) for jitter; seeded by the driver.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ceiling_doubles_to_the_cap() {
        let c: Vec<u64> = (1..=7).map(ceiling_ms).collect();
        assert_eq!(c, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
        assert_eq!(ceiling_ms(1_000), CAP_MS);
    }

    proptest! {
        #[test]
        fn jitter_stays_within_the_ceiling(n in 1u32..100, r in any::<u64>()) {
            prop_assert!(full_jitter_ms(n, r) <= ceiling_ms(n));
        }
    }

    #[test]
    fn jitter_spreads() {
        let mut j = Jitter::new(7);
        let waits: std::collections::HashSet<u64> = (0..100).map(|_| full_jitter_ms(6, j.next_u64())).collect();
        assert!(waits.len() > 90);
    }
}
