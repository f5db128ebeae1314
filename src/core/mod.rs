//! The sans-IO core: no clock, no storage, no network. Time comes in as arguments
//! (`EpochMs`), effects go out as return values.

pub mod backoff;
pub mod challenge;
// Only the panel's buttons arm.
#[cfg(any(test, feature = "panel"))]
pub mod consent_guard;
// The worker names this browser; the panel only shows names.
#[cfg(any(test, feature = "background"))]
pub mod device_name;
pub mod dpop;
pub mod errors;
pub mod live;
pub mod managed;
pub mod offers;
// Only the panel reads pasted text; built into the worker, the unused parser stayed in its
// wasm (+0.3 KB gzip, measured).
#[cfg(any(test, feature = "panel"))]
pub mod pasted;
pub mod refresh;
pub mod repair;
pub mod session;
pub mod shown_names;
pub mod timer;
pub mod user_change;
