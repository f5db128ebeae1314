//! Moments in time, and relay clock → local clock.
//!
//! Every moment Latch keeps or sends is an [`EpochMs`]: milliseconds since the Unix epoch,
//! as JavaScript's `Date.now()` counts them and as the relay stores them. Durations stay
//! plain `u64` milliseconds (constants named `…_MS`), so `moment + duration` is a moment and
//! the distance between two moments is a duration; a moment can't be added to a moment.
//!
//! Relay and browser clocks can be minutes apart; comparing a relay expiry with the local
//! clock directly would expire offers and challenges early (relay behind) or refresh tokens
//! late (relay ahead). Every relay answer that carries expiries also carries `serverTime`,
//! the relay's clock when it answered.

use core::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

use crate::api::{ChallengeIssued, DescribeResponse, RefreshedTokens, TokenGrant};

/// A moment: milliseconds since the Unix epoch. On the wire and in storage it is the bare
/// number it always was (`#[serde(transparent)]`), so no stored record or message changes.
/// Arithmetic saturates: a moment never wraps past the epoch or past `u64::MAX`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "A moment: milliseconds since the Unix epoch, on the relay's clock.")
)]
#[serde(transparent)]
pub struct EpochMs(u64);

impl EpochMs {
    /// The epoch itself: "never" for a moment that has not happened yet.
    pub const ZERO: Self = Self(0);
    /// The last representable moment: "no deadline".
    pub const MAX: Self = Self(u64::MAX);

    pub const fn from_ms(ms: u64) -> Self {
        Self(ms)
    }

    pub const fn as_ms(self) -> u64 {
        self.0
    }

    /// A JavaScript time value (`Date.now()`): whole milliseconds, negative and NaN as
    /// the epoch.
    pub fn from_js(ms: f64) -> Self {
        Self(ms as u64)
    }

    /// As a JavaScript time value (`new Date(ms)`, `chrome.alarms.create({when})`).
    pub fn as_js(self) -> f64 {
        self.0 as f64
    }

    /// Milliseconds from `self` until `later`; zero when `later` is not later.
    pub const fn ms_until(self, later: Self) -> u64 {
        later.0.saturating_sub(self.0)
    }

    /// Milliseconds from `earlier` until `self`; zero when `earlier` is not earlier.
    pub const fn ms_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A moment plus a duration in milliseconds. Out of line: inlined at each of the worker's
/// ~40 uses, the saturation made the worker's wasm 0.08 KB gzip larger (measured).
impl Add<u64> for EpochMs {
    type Output = Self;
    #[inline(never)]
    fn add(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

impl AddAssign<u64> for EpochMs {
    fn add_assign(&mut self, ms: u64) {
        *self = *self + ms;
    }
}

/// A moment minus a duration in milliseconds (out of line, as `add`).
impl Sub<u64> for EpochMs {
    type Output = Self;
    #[inline(never)]
    fn sub(self, ms: u64) -> Self {
        Self(self.0.saturating_sub(ms))
    }
}

/// A relay time `t`, stamped by a relay whose clock read `server_time` when it answered,
/// on the local clock that reads `local_now`: the same distance from now. Without a stamp
/// (an older relay) the clocks are taken to agree.
pub fn to_local_time(t: EpochMs, server_time: Option<EpochMs>, local_now: EpochMs) -> EpochMs {
    match server_time {
        Some(st) if t >= st => local_now + t.ms_since(st),
        Some(st) => local_now - st.ms_since(t),
        None => t,
    }
}

/// A relay answer whose times can be moved onto the local clock.
pub trait Localize: Sized {
    /// The same answer with its times on the local clock that reads `local_now`, and its
    /// `serverTime` stamp taken off (it has been applied).
    fn localized(self, local_now: EpochMs) -> Self;
}

/// One `Localize` per stamped answer: which fields are relay times.
macro_rules! stamped_times {
    ($($answer:ty => $($field:ident),+;)+) => {$(
        impl Localize for $answer {
            fn localized(mut self, local_now: EpochMs) -> Self {
                let stamp = self.server_time.take();
                $(self.$field = to_local_time(self.$field, stamp, local_now);)+
                self
            }
        }
    )+};
}

stamped_times! {
    DescribeResponse => expires_at;
    TokenGrant => access_expires_at, refresh_expires_at;
    RefreshedTokens => access_expires_at, refresh_expires_at;
    ChallengeIssued => expires_at;
}
