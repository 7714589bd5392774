//! Sealing secrets at rest (webhook secrets, bot tokens, broker keys).
//!
//! Values are encrypted with ChaCha20-Poly1305 under a 32-byte key from
//! the configuration, and stored as `sealed:v1:<base64(nonce ‖ ciphertext)>`.
//! The version tag leaves room for key rotation. The nonce is random (96
//! bits), which is safe for the number of secrets a deployment stores.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

const PREFIX: &str = "sealed:v1:";
pub const KEY_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the sealing key must be {KEY_BYTES} bytes in base64, got {0} bytes")]
    KeyLength(usize),
    #[error("the sealing key is not valid base64")]
    KeyEncoding,
    #[error("the stored value is not a sealed secret")]
    NotSealed,
    #[error("the stored secret does not open with this key (wrong key or corrupted)")]
    Open,
}

/// The key that seals and opens stored secrets.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; KEY_BYTES]) -> Self {
        SecretBox {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    /// Parses a base64 key (standard alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .map_err(|_| CryptoError::KeyEncoding)?;
        let key: [u8; KEY_BYTES] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::KeyLength(bytes.len()))?;
        Ok(Self::new(&key))
    }

    /// A new random key, base64-encoded.
    pub fn generate_key() -> String {
        let mut key = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// Encrypts `plaintext` with a random nonce.
    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        self.seal_with_nonce(plaintext, &nonce)
    }

    fn seal_with_nonce(&self, plaintext: &str, nonce: &[u8; 12]) -> String {
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(*nonce), plaintext.as_bytes())
            .expect("ChaCha20-Poly1305 encryption does not fail for small inputs");
        let mut out = Vec::with_capacity(12 + ciphertext.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// Decrypts a value made by [`seal`](Self::seal).
    pub fn open(&self, sealed: &str) -> Result<String, CryptoError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(CryptoError::NotSealed)?;
        let bytes = STANDARD.decode(body).map_err(|_| CryptoError::NotSealed)?;
        if bytes.len() < 12 + 16 {
            return Err(CryptoError::NotSealed);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("split at 12");
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| CryptoError::Open)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_only() {
        let a = SecretBox::new(&[1u8; 32]);
        let b = SecretBox::new(&[2u8; 32]);
        let sealed = a.seal("whsec_secret");
        assert!(sealed.starts_with("sealed:v1:"));
        assert!(!sealed.contains("whsec_secret"));
        assert_eq!(a.open(&sealed).unwrap(), "whsec_secret");
        assert_eq!(b.open(&sealed), Err(CryptoError::Open));
    }

    #[test]
    fn each_seal_uses_a_new_nonce() {
        let a = SecretBox::new(&[1u8; 32]);
        assert_ne!(a.seal("x"), a.seal("x"));
    }

    #[test]
    fn tampering_is_detected() {
        let a = SecretBox::new(&[1u8; 32]);
        let sealed = a.seal_with_nonce("token", &[0u8; 12]);
        let mut bytes = STANDARD
            .decode(sealed.strip_prefix(PREFIX).unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{PREFIX}{}", STANDARD.encode(bytes));
        assert_eq!(a.open(&tampered), Err(CryptoError::Open));
        assert_eq!(a.open("plain text"), Err(CryptoError::NotSealed));
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes() {
        let key = SecretBox::generate_key();
        assert!(SecretBox::from_base64(&key).is_ok());
        assert_eq!(
            SecretBox::from_base64("AAAA").unwrap_err(),
            CryptoError::KeyLength(3)
        );
        assert_eq!(
            SecretBox::from_base64("!!!").unwrap_err(),
            CryptoError::KeyEncoding
        );
    }
}
