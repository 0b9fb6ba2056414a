//! The HTML of a share link: a page of its own, outside the signed-in app. It links to nothing
//! but itself (range presets, the other language) and the site's stylesheet, so nothing else
//! of the account can be reached from it, and it loads no script.

use crate::html::esc;
use app::format::thousands;
use service::analytics::{CampaignTrend, Comparison, Lang, Metric};
use service::series::change_percent;
use std::fmt::Write as _;

/// The range presets a viewer can pick: `days` values and their words.
pub const PRESETS: [(&str, &str, &str); 4] = [
    ("7", "近 7 天", "Last 7 days"),
    ("30", "近 30 天", "Last 30 days"),
    ("90", "近 90 天", "Last 90 days"),
    ("month", "本月", "This month"),
];

/// What every share page needs around its body.
pub struct Frame<'a> {
    pub lang: Lang,
    pub css: &'a str,
    pub token: &'a str,
    /// The preset shown (`days`), for the links.
    pub days: &'a str,
    /// When the link stops working, in words.
    pub until: Option<String>,
}

impl Frame<'_> {
    fn base(&self) -> String {
        format!("/s/{}", esc(self.token))
    }

    fn page(&self, title: &str, body: &str) -> String {
        let lang = self.lang;
        let other = match lang {
            Lang::Zh => ("en", "English"),
            Lang::En => ("zh", "中文"),
        };
        // The other language's link, unless there is no link to stay on (a token that opens nothing).
        let switch = if self.token.is_empty() {
            String::new()
        } else {
            format!(
                "<a class=\"btn btn-sm\" href=\"{}?days={}&amp;lang={}\" data-testid=\"share-lang\">{}</a>",
                self.base(),
                esc(self.days),
                other.0,
                other.1
            )
        };
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"robots\" content=\"noindex, nofollow\"><meta name=\"referrer\" content=\"same-origin\">\
             <title>{title}</title><link rel=\"stylesheet\" href=\"{css}\"></head>\
             <body><main class=\"content shared\" data-testid=\"shared\"><header class=\"page-header\"><h1>{title}</h1>{switch}</header>{body}\
             <p class=\"small muted\">{footer}{until}</p></main></body></html>",
            html_lang = lang.pick("zh-CN", "en"),
            title = esc(title),
            css = esc(self.css),
            footer = lang.pick("只读视图，由 Sceneboard 分享。", "A read-only view shared from Sceneboard."),
            until = self.until.as_deref().map(esc).unwrap_or_default(),
        );
        h
    }

    fn presets(&self) -> String {
        let mut h = String::from("<nav class=\"presets\" data-testid=\"share-presets\">");
        for (days, zh, en) in PRESETS {
            let current = if days == self.days { " aria-current=\"page\"" } else { "" };
            let _ = write!(
                h,
                "<a class=\"btn btn-sm\" href=\"{}?days={days}&amp;lang={}\"{current}>{}</a> ",
                self.base(),
                self.lang.code(),
                self.lang.pick(zh, en)
            );
        }
        h.push_str("</nav>");
        h
    }

    /// A campaign: its totals beside the period before, the chart, retention.
    pub fn campaign(&self, t: &CampaignTrend, svg: &str) -> String {
        let lang = self.lang;
        let mut b = self.presets();
        let _ =
            write!(b, "<p class=\"small muted\" data-testid=\"share-range\">{} – {} ({})</p>", t.range.from, t.range.to, esc(t.tz.name()));
        b.push_str("<div class=\"metric-cards trend-cards\">");
        for m in Metric::ALL {
            let (value, previous) = (m.of_totals(&t.totals), m.of_totals(&t.previous_totals));
            let change = match change_percent(value, previous) {
                Some(p) if p > 0 => format!("▲ +{p}%"),
                Some(p) if p < 0 => format!("▼ {p}%"),
                Some(_) => "0%".to_owned(),
                None => "—".to_owned(),
            };
            let _ = write!(
                b,
                "<div class=\"metric\" data-testid=\"share-card-{key}\"><span class=\"metric-label\">{label}</span>\
                 <span class=\"metric-value\">{value}</span><span class=\"change\" title=\"{prev_words} {pf} – {pt}: {previous}\">{change}</span></div>",
                key = m.as_str(),
                label = m.label(lang),
                value = thousands(value),
                prev_words = lang.pick("上一周期", "Previous period"),
                pf = t.previous.0,
                pt = t.previous.1,
            );
        }
        b.push_str("</div>");
        let _ = write!(b, "<div class=\"chart\" data-testid=\"share-chart\">{svg}</div>");
        let _ =
            write!(b, "<h2>{}</h2><div class=\"metric-cards retention\" data-testid=\"share-retention\">", lang.pick("留存", "Retention"));
        for r in &t.retention {
            let pct = r.percent().map_or_else(|| "—".to_owned(), |p| format!("{p}%"));
            let of = if r.eligible > 0 {
                format!("{} / {}", r.retained, r.eligible)
            } else {
                lang.pick("还没有满期的新关注", "no new follower old enough yet").to_owned()
            };
            let after = match lang {
                Lang::Zh => format!("{} 天后", r.days),
                Lang::En => format!("After {} days", r.days),
            };
            let _ = write!(
                b,
                "<div class=\"metric\"><span class=\"metric-label\">{after}</span><span class=\"metric-value\">{pct}</span><span class=\"small muted\">{of}</span></div>"
            );
        }
        b.push_str("</div>");
        self.page(&t.name, &b)
    }

    /// A group: its campaigns compared on new followers, and their totals.
    pub fn group(&self, group: &str, c: &Comparison, svg: &str) -> String {
        let lang = self.lang;
        let mut b = self.presets();
        let _ =
            write!(b, "<p class=\"small muted\" data-testid=\"share-range\">{} – {} ({})</p>", c.range.from, c.range.to, esc(c.tz.name()));
        let _ = write!(b, "<div class=\"chart\" data-testid=\"share-chart\">{svg}</div>");
        let heads = [Metric::Scans, Metric::NewFollowers, Metric::Unsubscribes, Metric::NetFollowers, Metric::UniqueScanners];
        // Scrolls sideways on a phone: focusable, so a keyboard can scroll it too.
        let _ = write!(
            b,
            "<div class=\"table-scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{}\"><table class=\"table\" data-testid=\"share-table\"><thead><tr><th>{}</th>",
            lang.pick("各活动合计", "Totals by campaign"),
            lang.pick("活动", "Campaign")
        );
        for m in heads {
            let _ = write!(b, "<th class=\"num\">{}</th>", m.label(lang));
        }
        let _ = write!(b, "<th class=\"num\">{}</th></tr></thead><tbody>", lang.pick("7 天留存", "7-day retention"));
        let mut sums = [0i64; 4];
        for r in &c.rows {
            let _ = write!(b, "<tr><td>{}</td>", esc(&r.name));
            for (i, m) in heads.iter().enumerate() {
                let v = m.of_totals(&r.totals);
                if i < 4 {
                    sums[i] += v;
                }
                let _ = write!(b, "<td class=\"num\">{}</td>", thousands(v));
            }
            let _ = write!(b, "<td class=\"num\">{}</td></tr>", r.retention_7d.map_or_else(|| "—".to_owned(), |p| format!("{p}%")));
        }
        let _ = write!(b, "</tbody><tfoot><tr><th>{}</th>", lang.pick("合计", "Total"));
        for v in sums {
            let _ = write!(b, "<th class=\"num\">{}</th>", thousands(v));
        }
        // Unique scanners do not add up across campaigns (one person may scan several codes).
        b.push_str("<th class=\"num\">—</th><th class=\"num\">—</th></tr></tfoot></table></div>");
        self.page(group, &b)
    }

    /// The password form; `error` when the one given was wrong or too many were tried.
    pub fn password(&self, error: Option<&str>) -> String {
        let lang = self.lang;
        let mut b = String::new();
        if let Some(e) = error {
            let _ = write!(b, "<p class=\"form-error\" role=\"alert\" data-testid=\"share-error\">{}</p>", esc(e));
        }
        let _ = write!(
            b,
            "<form method=\"post\" action=\"{base}?days={days}&amp;lang={code}\" class=\"card\"><label class=\"field\"><span>{label}</span>\
             <input type=\"password\" name=\"password\" required autocomplete=\"current-password\" data-testid=\"share-password\"></label>\
             <button type=\"submit\" class=\"btn btn-primary\">{view}</button></form>",
            base = self.base(),
            days = esc(self.days),
            code = lang.code(),
            label = lang.pick("密码", "Password"),
            view = lang.pick("查看", "View"),
        );
        self.page(lang.pick("这个分享需要密码", "This shared view needs a password"), &b)
    }
}

/// The one page for a token that opens nothing.
pub fn gone(lang: Lang, css: &str) -> String {
    let frame = Frame { lang, css, token: "", days: "30", until: None };
    let text = lang.pick("这个链接不存在，或已被撤销、已过期。", "This link does not exist, or was revoked or has expired.");
    frame.page(lang.pick("链接无效", "Link not available"), &format!("<p data-testid=\"share-gone\">{text}</p>"))
}
