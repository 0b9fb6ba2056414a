//! The two locale files say the same things: the same keys, and in each text the same
//! `{{ placeholders }}` and `<components>` (leptos_i18n fails the build on a missing key, but
//! not on a placeholder only one language has). Error messages of the services have their own
//! table and test (`service::msg`).

use std::collections::{BTreeMap, BTreeSet};

fn locale(text: &str) -> BTreeMap<String, String> {
    let v: serde_json::Value = serde_json::from_str(text).expect("a locale file is JSON");
    v.as_object()
        .expect("a locale file is one object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_else(|| panic!("{k} is not a plain string")).to_owned()))
        .collect()
}

/// `{{ name }}` names and `<tag>` names of a text.
fn slots(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for part in text.split("{{").skip(1) {
        out.insert(format!("{{{{{}}}}}", part.split("}}").next().unwrap_or("").trim()));
    }
    for part in text.split('<').skip(1) {
        let tag = part.split(['>', ' ', '/']).next().unwrap_or("");
        if !tag.is_empty() {
            out.insert(format!("<{tag}>"));
        }
    }
    out
}

#[test]
fn slots_are_read() {
    assert_eq!(slots("Line {{ line }}: <b>x</b> {{n}}"), BTreeSet::from(["{{line}}".into(), "{{n}}".into(), "<b>".into()]));
}

#[test]
fn both_locales_have_the_same_keys_and_placeholders() {
    let zh = locale(include_str!("../locales/zh.json"));
    let en = locale(include_str!("../locales/en.json"));
    let only_zh: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
    let only_en: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
    assert!(only_zh.is_empty() && only_en.is_empty(), "keys only in zh: {only_zh:?}; only in en: {only_en:?}");
    for (key, zh_text) in &zh {
        let en_text = &en[key];
        assert_eq!(slots(zh_text), slots(en_text), "{key}: zh {zh_text:?} and en {en_text:?} have different placeholders");
        assert!(!zh_text.trim().is_empty() && !en_text.trim().is_empty(), "{key} is empty in one language");
    }
}
