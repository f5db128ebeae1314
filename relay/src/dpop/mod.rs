//! Key-bound sessions (PROTOCOL §12, RFC 9449 DPoP): the extension holds a non-extractable
//! P-256 key per binding and signs a proof for every request that uses the binding's
//! tokens; the relay keeps the key's thumbprint on the binding and refuses a token that
//! comes without a proof by that key. A copy of the extension's storage is then worth
//! nothing without the browser that holds the key.
//!
//! [`proof`] checks one proof without I/O, [`nonce`] issues and checks server nonces
//! statelessly, [`replay`] spends each proof's `jti` once (across instances on
//! PostgreSQL). The HTTP side (headers, errors) is `http::dpop`.

pub mod nonce;
pub mod proof;
pub mod replay;

pub use nonce::Nonces;
pub use proof::{check, Checked, Expected, Refusal};
pub use replay::Replay;
