//! The secret key of docs/contract.md (`SCENEBOARD_SECRET_KEY`) and the sub-keys derived from it.
//!
//! One 32-byte key is configured; HKDF-SHA256 derives an independent key per purpose so that
//! encrypting secrets, naming sessions and hashing OpenIDs never share key material.

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use std::path::Path;

/// Length of the configured secret key in bytes.
pub const SECRET_KEY_LEN: usize = 32;

/// Purpose-bound keys derived from the secret key. `Debug` never shows key bytes.
#[derive(Clone)]
pub struct Keys {
    pub(crate) secrets: [u8; 32],
    pub(crate) sessions: [u8; 32],
    pub(crate) openids: [u8; 32],
    pub(crate) devices: [u8; 32],
    pub(crate) shares: [u8; 32],
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// Why a secret key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("SCENEBOARD_SECRET_KEY must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("cannot read or write the secret key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Keys {
    /// Derive the purpose keys from the 32-byte secret.
    pub fn derive(secret: &[u8; SECRET_KEY_LEN]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"sceneboard"), secret);
        let expand = |info: &[u8]| {
            let mut out = [0u8; 32];
            // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so this cannot fail.
            hk.expand(info, &mut out).expect("32-byte HKDF output");
            out
        };
        Self {
            secrets: expand(b"secrets-at-rest v1"),
            sessions: expand(b"session-ids v1"),
            openids: expand(b"openid-hash v1"),
            devices: expand(b"device-cookies v1"),
            shares: expand(b"share-unlock v1"),
        }
    }

    /// Parse a base64 secret key (standard alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        // Padding is optional: people paste keys with or without the trailing '='.
        let engine =
            GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));
        let bytes = engine.decode(text.trim()).map_err(|_| KeyError::BadKey)?;
        let arr: [u8; SECRET_KEY_LEN] = bytes.try_into().map_err(|_| KeyError::BadKey)?;
        Ok(Self::derive(&arr))
    }

    /// Read the key file in `data_dir`, or create it (mode 0600) with a fresh random key.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join("secret.key");
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                warn_if_readable_by_others(&path);
                Self::from_base64(&text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let mut key = [0u8; SECRET_KEY_LEN];
                rand::rngs::OsRng.fill_bytes(&mut key);
                write_private(&path, STANDARD.encode(key).as_bytes()).map_err(io)?;
                Ok(Self::derive(&key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A fresh random key, for tests and throwaway sandboxes.
    pub fn random() -> Self {
        let mut key = [0u8; SECRET_KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self::derive(&key)
    }

    /// Keyed hash of a follower's OpenID: stable for attribution and unique counts, and
    /// useless to anyone without the secret key once the raw OpenID is erased.
    pub fn openid_hash(&self, openid: &str) -> String {
        hmac_hex(&self.openids, openid.as_bytes())
    }

    /// The tag of a device cookie's text (the server's sign-in limiter): proof that this
    /// server issued it, to that user, then.
    pub fn device_tag(&self, text: &[u8]) -> [u8; 32] {
        keyed_mac(&self.devices, text).finalize().into_bytes().into()
    }

    /// Whether `tag` is [`Self::device_tag`] of `text`, compared in constant time (a guess
    /// learns nothing from how long the comparison took).
    pub fn device_tag_matches(&self, text: &[u8], tag: &[u8]) -> bool {
        keyed_mac(&self.devices, text).verify_slice(tag).is_ok()
    }

    /// The cookie that says a share link's password was given: a MAC of the link and its
    /// password hash, so it opens that link only, and no longer once the password changes.
    pub fn share_unlock(&self, text: &str) -> String {
        hmac_hex(&self.shares, text.as_bytes())
    }

    /// Whether `tag` (hex) is [`Self::share_unlock`] of `text`, compared in constant time.
    pub fn share_unlock_matches(&self, text: &str, tag: &str) -> bool {
        let Ok(tag) = hex::decode(tag) else { return false };
        keyed_mac(&self.shares, text.as_bytes()).verify_slice(&tag).is_ok()
    }

    /// The stored id of a session token.
    pub(crate) fn session_id(&self, token: &str) -> String {
        hmac_hex(&self.sessions, token.as_bytes())
    }
}

/// The unique-scanner key of a keyed OpenID hash (`scanner_hours.scanner`): the hash's first
/// 64 bits as a signed integer, the same value migration 7 computes in SQL from stored hashes.
///
/// Why 64 bits and not the 64-hex text: exact distinct counts sort and compare these keys, and
/// an integer is an eighth of the bytes; two scanners of a campaign may share a key, with odds
/// of about n²/2⁶⁵ (docs/design/schema.md, "64-bit scanner keys").
///
/// Hashes made by [`Keys::openid_hash`] are always lowercase hex. Anything else (never stored
/// by the ingest) is hashed with SHA-256 first, so distinct strings still get distinct keys.
pub fn scanner_key(openid_hash: &str) -> i64 {
    let parsed = openid_hash.get(..16).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit())).and_then(|h| u64::from_str_radix(h, 16).ok());
    let bits = parsed.unwrap_or_else(|| {
        use sha2::Digest;
        let digest = Sha256::digest(openid_hash.as_bytes());
        u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
    });
    // Two's complement: the top bit becomes the sign, as PostgreSQL's `bit(64)::bigint` does.
    bits as i64
}

/// HMAC-SHA256 of `data` under one of the purpose keys, ready to finish or verify.
fn keyed_mac(key: &[u8; 32], data: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac
}

fn hmac_hex(key: &[u8; 32], data: &[u8]) -> String {
    hex::encode(keyed_mac(key, data).finalize().into_bytes())
}

/// From now on, files and directories this process creates are its user's only (umask 077):
/// the database with its -wal and -shm, the spools, backups, the accounts file. Set once at
/// start, before any thread creates a file (Linux; elsewhere nothing changes).
pub fn restrict_umask() {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::Mode;
        rustix::process::umask(Mode::RWXG | Mode::RWXO);
    }
}

/// A warning in the log when an existing key file can be read by other users than its owner
/// (made by hand, or copied with a loose mode): it opens every secret in the database.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "{} can be read by other users (mode {:o}): it opens every stored secret; run chmod 600 on it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // create_new: two instances starting at once never overwrite each other's key.
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load_or_create(dir.path()).unwrap();
        let b = Keys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.openid_hash("o1"), b.openid_hash("o1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(Keys::from_base64("c2hvcnQ=").is_err());
        assert!(Keys::from_base64("not base64 at all!").is_err());
        let ok = STANDARD.encode([7u8; 32]);
        assert!(Keys::from_base64(&ok).is_ok());
        assert!(Keys::from_base64(ok.trim_end_matches('=')).is_ok());
    }

    #[test]
    fn purposes_are_separated() {
        let k = Keys::derive(&[1u8; 32]);
        assert_ne!(k.secrets, k.sessions);
        assert_ne!(k.sessions, k.openids);
        assert!(![k.secrets, k.sessions, k.openids].contains(&k.devices));
        assert_ne!(k.openid_hash("x"), k.session_id("x"));
        let tag = k.device_tag(b"x");
        assert!(k.device_tag_matches(b"x", &tag));
        assert!(!k.device_tag_matches(b"y", &tag) && !k.device_tag_matches(b"x", &tag[..31]));
        assert!(!Keys::derive(&[2u8; 32]).device_tag_matches(b"x", &tag), "another secret key");
        assert_eq!(format!("{k:?}"), "Keys(..)");
    }

    #[test]
    fn scanner_keys_are_the_hash_prefix_as_a_signed_integer() {
        let tail = "0".repeat(48);
        assert_eq!(scanner_key(&format!("0000000000000001{tail}")), 1);
        assert_eq!(scanner_key(&format!("7fffffffffffffff{tail}")), i64::MAX);
        assert_eq!(scanner_key(&format!("8000000000000000{tail}")), i64::MIN);
        assert_eq!(scanner_key(&format!("ffffffffffffffff{tail}")), -1);
        // Only the first 64 bits count.
        assert_eq!(scanner_key(&format!("00000000000000ff{}", "e".repeat(48))), 255);
        let k = Keys::from_base64(&STANDARD.encode([3u8; 32])).unwrap();
        let h = k.openid_hash("o-1");
        assert_eq!(scanner_key(&h), u64::from_str_radix(&h[..16], 16).unwrap() as i64);
        assert_ne!(scanner_key(&h), scanner_key(&k.openid_hash("o-2")));
        // Not a stored hash: still a key, and distinct strings get distinct keys.
        assert_ne!(scanner_key("hash-of-ann"), scanner_key("hash-of-bob"));
        assert_eq!(scanner_key("short"), scanner_key("short"));
        assert_ne!(scanner_key(&format!("+000000000000001{tail}")), 1, "a sign is not hex");
    }
}
