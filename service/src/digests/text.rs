//! A digest in words: the WeCom robot's markdown and an email's subject and plain text, in
//! Chinese or English. Both channels say the same lines ([`rows`]).

use super::{Digest, Period};
use crate::Lang;
use crate::series::change_percent;

/// WeCom refuses a markdown message over 4 096 bytes.
const WECOM_MAX_BYTES: usize = 4096;

/// `▲ 12%`, `▼ 3%`, `0%`, or `—` without a previous value.
fn change(now: i64, before: i64) -> String {
    match change_percent(now, before) {
        Some(p) if p > 0 => format!("▲ {p}%"),
        Some(p) if p < 0 => format!("▼ {}%", -p),
        Some(_) => "0%".to_owned(),
        None => "—".to_owned(),
    }
}

/// The lines of a digest, shared by both channels: (label, value, change).
fn rows(d: &Digest, lang: Lang) -> [(&'static str, i64, String); 4] {
    let (t, p) = (&d.totals, &d.previous);
    [
        (lang.pick("扫码", "Scans"), t.scans, change(t.scans, p.scans)),
        (lang.pick("新关注", "New followers"), t.new_followers, change(t.new_followers, p.new_followers)),
        (lang.pick("取消关注", "Unsubscribes"), t.unsubscribes, change(t.unsubscribes, p.unsubscribes)),
        (lang.pick("净增", "Net"), t.net_followers, change(t.net_followers, p.net_followers)),
    ]
}

/// The first line; `account` is the account's name as the channel writes it.
fn title(d: &Digest, lang: Lang, account: &str) -> String {
    let span = if d.from == d.to { d.from.to_string() } else { format!("{} – {}", d.from, d.to) };
    let test = if d.test { lang.pick("【测试】", "[Test] ") } else { "" };
    let words = match (d.period, lang) {
        (Period::Daily, Lang::Zh) => format!("{account} 昨日简报（{span}）"),
        (Period::Daily, Lang::En) => format!("{account}: yesterday ({span})"),
        (Period::Weekly, Lang::Zh) => format!("{account} 上周简报（{span}）"),
        (Period::Weekly, Lang::En) => format!("{account}: last week ({span})"),
    };
    format!("{test}{words}")
}

/// The "comparison with the period before" line's words.
fn versus(d: &Digest, lang: Lang) -> &'static str {
    match d.period {
        Period::Daily => lang.pick("对比前一天", "change from the day before"),
        Period::Weekly => lang.pick("对比前一周", "change from the week before"),
    }
}

/// The expiring codes' lines: name, local expiry, whether it renews itself.
fn expiring_lines(d: &Digest, lang: Lang) -> Vec<String> {
    d.expiring
        .iter()
        .map(|c| {
            let at = c.expires_at.with_timezone(&d.zone).format("%m-%d %H:%M");
            let renew = if c.auto_renew { lang.pick("（会自动续期）", " (renews itself)") } else { "" };
            match lang {
                Lang::Zh => format!("{} · {at} 到期{renew}", c.name),
                Lang::En => format!("{} · expires {at}{renew}", c.name),
            }
        })
        .collect()
}

fn expiring_heading(d: &Digest, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("{} 个临时码即将过期", d.expiring_total),
        Lang::En if d.expiring_total == 1 => "1 temporary code expires soon".to_owned(),
        Lang::En => format!("{} temporary codes expire soon", d.expiring_total),
    }
}

/// A name as plain text in WeCom's markdown: characters that would start bold, a link, code
/// or a `<font>` tag become their full-width look-alikes, so a campaign name cannot restyle
/// the message.
fn plain(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '<' => '＜',
            '>' => '＞',
            '*' => '＊',
            '[' => '［',
            ']' => '］',
            '`' => 'ˋ',
            '#' => '＃',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

/// The WeCom robot's markdown message (its dialect: bold, quotes, `<font color>`), cut to
/// WeCom's size limit on a line boundary.
pub fn markdown(d: &Digest, lang: Lang) -> String {
    let mut out = format!("**{}**\n", title(d, lang, &plain(&d.account)));
    for (label, value, change) in rows(d, lang) {
        out.push_str(&format!("> {label}：<font color=\"info\">{value}</font>　{change}\n"));
    }
    out.push_str(&format!("<font color=\"comment\">{}</font>\n", versus(d, lang)));
    if !d.top.is_empty() {
        out.push_str(&format!("\n**{}**\n", lang.pick("带来最多关注的活动", "Campaigns that brought the most followers")));
        for (i, c) in d.top.iter().enumerate() {
            out.push_str(&format!("{}. {} · {}\n", i + 1, plain(&c.name), c.new_followers));
        }
    }
    if d.expiring_total > 0 {
        out.push_str(&format!("\n<font color=\"warning\">{}</font>\n", expiring_heading(d, lang)));
        for line in expiring_lines(d, lang) {
            out.push_str(&format!("- {}\n", plain(&line)));
        }
    }
    cut(out, WECOM_MAX_BYTES)
}

/// `text` whole if it fits in `max` bytes, else its lines that fit.
fn cut(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if out.len() + line.len() > max {
            break;
        }
        out.push_str(line);
    }
    out
}

/// An email's subject and plain-text body.
pub fn email(d: &Digest, lang: Lang) -> (String, String) {
    let mut body = format!("{}\n\n", title(d, lang, &d.account));
    for (label, value, change) in rows(d, lang) {
        body.push_str(&format!("{label}: {value} ({change})\n"));
    }
    body.push_str(&format!("({})\n", versus(d, lang)));
    if !d.top.is_empty() {
        body.push_str(&format!("\n{}\n", lang.pick("带来最多关注的活动：", "Campaigns that brought the most followers:")));
        for (i, c) in d.top.iter().enumerate() {
            body.push_str(&format!("{}. {} — {}\n", i + 1, c.name, c.new_followers));
        }
    }
    if d.expiring_total > 0 {
        body.push_str(&format!("\n{}{}\n", expiring_heading(d, lang), lang.pick("：", ":")));
        for line in expiring_lines(d, lang) {
            body.push_str(&format!("- {line}\n"));
        }
    }
    body.push_str(lang.pick("\n—— Sceneboard 自动发送\n", "\n— sent by Sceneboard\n"));
    (title(d, lang, &d.account), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digests::Expiring;
    use crate::series::{AccountTotals, TopCampaign};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn digest() -> Digest {
        let t = |scans, new, unsub| AccountTotals {
            scans,
            new_followers: new,
            unsubscribes: unsub,
            net_followers: new - unsub,
            ..Default::default()
        };
        Digest {
            account: "品牌号".into(),
            zone: chrono_tz::Asia::Shanghai,
            period: Period::Daily,
            from: day("2026-12-06"),
            to: day("2026-12-06"),
            totals: t(120, 30, 5),
            previous: t(100, 30, 10),
            top: vec![TopCampaign { id: 1, name: "春季<font>海报**".into(), new_followers: 20, scans: 80 }],
            expiring: vec![Expiring {
                name: "门店".into(),
                expires_at: Utc.with_ymd_and_hms(2026, 12, 8, 16, 30, 0).unwrap(),
                auto_renew: true,
            }],
            expiring_total: 2,
            test: false,
        }
    }

    #[test]
    fn both_channels_say_the_numbers_and_their_change() {
        let d = digest();
        let md = markdown(&d, Lang::Zh);
        assert!(md.starts_with("**品牌号 昨日简报（2026-12-06）**\n"), "{md}");
        assert!(md.contains("> 扫码：<font color=\"info\">120</font>　▲ 20%\n"), "{md}");
        assert!(md.contains("> 取消关注：<font color=\"info\">5</font>　▼ 50%\n"), "{md}");
        assert!(md.contains("> 净增：<font color=\"info\">25</font>　▲ 25%\n"), "{md}");
        assert!(md.contains("1. 春季＜font＞海报＊＊ · 20\n"), "a name cannot restyle the message: {md}");
        assert!(md.contains("2 个临时码即将过期") && md.contains("- 门店 · 12-09 00:30 到期（会自动续期）\n"), "local time: {md}");
        let (subject, body) = email(&d, Lang::En);
        assert_eq!(subject, "品牌号: yesterday (2026-12-06)");
        assert!(body.contains("New followers: 30 (0%)\n") && body.contains("(change from the day before)"), "{body}");
        assert!(body.contains("2 temporary codes expire soon:\n- 门店 · expires 12-09 00:30 (renews itself)\n"), "{body}");
        assert!(body.contains("1. 春季<font>海报** — 20"), "email text is plain, names as they are: {body}");
    }

    #[test]
    fn a_test_and_a_week_say_so_and_a_long_message_is_cut_on_a_line() {
        let mut d = digest();
        d.test = true;
        d.period = Period::Weekly;
        d.to = day("2026-12-12");
        assert!(markdown(&d, Lang::Zh).starts_with("**【测试】品牌号 上周简报（2026-12-06 – 2026-12-12）**"));
        assert!(markdown(&d, Lang::En).starts_with("**[Test] 品牌号: last week"));
        assert_eq!(email(&d, Lang::En).0, "[Test] 品牌号: last week (2026-12-06 – 2026-12-12)");
        d.top = (0..200).map(|i| TopCampaign { id: i, name: "活动名称".repeat(10), new_followers: 1, scans: 1 }).collect();
        let md = markdown(&d, Lang::Zh);
        assert!(md.len() <= WECOM_MAX_BYTES && md.ends_with('\n'), "{}", md.len());
    }

    #[test]
    fn no_previous_value_is_a_dash() {
        let mut d = digest();
        d.previous = AccountTotals::default();
        assert!(email(&d, Lang::En).1.contains("Scans: 120 (—)"));
    }
}
