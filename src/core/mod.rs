//! The sans-IO core: no clock, no storage, no network. Time comes in as arguments
//! (`EpochMs`), effects go out as return values.

pub mod backoff;
pub mod challenge;
pub mod errors;
pub mod live;
pub mod managed;
pub mod offers;
pub mod refresh;
pub mod session;
pub mod shown_names;
pub mod timer;
