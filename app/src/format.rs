//! Figures as people read them: `12,345` with a comma between thousands (the form both
//! languages' readers expect in dashboards).

use num_format::{Locale, ToFormattedString};

pub fn thousands(v: i64) -> String {
    v.to_formatted_string(&Locale::en)
}

/// An RFC 3339 time with its offset (`2026-12-20T10:00:00+08:00`, as the shared types carry
/// times) as a page shows it: the local date and minute, `2026-12-20 10:00`. Anything else is
/// shown as it is.
pub fn minute(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(head) if rfc3339.as_bytes().get(10) == Some(&b'T') => head.replacen('T', " ", 1),
        _ => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_time_shows_its_local_minute() {
        assert_eq!(super::minute("2026-12-20T10:00:59+08:00"), "2026-12-20 10:00");
        assert_eq!(super::minute("soon"), "soon");
    }

    #[test]
    fn groups_thousands_and_keeps_the_sign() {
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(-1_234_567), "-1,234,567");
    }
}
