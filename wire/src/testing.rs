//! Sample values for tests of the wire and of the extension's core (feature `testing`,
//! which only dev-dependencies turn on).

use crate::api::{BindingInfo, CodeRequester, TokenGrant};
use crate::EpochMs;

/// A requester for tests of the wire and of the code-pairing poller.
pub fn test_requester() -> CodeRequester {
    CodeRequester {
        app_name: "Acme".into(),
        tenant_id: "acme".into(),
        user_id: "dana".into(),
        app_origin: Some("http://localhost:8788".into()),
    }
}

/// A grant for tests of the wire and of the code-pairing poller.
pub fn test_grant() -> TokenGrant {
    TokenGrant {
        binding: BindingInfo {
            binding_id: "b".into(),
            tenant_id: "acme".into(),
            app_name: "Acme".into(),
            user_id: "dana".into(),
        },
        access_token: "a".into(),
        refresh_token: "r".into(),
        access_expires_at: EpochMs::from_ms(1),
        refresh_expires_at: EpochMs::from_ms(2),
        server_time: None,
        token_type: None,
    }
}

/// The moment `n` ms after the epoch, for tests that count time from zero.
pub const fn ms(n: u64) -> EpochMs {
    EpochMs::from_ms(n)
}
