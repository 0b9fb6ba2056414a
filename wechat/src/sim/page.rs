//! The simulator's one HTML page: issued codes with buttons to play a user (scan as a new or
//! existing follower, unsubscribe), and the latest pushes. Plain forms, no JavaScript.
//! Its handlers are here too: `/` and the forms' `/sim/scan` and `/sim/unsubscribe`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Form, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;

use super::{Follower, IssuedCode, Scanner, SimApp, SimState};

/// What the page shows of one account.
pub(super) struct AppView<'a> {
    pub app: &'a SimApp,
    pub codes: &'a [IssuedCode],
    pub followers: Vec<&'a Follower>,
    pub tags: &'a BTreeMap<u64, String>,
}

/// Escapes text for HTML content and attribute values.
pub(super) fn esc(text: &str) -> String {
    crate::xml::escape(text)
}

/// Renders the page.
pub(super) fn render(apps: &[AppView<'_>], log: &[&str], now: i64, mount: &str) -> String {
    let mount = esc(mount);
    let mut h = String::with_capacity(8192);
    h.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>WeChat simulator</title><style>\
         body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}\
         table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}\
         th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
         code{font-size:.85em;word-break:break-all}form{display:inline}\
         .muted{color:#777}.expired{color:#a00}</style></head><body>\
         <h1>WeChat simulator</h1>\
         <p class=\"muted\">A local stand-in for api.weixin.qq.com. Codes appear here once the app issues them; \
         each button plays a WeChat user and pushes the event to the account's callback.</p>",
    );
    if !log.is_empty() {
        h.push_str("<h2>Latest activity</h2><ul>");
        for line in log.iter().take(10) {
            let _ = write!(h, "<li>{}</li>", esc(line));
        }
        h.push_str("</ul>");
    }
    for view in apps {
        let app = view.app;
        let _ = write!(
            h,
            "<h2>{} <span class=\"muted\">({}, {} mode)</span></h2><p>Callback: {}</p>",
            esc(&app.name),
            esc(&app.app_id),
            app.mode,
            app.callback_url
                .as_deref()
                .map_or_else(|| "<em>none: scans are recorded, not pushed</em>".to_owned(), |u| format!("<code>{}</code>", esc(u))),
        );
        let subscribed: Vec<&&Follower> = view.followers.iter().filter(|f| f.subscribed).collect();
        h.push_str("<h3>Codes</h3>");
        if view.codes.is_empty() {
            h.push_str("<p class=\"muted\">No code issued yet.</p>");
        } else {
            h.push_str("<table><tr><th>Kind</th><th>Scene</th><th>URL in the code</th><th>Expires</th><th>Play a user</th></tr>");
            for code in view.codes.iter().rev() {
                let expired = code.expires_at.is_some_and(|at| at <= now);
                let expires = match code.expires_at {
                    None => "never".to_owned(),
                    Some(at) if at <= now => "<span class=\"expired\">expired</span>".to_owned(),
                    Some(at) => format!("in {}", human(at - now)),
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>",
                    esc(&code.action_name),
                    esc(&code.scene.to_string()),
                    esc(&code.url),
                    expires
                );
                if expired {
                    h.push_str("<span class=\"muted\">WeChat ignores scans of expired codes</span>");
                } else {
                    let t = esc(&code.ticket);
                    let _ = write!(
                        h,
                        "<form method=\"post\" action=\"{mount}/sim/scan\"><input type=\"hidden\" name=\"ticket\" value=\"{t}\">\
                         <input type=\"hidden\" name=\"who\" value=\"new\"><button>Scan as a new follower</button></form> "
                    );
                    if !view.followers.is_empty() {
                        let _ = write!(
                            h,
                            "<form method=\"post\" action=\"{mount}/sim/scan\"><input type=\"hidden\" name=\"ticket\" value=\"{t}\">\
                             <input type=\"hidden\" name=\"who\" value=\"existing\"><select name=\"openid\" aria-label=\"follower\">"
                        );
                        for f in &view.followers {
                            let state = if f.subscribed { "" } else { " (left)" };
                            let _ = write!(h, "<option value=\"{0}\">{0}{1}</option>", esc(&f.openid), state);
                        }
                        h.push_str("</select> <button>Scan as this follower</button></form>");
                    }
                }
                h.push_str("</td></tr>");
            }
            h.push_str("</table>");
        }
        let _ = write!(h, "<h3>Followers ({} following)</h3>", subscribed.len());
        if view.followers.is_empty() {
            h.push_str("<p class=\"muted\">Nobody yet: scan a code as a new follower.</p>");
        } else {
            h.push_str("<table><tr><th>OpenID</th><th>Status</th><th>Came through</th><th>Tags</th><th></th></tr>");
            for f in &view.followers {
                let tags: Vec<String> = f.tags.iter().map(|id| view.tags.get(id).cloned().unwrap_or_else(|| id.to_string())).collect();
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>",
                    esc(&f.openid),
                    if f.subscribed { "following" } else { "left" },
                    f.scene.as_ref().map_or_else(|| "—".to_owned(), |s| format!("scene <code>{}</code>", esc(&s.to_string()))),
                    esc(&tags.join(", ")),
                );
                if f.subscribed {
                    let _ = write!(
                        h,
                        "<form method=\"post\" action=\"{}/sim/unsubscribe\"><input type=\"hidden\" name=\"app_id\" value=\"{}\">\
                         <input type=\"hidden\" name=\"openid\" value=\"{}\"><button>Unsubscribe</button></form>",
                        mount,
                        esc(&app.app_id),
                        esc(&f.openid)
                    );
                }
                h.push_str("</td></tr>");
            }
            h.push_str("</table>");
        }
    }
    h.push_str("</body></html>");
    h
}

fn human(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// `showqrcode` stand-in: an SVG that names the code's URL (the app renders real QR images
/// itself from `url`).
pub(super) fn placeholder_svg(url: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"430\" height=\"430\" viewBox=\"0 0 430 430\">\
         <rect width=\"430\" height=\"430\" fill=\"#fff\" stroke=\"#000\"/>\
         <text x=\"215\" y=\"200\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"16\">simulated QR code</text>\
         <text x=\"215\" y=\"230\" text-anchor=\"middle\" font-family=\"monospace\" font-size=\"11\">{}</text></svg>",
        esc(url)
    )
}

pub(super) async fn index(State(state): State<SimState>) -> Html<String> {
    let now = state.now();
    let inner = state.lock();
    let apps: Vec<AppView<'_>> = inner
        .apps
        .values()
        .map(|a| AppView { app: &a.cfg, codes: &a.codes, followers: a.followers.values().collect(), tags: &a.tags })
        .collect();
    let log: Vec<&str> = inner.log.iter().map(String::as_str).collect();
    Html(render(&apps, &log, now, &state.settings.mount_path))
}

#[derive(Deserialize)]
pub(super) struct ScanForm {
    ticket: String,
    who: String,
    #[serde(default)]
    openid: String,
}

pub(super) async fn scan_form(State(state): State<SimState>, Form(form): Form<ScanForm>) -> Redirect {
    let scanner = match form.who.as_str() {
        "new" => Scanner::NewFollower,
        _ => Scanner::Existing(Some(form.openid).filter(|o| !o.is_empty())),
    };
    if let Err(e) = state.scan(&form.ticket, scanner).await {
        state.lock().note(format!("scan refused: {e}"));
    }
    Redirect::to(page_path(&state))
}

#[derive(Deserialize)]
pub(super) struct UnsubscribeForm {
    app_id: String,
    openid: String,
}

pub(super) async fn unsubscribe_form(State(state): State<SimState>, Form(form): Form<UnsubscribeForm>) -> Redirect {
    if let Err(e) = state.unsubscribe(&form.app_id, &form.openid).await {
        state.lock().note(format!("unsubscribe refused: {e}"));
    }
    Redirect::to(page_path(&state))
}

/// Where the page lives: `/`, or the mount path itself (axum's `nest` maps `/` to it).
fn page_path(state: &SimState) -> &str {
    match state.settings.mount_path.as_str() {
        "" => "/",
        mount => mount,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
    }

    #[test]
    fn empty_page_renders() {
        let app = SimApp::sandbox();
        let tags = BTreeMap::new();
        let html = render(&[AppView { app: &app, codes: &[], followers: vec![], tags: &tags }], &["<b>x</b>"], 0, "");
        assert!(html.contains("No code issued yet"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
    }
}
