//! API keys: their format, roles, and how they are hashed.
//!
//! A key is `th_` followed by 32 random bytes in unpadded base64url
//! (43 characters). Only its SHA-256 hash is stored, with a short,
//! non-secret display prefix. A SHA-256 (rather than a slow password
//! hash) is enough because the key carries 256 bits of entropy: there is
//! nothing to brute-force, and a lookup by hash stays one index probe.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The text every tradehook API key starts with.
pub const KEY_PREFIX: &str = "th_";
/// Random bytes in a key.
pub const KEY_RANDOM_BYTES: usize = 32;
/// Characters of the key (after `th_`) kept for display.
const DISPLAY_CHARS: usize = 8;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including managing keys.
    Admin,
    /// Everything except managing keys.
    Write,
    /// Read-only (GET) access, for dashboards and viewers.
    Read,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Write, Role::Read];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Write => "write",
            Role::Read => "read",
        }
    }

    /// Whether this role may call a route that changes state.
    pub fn can_write(self) -> bool {
        matches!(self, Role::Admin | Role::Write)
    }

    /// Whether this role may call admin routes (key management).
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected admin, write or read")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "write" => Ok(Role::Write),
            "read" => Ok(Role::Read),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = UnknownRole;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The SHA-256 of a key, in lower-case hex. This is what storage keeps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(raw_key: &str) -> Self {
        KeyHash(hex(&Sha256::digest(raw_key.as_bytes())))
    }

    /// Wraps a hash read back from storage.
    pub fn from_stored(hex: String) -> Self {
        KeyHash(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares two hashes in constant time.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

/// A freshly generated key. The raw key exists only here, to be shown
/// once; it has no `Debug` that would print it.
pub struct NewKey {
    raw: String,
    pub hash: KeyHash,
    pub display_prefix: String,
}

impl NewKey {
    /// Makes a key from a cryptographically secure random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_RANDOM_BYTES];
        // ThreadRng is a CSPRNG (ChaCha) seeded from the OS and reseeded.
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    /// Makes a key from given random bytes (tests pass fixed bytes).
    pub fn from_bytes(bytes: &[u8; KEY_RANDOM_BYTES]) -> Self {
        let raw = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = KeyHash::of(&raw);
        let display_prefix = display_prefix(&raw);
        NewKey {
            raw,
            hash,
            display_prefix,
        }
    }

    /// The raw key. Show it to the user once and never store or log it.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("display_prefix", &self.display_prefix)
            .finish_non_exhaustive()
    }
}

/// The non-secret part of a key shown in listings (`th_AbCdEfGh`).
pub fn display_prefix(raw_key: &str) -> String {
    raw_key
        .chars()
        .take(KEY_PREFIX.len() + DISPLAY_CHARS)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = NewKey::generate();
        let raw = key.expose();
        assert!(raw.starts_with("th_"));
        // 32 bytes in unpadded base64url are 43 characters.
        assert_eq!(raw.len(), 3 + 43, "{raw}");
        assert!(
            raw[3..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(key.display_prefix, &raw[..11]);
        assert_eq!(key.hash, KeyHash::of(raw));
    }

    #[test]
    fn two_generated_keys_differ() {
        assert_ne!(NewKey::generate().expose(), NewKey::generate().expose());
    }

    #[test]
    fn hash_is_sha256_hex_of_the_whole_key() {
        // Computed independently: `printf th_test | sha256sum`.
        let h = KeyHash::of("th_test");
        assert_eq!(
            h.as_str(),
            "8aa60c7150eea6300b44361af57e4fed29aaee86ec18e1aa8b8c705077bb0eb0"
        );
        assert!(h.ct_eq(&KeyHash::of("th_test")));
        assert!(!h.ct_eq(&KeyHash::of("th_tesu")));
    }

    #[test]
    fn debug_never_prints_the_raw_key() {
        let key = NewKey::from_bytes(&[7u8; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(key.expose()), "{shown}");
    }

    #[test]
    fn roles_parse_and_print() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Write.can_write() && !Role::Read.can_write());
        assert!(Role::Admin.is_admin() && !Role::Write.is_admin());
    }
}
