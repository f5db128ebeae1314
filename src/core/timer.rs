//! How long a browser timer waits for a moment.

use latch_wire::EpochMs;

/// The longest delay `setTimeout` honours: 2^31 − 1 ms (~24.8 days). gloo-timers passes its
/// `u32` on `as i32`, so a longer delay turns negative and fires at once — and a wake-up
/// that re-arms itself on firing would then spin.
pub const MAX_TIMER_MS: u32 = i32::MAX as u32;

/// The timer delay from `now` until `at`: zero when `at` has passed, at most
/// [`MAX_TIMER_MS`]. A longer wait is covered by the alarm `background/wakeup.rs` arms
/// beside its timer (the live channel's waits are minutes); a timer capped short fires
/// early, finds nothing due and arms again.
pub fn timer_delay(now: EpochMs, at: EpochMs) -> u32 {
    u32::try_from(now.ms_until(at)).map_or(MAX_TIMER_MS, |ms| ms.min(MAX_TIMER_MS))
}

#[cfg(test)]
mod tests {
    use latch_wire::testing::ms;

    use super::*;

    #[test]
    fn a_delay_is_never_negative_nor_beyond_what_set_timeout_honours() {
        let now = ms(1_800_000_000_000);
        assert_eq!(timer_delay(now, now - 1), 0, "a passed moment fires at once");
        assert_eq!(timer_delay(now, now), 0);
        assert_eq!(timer_delay(now, now + 5_000), 5_000);
        assert_eq!(timer_delay(now, now + u64::from(MAX_TIMER_MS)), MAX_TIMER_MS);
        for far in [now + (1 << 31), now + u64::from(u32::MAX), EpochMs::MAX] {
            let delay = timer_delay(now, far);
            assert_eq!(delay, MAX_TIMER_MS);
            assert!(delay as i32 > 0, "set_timeout would fire {far:?} at once");
        }
    }
}
