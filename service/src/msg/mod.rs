//! Every message a service error shows a person, in Simplified Chinese and English.
//!
//! Decision: errors carry a [`Msg`] (what happened, with its values), never prose; the door to
//! the user (a server function, a route) picks the words with [`Msg::text`] in the request's
//! language. Both translations sit side by side in [`messages!`] below, so a message without
//! its Chinese (or English) does not compile, and arguments are typed fields, not strings.
//! `Display` is the English text: logs, the CLI and scripts keep reading English.
//!
//! To add a message: add a line to the table (`Name { arg: Type } => zh "…{arg}…", en "…{arg}…";`)
//! and return `Msg::Name { .. }`. The test `both_languages_use_the_same_placeholders` checks
//! that both texts name the same arguments.

mod wechat;
mod words;

pub use wechat::from_wechat;
pub use words::word;

use std::fmt;

/// The two interface languages (also of charts' words).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Simplified Chinese, the default.
    #[default]
    Zh,
    En,
}

impl Lang {
    /// `en` is English; anything else the default, Simplified Chinese.
    pub fn parse(s: Option<&str>) -> Self {
        if s.is_some_and(|s| s.trim().eq_ignore_ascii_case("en")) { Lang::En } else { Lang::Zh }
    }

    /// The code of the language cookie and of `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// The interface language as leptos_i18n picks it for a request: the language cookie
    /// (`zh`/`en`, set by `/lang/{code}`), else the zh/en tag of `Accept-Language` with the
    /// highest q, else Chinese. So a server's error speaks the language of the page it lands on.
    pub fn from_request(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        match cookie.map(str::trim) {
            Some("en") => return Lang::En,
            Some("zh") => return Lang::Zh,
            _ => {}
        }
        let mut best: Option<(f32, Lang)> = None;
        for item in accept_language.unwrap_or_default().split(',') {
            let mut fields = item.split(';');
            let tag = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = fields.find_map(|f| f.trim().strip_prefix("q=")?.parse::<f32>().ok()).unwrap_or(1.0);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Zh, |(_, lang)| lang)
    }
}

/// Declares [`Msg`] from a table of `Variant { fields } => zh "…", en "…";` lines, plus the
/// few variants that wrap other messages (written out below, as their text nests).
macro_rules! messages {
    ($( $(#[$doc:meta])* $name:ident $({ $($arg:ident : $ty:ty),* $(,)? })? => zh $zh:literal, en $en:literal; )*) => {
        /// A message for a person, with its values; words come from [`Msg::text`].
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Msg {
            $( $(#[$doc])* $name $({ $($arg: $ty),* })?, )*
            /// WeChat answered with an error code: explained per code (see `wechat.rs`).
            Wechat { errcode: i64, errmsg: String },
            /// WeChat did not issue a code, and why.
            CodeNotIssued(Box<Msg>),
            /// A connection test failed, and why.
            NotConnected(Box<Msg>),
            /// Several problems of one thing (a CSV row), in order.
            Several(Vec<Msg>),
        }

        impl Msg {
            /// The message in `lang`.
            pub fn text(&self, lang: Lang) -> String {
                match self {
                    $( #[allow(unused_variables, reason = "a message may not show every value it carries")] Msg::$name $({ $($arg),* })? => match lang {
                        Lang::Zh => format!($zh),
                        Lang::En => format!($en),
                    }, )*
                    Msg::Wechat { errcode, errmsg } => wechat::explain(lang, *errcode, errmsg),
                    Msg::CodeNotIssued(why) => match lang {
                        Lang::Zh => format!("微信没有生成二维码：{}", why.text(lang)),
                        Lang::En => format!("WeChat did not issue the code: {}", why.text(lang)),
                    },
                    Msg::NotConnected(why) => match lang {
                        Lang::Zh => format!("连接失败：{}", why.text(lang)),
                        Lang::En => format!("Not connected: {}", why.text(lang)),
                    },
                    Msg::Several(all) => {
                        let sep = if lang == Lang::Zh { "；" } else { "; " };
                        all.iter().map(|m| m.text(lang)).collect::<Vec<_>>().join(sep)
                    }
                }
            }
        }

        /// Name, Chinese and English text of every table line (for the tests).
        #[cfg(test)]
        pub(crate) const CATALOG: &[(&str, &str, &str)] = &[$( (stringify!($name), $zh, $en) ),*];
    };
}

impl fmt::Display for Msg {
    /// English, for logs, the CLI and scripts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(Lang::En))
    }
}

mod table;
pub use table::*;

#[cfg(test)]
mod tests;
