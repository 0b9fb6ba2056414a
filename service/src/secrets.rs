//! Secrets at rest (AppSecret, EncodingAESKey, access tokens): sealed with XChaCha20-Poly1305
//! under the secrets key derived from `SCENEBOARD_SECRET_KEY`.
//!
//! XChaCha's 192-bit nonce is drawn at random for every seal, so no nonce bookkeeping is needed
//! across instances. The column name is bound as associated data: a ciphertext copied into
//! another column (or another account's row) fails to open instead of leaking.

use crate::Keys;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const PREFIX: &str = "v1.";

/// A sealed value could not be opened: wrong secret key, or tampered data.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret cannot be decrypted (was SCENEBOARD_SECRET_KEY changed?)")]
pub struct OpenError;

impl Keys {
    /// Seal `plain` for storage in the column named by `context` (e.g. "wechat_accounts.app_secret:wx123").
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.secrets).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: context.as_bytes() })
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}", STANDARD_NO_PAD.encode(out))
    }

    /// Open a value sealed by [`Keys::seal`] with the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, OpenError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(OpenError)?;
        let raw = STANDARD_NO_PAD.decode(body).map_err(|_| OpenError)?;
        if raw.len() < 24 + 16 {
            return Err(OpenError);
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.secrets).into());
        let plain = cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() }).map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_plaintext_in_output() {
        let k = Keys::random();
        let sealed = k.seal("c", "my-app-secret-0123456789");
        assert!(!sealed.contains("my-app-secret"));
        assert_eq!(k.open("c", &sealed).unwrap(), "my-app-secret-0123456789");
        // Fresh nonce each time.
        assert_ne!(sealed, k.seal("c", "my-app-secret-0123456789"));
    }

    #[test]
    fn wrong_key_context_or_tampering_fails() {
        let k = Keys::random();
        let sealed = k.seal("a", "secret");
        assert!(Keys::random().open("a", &sealed).is_err());
        assert!(k.open("b", &sealed).is_err());
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(k.open("a", &String::from_utf8(bytes).unwrap()).is_err());
        assert!(k.open("a", "garbage").is_err());
        assert!(k.open("a", "v1.").is_err());
    }
}
