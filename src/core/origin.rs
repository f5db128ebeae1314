//! The sender-origin gate for external messages.

/// True when a message's `sender.origin` is exactly the configured connect origin.
/// `externally_connectable` already filters in Chrome; this is the second, independent check.
/// Exact comparison: `http://127.0.0.1:8787` is not `http://localhost:8787`.
pub fn is_connect_origin(sender_origin: Option<&str>, connect_origin: &str) -> bool {
    sender_origin == Some(connect_origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_origin_passes() {
        let o = "http://localhost:8787";
        assert!(is_connect_origin(Some("http://localhost:8787"), o));
        for bad in [
            "http://127.0.0.1:8787",
            "http://localhost:8788",
            "https://localhost:8787",
            "http://localhost:8787/",
            "http://localhost:87870",
            "http://evil.localhost:8787",
            "null",
            "",
        ] {
            assert!(!is_connect_origin(Some(bad), o), "{bad}");
        }
        assert!(!is_connect_origin(None, o));
    }
}
