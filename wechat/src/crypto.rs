//! Message signatures and AES encryption: the WXBizMsgCrypt scheme WeChat uses for callback
//! pushes (plaintext, compatible and safe mode) and for encrypted replies.
//!
//! * `signature = sha1(sorted(token, timestamp, nonce) concatenated)`, hex.
//! * `msg_signature` = the same with the `Encrypt` text as a fourth item.
//! * AES-256-CBC, key = base64(EncodingAESKey + "="), IV = first 16 key bytes; the plaintext
//!   frame is `random(16) ‖ len(4, big-endian) ‖ message ‖ appid`, PKCS#7-padded to 32-byte
//!   blocks.
//!
//! Every function here takes untrusted input and returns a [`CryptoError`] instead of panicking.

use std::fmt;
use std::str::FromStr;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::prelude::BASE64_STANDARD;
use rand::RngCore;
use secrecy::zeroize::Zeroize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::error::{CryptoError, Redacted};

/// The PKCS#7 block size of the scheme: 32 bytes, not AES's 16.
pub const PAD_BLOCK: usize = 32;

/// Length of an EncodingAESKey in characters.
pub const AES_KEY_LEN: usize = 43;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Decodes EncodingAESKeys leniently: real keys often end in a character whose low bits are not
/// zero, which strict decoders refuse although WeChat and every official SDK accept them.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How an account's callback messages travel, as chosen in the WeChat admin console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptMode {
    /// 明文模式: plaintext XML, `signature` only.
    #[default]
    Plain,
    /// 兼容模式: plaintext fields plus `Encrypt`; `msg_signature` covers the ciphertext.
    Compat,
    /// 安全模式: only `Encrypt`; replies must be encrypted too.
    Safe,
}

impl EncryptMode {
    /// The spelling used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Compat => "compat",
            Self::Safe => "safe",
        }
    }
}

impl fmt::Display for EncryptMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EncryptMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "plain" | "raw" => Ok(Self::Plain),
            "compat" | "compatible" => Ok(Self::Compat),
            "safe" | "aes" => Ok(Self::Safe),
            other => Err(format!("unknown mode {other:?}: use plain, compat or safe")),
        }
    }
}

/// SHA-1 hex of the sorted, concatenated parts: the core of both signatures.
fn sorted_sha1(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts.iter() {
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The `signature` WeChat puts on URL verification and plaintext pushes.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1(&mut [token, timestamp, nonce])
}

/// The `msg_signature` of compatible and safe mode: it also covers the `Encrypt` text.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sorted_sha1(&mut [token, timestamp, nonce, encrypt])
}

/// Compares a computed hex digest with the one received, in constant time (case-insensitive,
/// as some proxies upper-case query values).
fn digest_matches(computed: &str, given: &str) -> bool {
    if computed.len() != given.len() {
        return false;
    }
    let given = given.to_ascii_lowercase();
    computed.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Checks `signature`; `Err(SignatureMismatch)` means answer 403 and store nothing.
pub fn verify_signature(token: &str, timestamp: &str, nonce: &str, given: &str) -> Result<(), CryptoError> {
    if digest_matches(&signature(token, timestamp, nonce), given) { Ok(()) } else { Err(CryptoError::SignatureMismatch) }
}

/// Checks `msg_signature` over the `Encrypt` text; `Err(SignatureMismatch)` means 403.
pub fn verify_msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str, given: &str) -> Result<(), CryptoError> {
    if digest_matches(&msg_signature(token, timestamp, nonce, encrypt), given) { Ok(()) } else { Err(CryptoError::SignatureMismatch) }
}

/// A decrypted frame: the message plus what surrounded it, so a test can re-encrypt with the
/// same random prefix and compare byte for byte.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The 16 random bytes that open the frame.
    pub random: [u8; 16],
    /// The message (usually XML).
    pub message: String,
    /// The AppID that closed the frame.
    pub app_id: String,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted").field("message", &self.message).field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

/// One account's AES key and AppID: decrypts pushes, encrypts replies.
///
/// Built once per account from its EncodingAESKey; the key is wiped on drop and never shown by
/// `Debug`.
#[derive(Clone)]
pub struct MsgCrypt {
    key: [u8; 32],
    app_id: String,
}

impl fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgCrypt").field("key", &Redacted).field("app_id", &self.app_id).finish()
    }
}

impl Drop for MsgCrypt {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// Checks an EncodingAESKey's shape and decodes it; usable on its own to validate a form field.
pub fn decode_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    let text = encoding_aes_key.trim();
    let alphabet_ok = text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if text.len() != AES_KEY_LEN || !alphabet_ok {
        return Err(CryptoError::InvalidAesKey);
    }
    let bytes = KEY_ENGINE.decode(text).map_err(|_| CryptoError::InvalidAesKey)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::InvalidAesKey)
}

impl MsgCrypt {
    /// Builds the cipher for one account; fails on a key that is not 43 base64 characters.
    pub fn new(encoding_aes_key: &str, app_id: &str) -> Result<Self, CryptoError> {
        Ok(Self { key: decode_aes_key(encoding_aes_key)?, app_id: app_id.to_owned() })
    }

    /// The AppID whose messages this cipher accepts.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Decrypts an `Encrypt` value and checks that it was meant for this AppID.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        self.decrypt_frame(encrypt).map(|d| d.message)
    }

    /// Decrypts an `Encrypt` value and returns the whole frame (random prefix included).
    pub fn decrypt_frame(&self, encrypt: &str) -> Result<Decrypted, CryptoError> {
        let mut data = BASE64_STANDARD.decode(encrypt.trim()).map_err(|_| CryptoError::Base64)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(CryptoError::CiphertextLength(data.len()));
        }
        let dec = Aes256CbcDec::new_from_slices(&self.key, &self.key[..16]).map_err(|_| CryptoError::InvalidAesKey)?;
        let plain = dec.decrypt_padded_mut::<NoPadding>(&mut data).map_err(|_| CryptoError::CiphertextLength(0))?;
        let unpadded = unpad(plain)?;
        let (random, rest) = unpadded.split_first_chunk::<16>().ok_or(CryptoError::Truncated)?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or(CryptoError::Truncated)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| CryptoError::Truncated)?;
        if len > rest.len() {
            return Err(CryptoError::Truncated);
        }
        let (message, app_id) = rest.split_at(len);
        let app_id = String::from_utf8_lossy(app_id).into_owned();
        if app_id != self.app_id {
            return Err(CryptoError::AppIdMismatch { found: app_id });
        }
        let message = std::str::from_utf8(message).map_err(|_| CryptoError::NotUtf8)?.to_owned();
        Ok(Decrypted { random: *random, message, app_id })
    }

    /// Encrypts a reply with a fresh random prefix.
    pub fn encrypt(&self, message: &str) -> Result<String, CryptoError> {
        let mut random = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut random);
        self.encrypt_with_random(message, &random)
    }

    /// Encrypts with a caller-chosen prefix: deterministic, for tests and known vectors.
    pub fn encrypt_with_random(&self, message: &str, random: &[u8; 16]) -> Result<String, CryptoError> {
        let len = u32::try_from(message.len()).map_err(|_| CryptoError::TooLong)?;
        let body = 16 + 4 + message.len() + self.app_id.len();
        let pad = PAD_BLOCK - body % PAD_BLOCK;
        let mut frame = Vec::with_capacity(body + pad);
        frame.extend_from_slice(random);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(message.as_bytes());
        frame.extend_from_slice(self.app_id.as_bytes());
        // `pad` is 1..=32, so it fits a byte.
        frame.resize(body + pad, pad as u8);
        let enc = Aes256CbcEnc::new_from_slices(&self.key, &self.key[..16]).map_err(|_| CryptoError::InvalidAesKey)?;
        let cipher = enc.encrypt_padded_vec_mut::<NoPadding>(&frame);
        Ok(BASE64_STANDARD.encode(cipher))
    }

    /// Encrypts and signs a passive reply for safe mode, giving the whole reply XML:
    /// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`.
    pub fn seal_reply(&self, token: &str, reply: &str, timestamp: &str, nonce: &str) -> Result<String, CryptoError> {
        let encrypt = self.encrypt(reply)?;
        let sig = msg_signature(token, timestamp, nonce, &encrypt);
        Ok(crate::xml::encrypted_reply_xml(&encrypt, &sig, timestamp, nonce))
    }
}

/// Strips PKCS#7 padding with 32-byte blocks, checking every pad byte.
fn unpad(data: &[u8]) -> Result<&[u8], CryptoError> {
    let &last = data.last().ok_or(CryptoError::Padding)?;
    let pad = usize::from(last);
    if pad == 0 || pad > PAD_BLOCK || pad > data.len() {
        return Err(CryptoError::Padding);
    }
    let (body, padding) = data.split_at(data.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::Padding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn official_example_get_verify() {
        let sig = signature("AAAAA", "1714036504", "1514711492");
        assert_eq!(sig, "f464b24fc39322e44b38aa78f5edd27bd1441696");
        assert!(verify_signature("AAAAA", "1714036504", "1514711492", &sig).is_ok());
    }

    #[test]
    fn official_example_plain_post() {
        assert_eq!(signature("AAAAA", "1714037059", "486452656"), "899cf89e464efb63f54ddac96b0a0a235f53aa78");
        assert!(verify_signature("AAAAA", "1714037059", "486452656", "899CF89E464EFB63F54DDAC96B0A0A235F53AA78").is_ok());
    }

    #[test]
    fn wrong_signature_is_refused() {
        assert_eq!(
            verify_signature("AAAAA", "1714037059", "486452657", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
            Err(CryptoError::SignatureMismatch)
        );
        assert_eq!(verify_signature("AAAAA", "1", "2", ""), Err(CryptoError::SignatureMismatch));
        assert_eq!(verify_signature("AAAAA", "1", "2", "é"), Err(CryptoError::SignatureMismatch));
    }

    #[test]
    fn official_key_decodes_to_zero_bytes() {
        assert_eq!(decode_aes_key(KEY_A), Ok([0u8; 32]));
    }

    #[test]
    fn keys_with_trailing_bits_are_accepted() {
        // 'H' is 0b000111: its low four bits are not zero, strict decoders refuse it.
        assert!(decode_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH").is_ok());
        assert!(decode_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").is_ok());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(decode_aes_key("short").unwrap_err(), CryptoError::InvalidAesKey);
        assert_eq!(decode_aes_key(&"A".repeat(44)).unwrap_err(), CryptoError::InvalidAesKey);
        assert_eq!(decode_aes_key(&format!("{}-", "A".repeat(42))).unwrap_err(), CryptoError::InvalidAesKey);
        assert_eq!(decode_aes_key(&format!("{}=", "A".repeat(42))).unwrap_err(), CryptoError::InvalidAesKey);
    }

    /// Published by the official Java SDK's test suite (WXBizMsgCryptTest).
    #[test]
    fn java_sdk_vector_round_trips_byte_for_byte() {
        let crypt = MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxb11529c136998cb6").unwrap();
        let expected = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
        let frame = crypt.decrypt_frame(expected).unwrap();
        assert_eq!(frame.message, "我是中文abcd123");
        assert_eq!(&frame.random, b"aaaabbbbccccdddd");
        assert_eq!(crypt.encrypt_with_random(&frame.message, &frame.random).unwrap(), expected);
    }

    /// Published by the official Node SDK's README (decrypt + msg_signature).
    #[test]
    fn node_sdk_vector_decrypts_and_verifies() {
        let encrypt = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
        assert!(verify_msg_signature("spamtest", "1409735669", "1320562132", encrypt, "5d197aaffba7e9b25a30732f161a50dee96bd5fa").is_ok());
        let crypt = MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2").unwrap();
        let frame = crypt.decrypt_frame(encrypt).unwrap();
        assert!(frame.message.starts_with("<xml>"), "{}", frame.message);
        assert_eq!(crypt.encrypt_with_random(&frame.message, &frame.random).unwrap(), encrypt);
    }

    #[test]
    fn wrong_appid_is_refused() {
        let a = MsgCrypt::new(KEY_A, "wxaaaaaaaaaaaaaaaa").unwrap();
        let b = MsgCrypt::new(KEY_A, "wxbbbbbbbbbbbbbbbb").unwrap();
        let sealed = a.encrypt("hi").unwrap();
        assert_eq!(b.decrypt(&sealed), Err(CryptoError::AppIdMismatch { found: "wxaaaaaaaaaaaaaaaa".into() }));
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        let c = MsgCrypt::new(KEY_A, "wxba5fad812f8e6fb9").unwrap();
        assert_eq!(c.decrypt("!!!"), Err(CryptoError::Base64));
        assert_eq!(c.decrypt(""), Err(CryptoError::CiphertextLength(0)));
        assert_eq!(c.decrypt("AAAA"), Err(CryptoError::CiphertextLength(3)));
        // 32 zero bytes decrypt to noise: padding or frame must fail.
        assert!(c.decrypt(&BASE64_STANDARD.encode([0u8; 32])).is_err());
    }

    #[test]
    fn wrong_key_fails_cleanly() {
        let a = MsgCrypt::new(KEY_A, "wxba5fad812f8e6fb9").unwrap();
        let b = MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxba5fad812f8e6fb9").unwrap();
        let sealed = a.encrypt("<xml/>").unwrap();
        assert!(b.decrypt(&sealed).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let c = MsgCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx1").unwrap();
        let text = format!("{c:?}");
        assert!(text.contains("REDACTED") && !text.contains("105"), "{text}");
    }

    #[test]
    fn padding_is_a_full_block_when_aligned() {
        // 16 + 4 + 8 + 4 = 32: a full 32-byte pad block must follow.
        let c = MsgCrypt::new(KEY_A, "wx12").unwrap();
        let sealed = c.encrypt_with_random("12345678", &[1; 16]).unwrap();
        assert_eq!(BASE64_STANDARD.decode(sealed.as_bytes()).unwrap().len(), 64);
        assert_eq!(c.decrypt(&sealed).unwrap(), "12345678");
    }

    #[test]
    fn seal_reply_verifies() {
        let c = MsgCrypt::new(KEY_A, "wxba5fad812f8e6fb9").unwrap();
        let xml = c.seal_reply("AAAAA", "<xml>hi</xml>", "1714037059", "486452656").unwrap();
        let env = crate::xml::parse_encrypted_reply(&xml).unwrap();
        verify_msg_signature("AAAAA", &env.timestamp, &env.nonce, &env.encrypt, &env.msg_signature).unwrap();
        assert_eq!(c.decrypt(&env.encrypt).unwrap(), "<xml>hi</xml>");
    }

    #[test]
    fn modes_parse() {
        assert_eq!("safe".parse::<EncryptMode>(), Ok(EncryptMode::Safe));
        assert_eq!("Compat".parse::<EncryptMode>(), Ok(EncryptMode::Compat));
        assert!("x".parse::<EncryptMode>().is_err());
    }

    proptest! {
        #[test]
        fn round_trip_any_message_any_key(
            key in "[A-Za-z0-9+/]{43}",
            app_id in "wx[0-9a-f]{16}",
            message in "\\PC{0,300}",
            random in any::<[u8; 16]>(),
        ) {
            let crypt = MsgCrypt::new(&key, &app_id).unwrap();
            let sealed = crypt.encrypt_with_random(&message, &random).unwrap();
            let frame = crypt.decrypt_frame(&sealed).unwrap();
            prop_assert_eq!(&frame.message, &message);
            prop_assert_eq!(frame.random, random);
            prop_assert_eq!(frame.app_id, app_id);
        }

        #[test]
        fn decrypt_never_panics(input in "\\PC{0,200}") {
            let crypt = MsgCrypt::new(KEY_A, "wxba5fad812f8e6fb9").unwrap();
            let _ = crypt.decrypt(&input);
        }

        #[test]
        fn decrypt_never_panics_on_aligned_noise(blocks in proptest::collection::vec(any::<[u8; 16]>(), 1..8)) {
            let crypt = MsgCrypt::new(KEY_A, "wxba5fad812f8e6fb9").unwrap();
            let _ = crypt.decrypt(&BASE64_STANDARD.encode(blocks.concat()));
        }

        #[test]
        fn signature_is_order_independent(a in "[0-9a-z]{1,12}", b in "[0-9]{1,12}", c in "[0-9]{1,12}") {
            prop_assert_eq!(signature(&a, &b, &c), signature(&c, &a, &b));
            prop_assert!(verify_signature(&a, &b, &c, &signature(&a, &b, &c)).is_ok());
        }
    }
}
