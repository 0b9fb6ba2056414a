//! Figures as people read them: `12,345` with a comma between thousands (the form both
//! languages' readers expect in dashboards).

use num_format::{Locale, ToFormattedString};

pub fn thousands(v: i64) -> String {
    v.to_formatted_string(&Locale::en)
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands_and_keeps_the_sign() {
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(-1_234_567), "-1,234,567");
    }
}
