//! A customer's place in a campaign's random split, the same everywhere.
//!
//! The position of a customer under a salt is the first 8 bytes of the
//! SHA-256 digest of the UTF-8 text `<salt>:<customer_id>` (an integer id
//! in decimal, a text id as it is), read as a big-endian unsigned integer
//! and divided by 2^64: a number in [0, 1) that any language reproduces
//! with its standard library. In Python:
//!
//! ```python
//! import hashlib
//! def position(salt, customer_id):
//!     digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
//!     return int.from_bytes(digest[:8], "big") / 2**64
//! ```
//!
//! A customer is held out when the position is below the fraction, so
//! raising the fraction only adds customers to the holdout, and a new salt
//! (one per campaign) draws a new split.

use sha2::{Digest, Sha256};

/// The position of `id` under `salt`, in [0, 1).
pub fn position(salt: &str, id: &str) -> f64 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(id.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 2^-64 exactly; the division of a u64 rounds to the nearest double.
    u64::from_be_bytes(first) as f64 * (1.0 / 18_446_744_073_709_551_616.0)
}

/// Whether `id` is in the holdout of `fraction` under `salt`.
pub fn held_out(salt: &str, id: &str, fraction: f64) -> bool {
    position(salt, id) < fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_equal_pythons_hashlib() {
        // The module doc's Python function, run with CPython 3.11's hashlib.
        assert_eq!(position("spring-2026", "12345"), 0.1264771937031755);
        assert_eq!(position("c1", "0"), 0.4829719972605332);
        assert_eq!(position("winback", "C-0042"), 0.7133177387706477);
    }

    #[test]
    fn the_split_has_the_asked_share_and_grows_with_the_fraction() {
        let ids: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
        let share = |f: f64| ids.iter().filter(|id| held_out("c1", id, f)).count() as f64 / 1e5;
        // Binomial standard error at n = 100,000 is at most 0.0016.
        assert!((share(0.1) - 0.1).abs() < 0.006, "{}", share(0.1));
        assert!((share(0.5) - 0.5).abs() < 0.006, "{}", share(0.5));
        for id in ids.iter().take(2000) {
            if held_out("c1", id, 0.1) {
                assert!(held_out("c1", id, 0.2));
            }
        }
        // Another salt, another split: about 10 % of the first holdout.
        let both = ids
            .iter()
            .filter(|id| held_out("c1", id, 0.1) && held_out("c2", id, 0.1))
            .count() as f64
            / ids.iter().filter(|id| held_out("c1", id, 0.1)).count() as f64;
        assert!((both - 0.1).abs() < 0.02, "{both}");
    }
}
