//! Unit tests of key rotation: a new key parses and hides in `Debug`; its file is staged, then installed.

use super::*;

#[test]
fn new_keys_parse_and_hide() {
    let k = NewKey::generate();
    let again = NewKey::parse(k.expose_base64()).unwrap();
    assert_eq!(k.keys().openid_hash("o"), again.keys().openid_hash("o"));
    assert_eq!(format!("{k:?}"), "NewKey(..)");
    assert!(NewKey::parse("c2hvcnQ=").is_err());
}

#[test]
fn key_file_is_staged_then_installed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let old = Keys::load_or_create(d).unwrap();
    let before = std::fs::read_to_string(d.join(KEY_FILE)).unwrap();
    let new = NewKey::generate();
    stage_key_file(d, &new).unwrap();
    assert!(stage_key_file(d, &new).unwrap_err().to_string().contains("stopped before it finished"));
    install_key_file(d).unwrap();
    assert_eq!(std::fs::read_to_string(d.join(KEY_FILE)).unwrap(), new.expose_base64());
    assert_eq!(std::fs::read_to_string(d.join(OLD_KEY_FILE)).unwrap(), before);
    assert!(!d.join(STAGED_KEY_FILE).exists());
    let reloaded = Keys::load_or_create(d).unwrap();
    assert_eq!(reloaded.openid_hash("o"), new.keys().openid_hash("o"));
    assert_ne!(reloaded.openid_hash("o"), old.openid_hash("o"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [KEY_FILE, OLD_KEY_FILE] {
            assert_eq!(std::fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o777, 0o600, "{f}");
        }
    }
}
