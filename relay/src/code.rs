//! Minting pairing codes. Their shape, parsing and display live in the shared core
//! (`latch_wire::code`), which the panel and the fuzzers use too.

use rand::Rng;

pub use latch_wire::code::{display, normalize, ALPHABET, CODE_LEN};

/// A fresh code from the OS CSPRNG (32 letters = 5 bits each, 40 bits in all; no modulo bias).
pub fn new_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..CODE_LEN).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_well_formed_and_varied() {
        let codes: std::collections::HashSet<String> = (0..1000).map(|_| new_code()).collect();
        assert!(codes.len() > 990);
        for c in &codes {
            assert_eq!(normalize(c).as_deref(), Some(c.as_str()));
        }
    }
}
