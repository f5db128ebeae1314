//! The consent clicks' arming delay, shared by the relay's connect page (Continue) and the
//! side panel (Approve, a code prompt's Deny, Disconnect all's confirmation).
//!
//! A button that has just appeared, reappeared (the window came back, the page became
//! visible) or moved under the pointer waits this long before a click on it counts: a click
//! or key press the user aimed at something else lands on nothing (SECURITY.md, "Consent
//! clicks").

/// How long a consent button stays disarmed after it appears or is re-armed. Long enough to
/// outlast a double-click's second click (Chrome's double-click interval is ~500 ms on most
/// systems) and a key's auto-repeat start, short enough that a person reading the prompt
/// never waits for it.
pub const CONSENT_ARM_DELAY_MS: u64 = 500;
