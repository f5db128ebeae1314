//! The live socket `/api/session` (PROTOCOL §3 "WebSocket"): its frames both ways and its
//! close codes. The relay encodes [`ServerFrame`] and decodes [`ClientFrame`]; the
//! extension the other way round.

use serde::{Deserialize, Serialize};

use crate::{flat, lenient};

/// The handshake or an `auth` was refused; the reason is the `error` code.
pub const CLOSE_REFUSED: u16 = 4401;
/// The access token expired without an `auth` renewing it.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4408;
/// A newer socket of the same binding took over.
pub const CLOSE_REPLACED: u16 = 4409;
/// A frame too big (WebSocket "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;

/// The reason of a [`CLOSE_REFUSED`] for a binding the relay revoked as idle (extension of
/// PROTOCOL §11): the extension refreshes, and the refresh's refusal says for how long it
/// went unused. An extension that doesn't know it reconnects and hears the same there.
pub const REFUSED_IDLE: &str = "binding_idle";

/// The `protocol` the relay's `hello` announces.
pub const PROTOCOL_VERSION: u32 = 1;

/// Frames the relay sends. Unknown fields are ignored; unknown types fail to decode.
///
/// `P` is an errand's `params`, the app's JSON passed through untouched: the relay holds
/// it as a JSON value, the extension, which reads no params yet, as [`Unread`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    try_from = "flat::ServerFrameFields<P>",
    bound(deserialize = "P: Deserialize<'de> + Default")
)]
pub enum ServerFrame<P = Unread> {
    Hello {
        protocol: u32,
        /// PROTOCOL §12: the nonce the next `auth` frame's DPoP proof must carry (RFC 9449
        /// server nonce), fresh for each socket, so a recorded `auth` can't be replayed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    AuthAck {
        binding_id: String,
        scopes: Vec<String>,
        /// The nonce for the next `auth` on this socket (a renewed token's), single-use like
        /// `hello`'s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    Error {
        code: String,
    },
    Errand {
        id: String,
        kind: String,
        params: P,
    },
    Pong,
}

/// Frames the extension sends.
///
/// `R` and `E` are an errand's `result` and `error`: the extension writes the ones it
/// knows (the `ping` answer, an error code); the relay passes whatever came to the app,
/// so it reads them as JSON values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame<R = PingResult, E = String> {
    Hello,
    /// A token that is missing or not a string reads as empty (and fails verification
    /// like any wrong one).
    #[serde(rename_all = "camelCase")]
    Auth {
        #[serde(default, deserialize_with = "lenient::string")]
        access_token: String,
        /// PROTOCOL §12: the DPoP proof of a key-bound binding (claims `htm` GET, `htu` the
        /// session URL, `ath`, and the relay's last `nonce`). Empty: none (an unbound
        /// binding's token); anything but a string reads as empty.
        #[serde(default, deserialize_with = "lenient::string", skip_serializing_if = "String::is_empty")]
        proof: String,
    },
    /// An `id` that is missing or not a string matches no errand; an `ok` that is not
    /// `true` reads as a failure.
    ErrandResult {
        #[serde(default, deserialize_with = "lenient::string")]
        id: String,
        #[serde(default, deserialize_with = "lenient::flag")]
        ok: bool,
        #[serde(default = "none", skip_serializing_if = "Option::is_none")]
        result: Option<R>,
        #[serde(default = "none", skip_serializing_if = "Option::is_none")]
        error: Option<E>,
    },
    Ping,
}

// `#[serde(default)]` on a generic field would ask `R: Default`; `None` needs nothing.
fn none<T>() -> Option<T> {
    None
}

/// A JSON value this side does not read: decodes from anything, encodes as `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unread;

impl Serialize for Unread {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for Unread {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Unread)
    }
}

/// The `ping` errand's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PingResult {
    pub pong: bool,
    pub app_name: String,
}
