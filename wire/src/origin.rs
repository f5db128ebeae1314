//! The sender-origin gate for external messages, and which opener a prompt may name.

/// True when a message's `sender.origin` is exactly the configured connect origin.
/// `externally_connectable` already filters in Chrome; this is the second, independent check.
/// Exact comparison: `http://127.0.0.1:8787` is not `http://localhost:8787`.
pub fn is_connect_origin(sender_origin: Option<&str>, connect_origin: &str) -> bool {
    sender_origin == Some(connect_origin)
}

/// Longest opener origin the extension keeps (a real origin is far shorter).
pub const MAX_ORIGIN_LEN: usize = 200;

/// The opener the prompt may show: the connect page's verified opener (§4), kept only when
/// it is a plain `http(s)://host[:port]` origin and the relay lists it among the tenant's
/// registered origins (`app_origins` from describe). Anything else shows the caution.
pub fn verified_opener(opener: Option<&str>, app_origins: &[String]) -> Option<String> {
    let o = opener?;
    let plain = o.len() <= MAX_ORIGIN_LEN && is_plain_origin(o);
    (plain && app_origins.iter().any(|a| a == o)).then(|| o.to_owned())
}

/// `scheme://host[:port]` (http or https) with nothing that could break out of a CSP
/// source list or a prompt line. The relay holds tenant origins to the same rule.
pub fn is_plain_origin(o: &str) -> bool {
    let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty() && r.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opener_counts_only_when_plain_and_registered() {
        let registered = vec!["http://localhost:8788".to_string(), "https://app.example".to_string()];
        assert_eq!(
            verified_opener(Some("http://localhost:8788"), &registered).as_deref(),
            Some("http://localhost:8788")
        );
        assert_eq!(verified_opener(Some("https://app.example"), &registered).as_deref(), Some("https://app.example"));
        for bad in [
            "http://127.0.0.1:8788",
            "https://localhost:8788",
            "http://localhost:8788/",
            "https://evil.example",
            "null",
            "",
            "javascript:alert(1)",
        ] {
            assert_eq!(verified_opener(Some(bad), &registered), None, "{bad}");
        }
        assert_eq!(verified_opener(None, &registered), None);
        assert_eq!(verified_opener(Some("http://localhost:8788"), &[]), None, "no registered origins: caution");
        let long = format!("https://{}.example", "a".repeat(300));
        assert_eq!(verified_opener(Some(&long), std::slice::from_ref(&long)), None);
        let odd = "https://app.example\"u{202E}".to_string();
        assert_eq!(verified_opener(Some(&odd), std::slice::from_ref(&odd)), None);
    }

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
