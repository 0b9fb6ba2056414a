//! Fuzzes the callback's signature checks: `signature`, `msg_signature`, `verify_signature`,
//! `verify_msg_signature`, and the two entry points that use them, `verify_url` and
//! `open_push`.
//!
//! Input layout: one control byte, then up to six fields separated by `\n` — token, timestamp,
//! nonce, echostr/Encrypt, the signature given, and a body (the rest, newlines included). Text
//! is decoded lossily. Checked for every input:
//! * both signers equal an independent SHA-1 of the sorted, concatenated parts, and do not
//!   depend on argument order;
//! * a signature from the crate's own signer verifies (in any ASCII case); the same signature
//!   with one hex digit changed, one character dropped or one added never does;
//! * an arbitrary given signature verifies exactly when it equals the right one, ignoring
//!   ASCII case;
//! * `verify_url` echoes `echostr` exactly when all four parameters are present and the
//!   signature holds; `open_push` refuses a wrong or missing signature with `BadSignature`
//!   (plain and encrypted pushes), refuses plaintext in safe mode, and with a right signature
//!   gives exactly what parsing (after decrypting) the body gives.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sha1::{Digest, Sha1};
use wechat::xml::envelope_xml;
use wechat::{
    CallbackError, CallbackQuery, CryptoError, EncryptMode, InboundMessage, MAX_BODY, MsgCrypt, OpenedPush, XmlError, msg_signature,
    open_push, signature, verify_msg_signature, verify_signature, verify_url,
};

const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";

fuzz_target!(|data: &[u8]| {
    let Some((&ctrl, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(6, '\n');
    let mut next = || parts.next().unwrap_or("");
    let (token, timestamp, nonce, extra, given, body) = (next(), next(), next(), next(), next(), next());

    // Signers against the model, and order independence.
    let sig = signature(token, timestamp, nonce);
    assert_eq!(sig, model(&[token, timestamp, nonce]));
    assert_eq!(sig, signature(nonce, token, timestamp));
    assert_eq!(sig, signature(timestamp, nonce, token));
    let msig = msg_signature(token, timestamp, nonce, extra);
    assert_eq!(msig, model(&[token, timestamp, nonce, extra]));
    assert_eq!(msig, msg_signature(extra, nonce, timestamp, token));

    // The right signature verifies; any change to it does not.
    let pos = usize::from(ctrl) % 40;
    for (good, verify) in [
        (&sig, &(|s: &str| verify_signature(token, timestamp, nonce, s)) as &dyn Fn(&str) -> Result<(), CryptoError>),
        (&msig, &|s: &str| verify_msg_signature(token, timestamp, nonce, extra, s)),
    ] {
        assert_eq!(verify(good), Ok(()));
        assert_eq!(verify(&good.to_ascii_uppercase()), Ok(()));
        assert_eq!(verify(&flip(good, pos)), Err(CryptoError::SignatureMismatch));
        assert_eq!(verify(&good[..39]), Err(CryptoError::SignatureMismatch));
        assert_eq!(verify(&format!("{good}0")), Err(CryptoError::SignatureMismatch));
        assert_eq!(verify(""), Err(CryptoError::SignatureMismatch));
        let expected = if given.eq_ignore_ascii_case(good) { Ok(()) } else { Err(CryptoError::SignatureMismatch) };
        assert_eq!(verify(given), expected);
    }

    // URL verification: bits 0-3 choose which parameters are present.
    let right = ctrl & 0x40 != 0;
    let q = CallbackQuery {
        signature: (ctrl & 1 != 0).then(|| if right { sig.clone() } else { given.to_owned() }),
        timestamp: (ctrl & 2 != 0).then(|| timestamp.to_owned()),
        nonce: (ctrl & 4 != 0).then(|| nonce.to_owned()),
        echostr: (ctrl & 8 != 0).then(|| extra.to_owned()),
        ..Default::default()
    };
    let holds = q.signature.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(&sig));
    let expected = if ctrl & 0x0f == 0x0f && holds { Ok(extra) } else { Err(CallbackError::BadSignature) };
    assert_eq!(verify_url(token, &q), expected);

    // Pushes: bits 4-5 the account's mode, bit 6 a right signature, bit 7 an encrypted push.
    let mode = match (ctrl >> 4) & 3 {
        0 => EncryptMode::Plain,
        1 => EncryptMode::Compat,
        _ => EncryptMode::Safe,
    };
    let crypt = MsgCrypt::new(AES_KEY, APP_ID).expect("valid key");
    let parsed = || InboundMessage::parse(body).map_err(CallbackError::Xml);
    if ctrl & 0x80 == 0 {
        let q = CallbackQuery {
            signature: Some(if right { sig.clone() } else { given.to_owned() }),
            timestamp: Some(timestamp.to_owned()),
            nonce: Some(nonce.to_owned()),
            ..Default::default()
        };
        let holds = q.signature.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(&sig));
        let got = open_push(token, mode, Some(&crypt), &q, body);
        let expected = if mode == EncryptMode::Safe {
            Err(CallbackError::NotEncrypted)
        } else if !holds {
            Err(CallbackError::BadSignature)
        } else {
            parsed().map(|message| OpenedPush { message, encrypted: false })
        };
        assert_eq!(got, expected);
        // Without a timestamp or nonce nothing can be checked.
        let bare = CallbackQuery { timestamp: None, ..q };
        assert_eq!(open_push(token, mode, Some(&crypt), &bare, body), Err(CallbackError::BadSignature));
    } else {
        // The body travels encrypted, as WeChat sends it in safe mode.
        let encrypt = crypt.encrypt_with_random(body, &[7; 16]).expect("encrypt");
        let envelope = envelope_xml("gh_abc", &encrypt, None);
        let good = msg_signature(token, timestamp, nonce, &encrypt);
        let q = CallbackQuery {
            msg_signature: Some(if right { good.clone() } else { given.to_owned() }),
            timestamp: Some(timestamp.to_owned()),
            nonce: Some(nonce.to_owned()),
            encrypt_type: Some("aes".into()),
            ..Default::default()
        };
        let holds = q.msg_signature.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(&good));
        let got = open_push(token, mode, Some(&crypt), &q, &envelope);
        let expected = if envelope.len() > MAX_BODY {
            Err(CallbackError::Xml(XmlError::TooLarge { len: envelope.len(), max: MAX_BODY }))
        } else if !holds {
            Err(CallbackError::BadSignature)
        } else {
            parsed().map(|message| OpenedPush { message, encrypted: true })
        };
        assert_eq!(got, expected);
        if holds && envelope.len() <= MAX_BODY {
            assert_eq!(open_push(token, mode, None, &q, &envelope), Err(CallbackError::NoAesKey));
        }
        // A plaintext `signature` is no substitute for `msg_signature`.
        let no_msig = CallbackQuery { msg_signature: None, signature: Some(sig.clone()), ..q };
        assert_eq!(open_push(token, mode, Some(&crypt), &no_msig, &envelope), Err(CallbackError::BadSignature));
    }
});

/// SHA-1 hex of the sorted, concatenated parts, written independently of the crate.
fn model(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort();
    let digest = Sha1::digest(sorted.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature with the hex digit at `pos` replaced by a different one.
fn flip(sig: &str, pos: usize) -> String {
    let mut bytes = sig.as_bytes().to_vec();
    bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).expect("hex")
}
