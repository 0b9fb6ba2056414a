//! Scene values: what a parametric QR code carries and what comes back in `EventKey`.
//!
//! WeChat has two kinds: a number (`scene_id`, 1..=100000 for permanent codes) and a string
//! (`scene_str`, 1..=64 characters). Sceneboard stores either as text; this type decides which
//! kind a text is, so the code issued and the event received agree.

use std::fmt;
use std::str::FromStr;

use crate::error::SceneError;

/// Highest numeric scene WeChat accepts for permanent codes (`QR_LIMIT_SCENE`).
pub const MAX_SCENE_ID: u32 = 100_000;
/// Longest string scene, in characters.
pub const MAX_SCENE_STR: usize = 64;

/// A scene value: a number for `QR_SCENE`/`QR_LIMIT_SCENE`, a string for the `_STR_` kinds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scene {
    /// `scene_id`, 1..=100000.
    Id(u32),
    /// `scene_str`, 1..=64 characters, never a canonical number in the id range.
    Str(String),
}

impl Scene {
    /// Parses operator or event text: a canonical decimal number in 1..=100000 becomes
    /// [`Scene::Id`], anything else a [`Scene::Str`] (checked for length).
    ///
    /// "Canonical" means no sign and no leading zero, so `"007"` stays the string it was
    /// and `to_string()` gives back exactly the input.
    pub fn parse(text: &str) -> Result<Self, SceneError> {
        let canonical = !text.is_empty() && text.len() <= 6 && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
        if canonical
            && let Ok(n) = text.parse::<u32>()
            && (1..=MAX_SCENE_ID).contains(&n)
        {
            return Ok(Self::Id(n));
        }
        Self::string(text)
    }

    /// A numeric scene, checked against 1..=100000.
    pub fn id(n: u64) -> Result<Self, SceneError> {
        match u32::try_from(n) {
            Ok(n) if (1..=MAX_SCENE_ID).contains(&n) => Ok(Self::Id(n)),
            _ => Err(SceneError::IdOutOfRange(n)),
        }
    }

    /// A string scene, checked for 1..=64 characters and no control characters.
    pub fn string(text: &str) -> Result<Self, SceneError> {
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_SCENE_STR {
            return Err(SceneError::StrLength(chars));
        }
        if text.chars().any(char::is_control) {
            return Err(SceneError::StrControl);
        }
        Ok(Self::Str(text.to_owned()))
    }

    /// The `EventKey` of a `subscribe` push through this scene: `qrscene_<scene>`.
    pub fn subscribe_event_key(&self) -> String {
        format!("qrscene_{self}")
    }
}

impl fmt::Display for Scene {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(n) => write!(f, "{n}"),
            Self::Str(s) => f.write_str(s),
        }
    }
}

impl FromStr for Scene {
    type Err = SceneError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_in_range_are_ids() {
        assert_eq!(Scene::parse("1"), Ok(Scene::Id(1)));
        assert_eq!(Scene::parse("100000"), Ok(Scene::Id(100_000)));
        assert_eq!(Scene::parse("100001"), Ok(Scene::Str("100001".into())));
        assert_eq!(Scene::parse("0"), Ok(Scene::Str("0".into())));
        assert_eq!(Scene::parse("007"), Ok(Scene::Str("007".into())));
        assert_eq!(Scene::parse("spring-poster"), Ok(Scene::Str("spring-poster".into())));
    }

    #[test]
    fn strings_are_checked() {
        assert_eq!(Scene::parse(""), Err(SceneError::StrLength(0)));
        assert_eq!(Scene::parse(&"x".repeat(65)), Err(SceneError::StrLength(65)));
        assert!(Scene::parse(&"中".repeat(64)).is_ok());
        assert_eq!(Scene::parse("a\nb"), Err(SceneError::StrControl));
    }

    #[test]
    fn ids_are_checked() {
        assert_eq!(Scene::id(0), Err(SceneError::IdOutOfRange(0)));
        assert_eq!(Scene::id(100_001), Err(SceneError::IdOutOfRange(100_001)));
        assert_eq!(Scene::id(u64::MAX), Err(SceneError::IdOutOfRange(u64::MAX)));
        assert_eq!(Scene::id(42), Ok(Scene::Id(42)));
    }

    #[test]
    fn event_key() {
        assert_eq!(Scene::Id(7).subscribe_event_key(), "qrscene_7");
        assert_eq!(Scene::Str("a b".into()).subscribe_event_key(), "qrscene_a b");
    }

    proptest! {
        #[test]
        fn parse_display_round_trips(text in "\\PC{1,64}") {
            if let Ok(scene) = Scene::parse(&text) {
                prop_assert_eq!(scene.to_string(), text);
            }
        }
    }
}
