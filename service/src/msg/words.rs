//! Words a page and a picture drawn on the server share, read from the interface's own
//! catalogs (`app/locales/*.json`, compiled in): a metric is then named the same in a page's
//! table and in its chart or export, and translated in one place.

use super::Lang;
use std::collections::HashMap;
use std::sync::LazyLock;

fn catalog(json: &str) -> HashMap<String, String> {
    let parsed: HashMap<String, serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    parsed.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect()
}

static ZH: LazyLock<HashMap<String, String>> = LazyLock::new(|| catalog(include_str!("../../../app/locales/zh.json")));
static EN: LazyLock<HashMap<String, String>> = LazyLock::new(|| catalog(include_str!("../../../app/locales/en.json")));

/// The interface's word for `key` in `lang`; the key itself should a catalog lack it (the test
/// below makes sure none does).
pub fn word(lang: Lang, key: &'static str) -> &'static str {
    let table: &'static HashMap<String, String> = match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    };
    table.get(key).map_or(key, String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_are_read() {
        assert_eq!(word(Lang::Zh, "metric_new_followers"), "新增关注");
        assert_eq!(word(Lang::En, "metric_new_followers"), "New followers");
        assert_eq!(word(Lang::En, "no_such_key"), "no_such_key");
    }

    #[test]
    fn every_metric_is_named_in_both_languages() {
        for m in crate::analytics::Metric::ALL {
            for lang in [Lang::Zh, Lang::En] {
                assert_ne!(m.label(lang), m.locale_key(), "{m:?} has no word in {lang:?}");
            }
        }
    }
}
