//! Fuzzes the message crypto (`MsgCrypt`, `decode_aes_key`) with one fixed account (the key and
//! AppID of the official Java SDK's test vector) and, for the round trip, arbitrary keys.
//!
//! Each input is used four ways:
//! 1. as `Encrypt` text (base64 or not): `decrypt_frame` returns `Ok` or `Err`, never panics;
//! 2. base64-encoded as ciphertext: the result must equal an independent model
//!    (AES-256-CBC here, then 32-byte PKCS#7 and the `random ‖ len ‖ msg ‖ appid` frame);
//! 3. as the *plaintext frame*, encrypted here with the account's key: the fuzzer then steers
//!    the padding and frame checks directly, against the same model;
//! 4. as key, random prefix, AppID and message of a round trip: `encrypt_with_random` then
//!    `decrypt_frame` gives back all three, `encrypt` too, and another AppID is refused.
//!
//! It also feeds the input to `decode_aes_key` (accepted iff 43 base64 characters after trim).

#![no_main]

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use libfuzzer_sys::fuzz_target;
use wechat::crypto::{Decrypted, PAD_BLOCK, decode_aes_key};
use wechat::{CryptoError, MsgCrypt};

/// The official Java SDK's test account (WXBizMsgCryptTest).
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

fuzz_target!(|data: &[u8]| {
    let crypt = MsgCrypt::new(KEY, APP_ID).expect("the fixed key is valid");
    let key = decode_aes_key(KEY).expect("the fixed key is valid");
    let text = String::from_utf8_lossy(data);

    // 1. Arbitrary Encrypt text.
    match crypt.decrypt_frame(&text) {
        Ok(frame) => {
            assert_eq!(frame.app_id, APP_ID);
            assert_eq!(crypt.decrypt(&text).as_ref(), Ok(&frame.message));
            let again = crypt.encrypt_with_random(&frame.message, &frame.random).expect("re-encrypt");
            assert_eq!(crypt.decrypt_frame(&again).as_ref(), Ok(&frame));
        }
        Err(e) => assert_eq!(crypt.decrypt(&text), Err(e)),
    }

    // 2. Arbitrary ciphertext bytes.
    let got = crypt.decrypt_frame(&STANDARD.encode(data));
    if data.is_empty() || data.len() % 16 != 0 {
        assert_eq!(got, Err(CryptoError::CiphertextLength(data.len())));
    } else {
        let mut plain = data.to_vec();
        Dec::new_from_slices(&key, &key[..16]).expect("key").decrypt_padded_mut::<NoPadding>(&mut plain).expect("aligned");
        assert_eq!(got, model(&plain));
    }

    // 3. Arbitrary plaintext frame (cut to whole AES blocks).
    let frame = &data[..data.len() / 16 * 16];
    if !frame.is_empty() {
        let cipher = Enc::new_from_slices(&key, &key[..16]).expect("key").encrypt_padded_vec_mut::<NoPadding>(frame);
        assert_eq!(crypt.decrypt_frame(&STANDARD.encode(cipher)), model(frame));
    }

    // 4. Round trip under an arbitrary key and AppID.
    round_trip(data);

    // The key check: 43 characters of the base64 alphabet (after trim) and nothing else.
    let shape_ok = {
        let t = text.trim();
        t.len() == 43 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    assert_eq!(decode_aes_key(&text).is_ok(), shape_ok, "{text:?}");
    assert_eq!(MsgCrypt::new(&text, APP_ID).is_ok(), shape_ok);
});

/// What decrypting a frame must give, written from WeChat's spec independently of the crate.
fn model(plain: &[u8]) -> Result<Decrypted, CryptoError> {
    let &pad = plain.last().ok_or(CryptoError::Padding)?;
    let pad = usize::from(pad);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() || plain[plain.len() - pad..].iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::Padding);
    }
    let body = &plain[..plain.len() - pad];
    if body.len() < 20 {
        return Err(CryptoError::Truncated);
    }
    let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let rest = &body[20..];
    if len > rest.len() {
        return Err(CryptoError::Truncated);
    }
    let app_id = &rest[len..];
    if app_id != APP_ID.as_bytes() {
        return Err(CryptoError::AppIdMismatch { found: String::from_utf8_lossy(app_id).into_owned() });
    }
    let message = String::from_utf8(rest[..len].to_vec()).map_err(|_| CryptoError::NotUtf8)?;
    let mut random = [0u8; 16];
    random.copy_from_slice(&body[..16]);
    Ok(Decrypted { random, message, app_id: APP_ID.to_owned() })
}

/// Layout: 32 key bytes, 16 random bytes, one AppID length byte, the AppID, the message (each
/// cut short or zero-filled when the input ends early; text parts decoded lossily).
fn round_trip(data: &[u8]) {
    let mut cursor = data;
    let mut take = |n: usize| {
        let (head, tail) = cursor.split_at(n.min(cursor.len()));
        cursor = tail;
        head
    };
    let mut key = [0u8; 32];
    let k = take(32);
    key[..k.len()].copy_from_slice(k);
    let mut random = [0u8; 16];
    let r = take(16);
    random[..r.len()].copy_from_slice(r);
    let app_len = take(1).first().map_or(0, |&b| usize::from(b % 40));
    let app_id = String::from_utf8_lossy(take(app_len)).into_owned();
    let message = String::from_utf8_lossy(take(usize::MAX)).into_owned();

    // Any 32-byte key written as an EncodingAESKey (43 characters, no '=') is accepted as is.
    let encoding_aes_key = STANDARD_NO_PAD.encode(key);
    assert_eq!(encoding_aes_key.len(), 43);
    assert_eq!(decode_aes_key(&encoding_aes_key), Ok(key));
    let crypt = MsgCrypt::new(&encoding_aes_key, &app_id).expect("a valid key");

    let sealed = crypt.encrypt_with_random(&message, &random).expect("encrypt");
    let bytes = STANDARD.decode(&sealed).expect("base64 out");
    let body = 16 + 4 + message.len() + app_id.len();
    assert_eq!(bytes.len(), (body / PAD_BLOCK + 1) * PAD_BLOCK, "always 1..=32 bytes of padding");
    assert_eq!(crypt.decrypt_frame(&sealed), Ok(Decrypted { random, message: message.clone(), app_id: app_id.clone() }));
    assert_eq!(crypt.decrypt(&crypt.encrypt(&message).expect("encrypt")), Ok(message.clone()));

    // The same key under another AppID refuses it, naming the AppID found.
    let other = MsgCrypt::new(&encoding_aes_key, &format!("{app_id}x")).expect("a valid key");
    assert_eq!(other.decrypt(&sealed), Err(CryptoError::AppIdMismatch { found: app_id }));
}
