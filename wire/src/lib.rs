//! Every message and stored record that crosses a boundary of Latch, the token and code
//! shapes, and the consent-name policy. The relay and the extension both build against
//! these types, so a renamed field breaks the build on both sides, not production.
//!
//! | module | boundary |
//! |---|---|
//! | [`external`] | connect page → extension (`chrome.runtime.sendMessage`, PROTOCOL §5) |
//! | [`api`] | extension and apps → relay over HTTP (PROTOCOL §3) |
//! | [`socket`] | relay ⇄ extension over the live WebSocket, and its close codes |
//! | [`panel`] | side panel ⇄ service worker (inside the extension) |
//! | [`stored`] | the extension's `chrome.storage.local` records (PROTOCOL §7) |
//! | [`token`], [`code`] | the shapes of secrets and pairing codes |
//! | [`origin`] | origins as the connect page and the relay compare them |
//! | [`name_policy`] | which app names may be shown in a consent prompt (PROTOCOL §6) |
//! | [`clock`] | moments ([`EpochMs`]), and relay times onto the local clock |
//! | [`consent`] | how long a consent button waits before a click on it counts |
//!
//! Field names follow PROTOCOL.md (camelCase). Moments are [`EpochMs`]
//! (milliseconds since the Unix epoch); durations are `u64` milliseconds or seconds, as named.
//! No IO and no behaviour beyond decoding, encoding and the shared policies.

pub mod api;
pub mod clock;
pub mod code;
pub mod consent;
pub mod external;
#[cfg(not(feature = "openapi"))]
mod flat;
/// Public only for the relay's OpenAPI document (the flat shapes are the wire's).
#[cfg(feature = "openapi")]
pub mod flat;
mod lenient;
pub mod name_policy;
pub mod origin;
pub mod panel;
pub mod socket;
pub mod stored;
pub mod token;

pub use clock::EpochMs;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;
