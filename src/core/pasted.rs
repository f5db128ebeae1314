//! What the user pasted into "Connect an app": a pairing token, or the connect link an
//! app's page shows when its popup was blocked (`{connect origin}/connect#token=…`).

/// The pairing token in `pasted`: the connect link's `token`, when it is a link to this
/// extension's connect origin; otherwise the pasted text itself (trimmed), which the offer
/// book's shape check accepts or refuses as ever. A link to any other origin is taken
/// whole, so the shape check refuses it: tokens come only from links to the trusted relay.
pub fn pasted_token<'a>(pasted: &'a str, connect_origin: &str) -> &'a str {
    let pasted = pasted.trim();
    let Some(fragment) = pasted.strip_prefix(connect_origin).and_then(|rest| rest.strip_prefix("/connect#")) else {
        return pasted;
    };
    // URLSearchParams leaves a token's base64url characters as they are; anything
    // percent-encoded is not a token and fails the shape check.
    fragment.split('&').find_map(|pair| pair.strip_prefix("token=")).unwrap_or(pasted)
}

#[cfg(test)]
mod tests {
    use latch_wire::token::{encode_secret, is_pairing_token, PAIRING_TOKEN_PREFIX};
    use proptest::prelude::*;

    use super::*;

    const ORIGIN: &str = "http://localhost:8787";

    #[test]
    fn a_token_or_the_connect_link_of_this_origin_gives_the_token() {
        let token = encode_secret(PAIRING_TOKEN_PREFIX, &[7; 32]);
        assert_eq!(pasted_token(&format!("  {token}\n"), ORIGIN), token);
        let link = format!("{ORIGIN}/connect#token={token}&return=http%3A%2F%2Flocalhost%3A8788%2F");
        assert_eq!(pasted_token(&link, ORIGIN), token);
        let reordered = format!("{ORIGIN}/connect#return=x&token={token}");
        assert_eq!(pasted_token(&reordered, ORIGIN), token);
        for other in [
            format!("https://evil.example/connect#token={token}"),
            format!("{ORIGIN}.evil.example/connect#token={token}"),
            format!("{ORIGIN}/elsewhere#token={token}"),
            format!("{ORIGIN}/connect#return=x"),
            format!("{ORIGIN}@evil.example/connect#token={token}"),
            format!("{ORIGIN}:8080/connect#token={token}"),
            format!("{ORIGIN}/connect?x#token={token}"),
        ] {
            assert_eq!(pasted_token(&other, ORIGIN), other, "taken whole, refused by the shape check");
            assert!(!is_pairing_token(pasted_token(&other, ORIGIN)));
        }
    }

    proptest! {
        /// Whatever else the link carries, its token comes out unchanged; and a pasted text
        /// that is no link to the connect origin is only trimmed.
        #[test]
        fn links_give_their_token_and_other_text_is_only_trimmed(
            bytes in any::<[u8; 32]>(),
            other in "[a-z]{1,8}=[A-Za-z0-9%._-]{0,40}",
            token_first in any::<bool>(),
            text in "\\PC{0,80}",
        ) {
            prop_assume!(!other.starts_with("token="));
            let token = encode_secret(PAIRING_TOKEN_PREFIX, &bytes);
            let params = if token_first { format!("token={token}&{other}") } else { format!("{other}&token={token}") };
            let link = format!("{ORIGIN}/connect#{params}");
            prop_assert_eq!(pasted_token(&link, ORIGIN), token.as_str());
            if !text.trim().starts_with(ORIGIN) {
                prop_assert_eq!(pasted_token(&text, ORIGIN), text.trim());
            }
        }
    }
}
