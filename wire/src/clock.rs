//! Relay clock → local clock. Relay and browser clocks can be minutes apart; comparing a
//! relay expiry with the local clock directly would expire offers and challenges early
//! (relay behind) or refresh tokens late (relay ahead). Every relay answer that carries
//! expiries also carries `serverTime`, the relay's clock when it answered.

use crate::api::{ChallengeIssued, DescribeResponse, RefreshedTokens, TokenGrant};

/// A relay time `t`, stamped by a relay whose clock read `server_time` when it answered,
/// on the local clock that reads `local_now`: the same distance from now. Without a stamp
/// (an older relay) the clocks are taken to agree.
pub fn to_local_time(t: u64, server_time: Option<u64>, local_now: u64) -> u64 {
    match server_time {
        Some(st) => (i128::from(local_now) + i128::from(t) - i128::from(st)).clamp(0, i128::from(u64::MAX)) as u64,
        None => t,
    }
}

/// A relay answer whose times can be moved onto the local clock.
pub trait Localize: Sized {
    /// The same answer with its times on the local clock that reads `local_now`, and its
    /// `serverTime` stamp taken off (it has been applied).
    fn localized(self, local_now: u64) -> Self;
}

/// One `Localize` per stamped answer: which fields are relay times.
macro_rules! stamped_times {
    ($($answer:ty => $($field:ident),+;)+) => {$(
        impl Localize for $answer {
            fn localized(mut self, local_now: u64) -> Self {
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
