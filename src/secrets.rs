//! Random tokens and the hashes we store instead of them.

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// 128 random bits as 32 lowercase hex characters.
pub fn random_hex128() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source failing is not a condition we can serve requests under.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    to_hex(&bytes)
}

/// SHA-256 of `parts`, each length-prefixed so ("ab","c") and ("a","bc") differ.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    to_hex(&hasher.finalize())
}

/// The hash a token is stored and looked up by.
pub fn token_hash(token: &str) -> String {
    sha256_hex(&[token.as_bytes()])
}

/// A store task's token. It is derived from the upload's identity (`idempotency_key`) and
/// an installation secret, so a retried upload gets the same token back, and the API can
/// show it again to an admin, while only its hash is stored.
pub fn task_token(key: &str, project_id: i64, idempotency_key: &str) -> String {
    let digest = sha256_hex(&[
        key.as_bytes(),
        &project_id.to_le_bytes(),
        idempotency_key.as_bytes(),
    ]);
    format!("fwt_{}", &digest[..32])
}

pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_128_bits() {
        let a = random_hex128();
        let b = random_hex128();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn hash_separates_parts() {
        assert_ne!(sha256_hex(&[b"ab", b"c"]), sha256_hex(&[b"a", b"bc"]));
        assert_eq!(token_hash("x"), token_hash("x"));
    }
}
