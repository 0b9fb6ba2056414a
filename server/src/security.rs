//! Hardening of the web surface: security headers (with a Content-Security-Policy) on every
//! response, and refusal of cross-site state-changing requests. The sign-in limiter is
//! `crate::login_limit`.
//!
//! The headers and the origin check are one middleware, [`protect`], wrapped around the whole
//! router (pages, server functions, images, exports, health, 404s). Rendered pages get a
//! stricter policy than the default one: see [`with_page_csp`].

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use leptos::prelude::LeptosOptions;
use sha2::{Digest, Sha256};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Content-Security-Policy and the other response headers
// ---------------------------------------------------------------------------------------------

/// The directives every response carries; rendered pages add a nonce and a hash to
/// `script-src` (see [`page_csp`]).
///
/// - `script-src 'self' 'wasm-unsafe-eval'`: the hydration bundle is `/pkg/*.js` and a wasm
///   module; browsers compile WebAssembly under a CSP only with `'wasm-unsafe-eval'` (it
///   allows no JavaScript `eval`). No `'unsafe-inline'` for scripts.
/// - `style-src 'self' 'unsafe-inline'`: pages set `style=` attributes (the dashboard's
///   campaign/organic split bar gets its widths that way) and the standalone chart SVG carries
///   its hover readout in a `<style>` element. `style-src-attr` could allow only the
///   attributes, but browsers that ignore it (older in-app WebViews, such as WeChat's on some
///   phones) would then drop the bar widths. Inline styles cannot run script, so the cost of
///   allowing them is small.
/// - `img-src 'self' data:`: codes and charts come from this site; a code with a logo embeds
///   the logo as a `data:` PNG inside its SVG, and an SVG opened on its own (or shown by a
///   browser that applies the image's own CSP) needs `data:` to draw it.
/// - `frame-ancestors 'none'` (and `X-Frame-Options: DENY` for older browsers): no framing,
///   so no clickjacking of the forms.
const BASE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
form-action 'self'; frame-ancestors 'none'";

/// The Content-Security-Policy of a rendered page: [`BASE_CSP`] plus, in `script-src`, this
/// response's nonce and the hash of the hydration script.
///
/// A page has two kinds of inline script. Leptos writes the resources it resolved on the
/// server into `<script>` chunks whose content differs on every response; leptos_axum puts a
/// fresh random nonce into each render's context and stamps it on those chunks, so the policy
/// names that nonce. The shell's own module script that loads the wasm (`Hydration` in
/// `app/src/lib.rs`) carries no nonce, but its text depends only on the site's layout
/// (`site_pkg_dir`, `output_name`), so its SHA-256 is allowed instead. `tests/security.rs`
/// checks that every inline script of a real page is covered by one or the other, so a change
/// of that script cannot silently break hydration.
pub fn page_csp(nonce: &str, hydration_hash: &str) -> String {
    BASE_CSP.replacen(
        "script-src 'self' 'wasm-unsafe-eval'",
        &format!("script-src 'self' 'wasm-unsafe-eval' 'nonce-{nonce}' 'sha256-{hydration_hash}'"),
        1,
    )
}

/// Base64 SHA-256 of the inline module script that hydrates a page, as CSP's `'sha256-…'`
/// wants it: the text `Hydration` in `app/src/lib.rs` puts into every page.
pub fn hydration_script_hash(options: &LeptosOptions) -> String {
    let script = app::hydration_script(options);
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()))
}

/// Wrap a Leptos render context so that the rendered page gets [`page_csp`] with the nonce
/// leptos_axum generated for this response (it provides the nonce before our context runs).
/// Server functions and static files run the same context without a nonce: they keep the
/// default policy that [`protect`] sets.
pub fn with_page_csp<F>(
    options: &LeptosOptions,
    context: F,
) -> impl Fn() + Clone + Send + Sync + 'static
where
    F: Fn() + Clone + Send + Sync + 'static,
{
    let hash = hydration_script_hash(options);
    move || {
        context();
        let nonce = leptos::nonce::use_nonce();
        let response = leptos::prelude::use_context::<leptos_axum::ResponseOptions>();
        if let (Some(nonce), Some(response)) = (nonce, response) {
            if let Ok(value) = HeaderValue::from_str(&page_csp(&nonce, &hash)) {
                response.insert_header(header::CONTENT_SECURITY_POLICY, value);
            }
        }
    }
}

/// The headers every response gets unless its handler set its own.
fn default_headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(BASE_CSP),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        // Full URLs (campaign ids, filters) only to this site; other sites learn nothing.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        // Nothing here uses these device features; deny them to anything that gets embedded.
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(
                "camera=(), microphone=(), geolocation=(), payment=(), usb=(), accelerometer=(), gyroscope=(), magnetometer=()",
            ),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Cross-site request refusal
// ---------------------------------------------------------------------------------------------

/// What [`protect`] needs to know about the site.
#[derive(Clone, Debug)]
pub struct Guard {
    /// The origin of `SCENEBOARD_PUBLIC_URL`: behind a reverse proxy the `Host` the server sees
    /// may be the upstream address, while browsers send the public origin.
    public_origin: Option<url::Origin>,
}

/// Path prefix of WeChat's pushes: a server-to-server POST that carries no cookie (so there is
/// nothing to forge) and is authenticated by its signature; never origin-checked.
const CALLBACK_PREFIX: &str = "/wechat/callback/";

/// The reason given with a refusal.
const REFUSED: &str = "cross-origin request refused\n";

impl Guard {
    /// A guard for a site whose public base URL is `public_url` (as stored in the settings).
    pub fn new(public_url: &str) -> Self {
        let public_origin = url::Url::parse(public_url)
            .ok()
            .map(|u| u.origin())
            .filter(url::Origin::is_tuple);
        Guard { public_origin }
    }

    /// Is the public URL https (HSTS, https-only origins)?
    fn https(&self) -> bool {
        matches!(&self.public_origin, Some(url::Origin::Tuple(scheme, _, _)) if scheme == "https")
    }

    /// Whether a request may go on. Safe methods and the callback always may. Otherwise
    /// `Origin`, or when it is absent the origin of `Referer` (older browsers leave `Origin`
    /// out of same-origin form posts), must be this site's. With neither header the request is
    /// let through: current browsers send `Origin` on every cross-origin POST (a page that
    /// hides its referrer makes it `null`, which is refused), so a request without both comes
    /// from curl, a script or a test, which carry no victim's cookie.
    fn allows(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        uri_authority: Option<&str>,
    ) -> Result<(), String> {
        if method.is_safe() || path.starts_with(CALLBACK_PREFIX) {
            return Ok(());
        }
        let claimed = match headers.get(header::ORIGIN) {
            Some(origin) => origin,
            None => match headers.get(header::REFERER) {
                Some(referer) => referer,
                None => return Ok(()),
            },
        };
        let claimed = claimed.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(uri_authority);
        if self.is_own_origin(claimed, host) {
            Ok(())
        } else {
            // Only the origin part: a Referer's path and query are none of the log's business.
            let shown = url::Url::parse(claimed)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|_| "unparsable".into());
            Err(shown)
        }
    }

    /// `candidate` (an Origin or Referer value) is this site: the request's own `Host`, or the
    /// public URL's origin. The `Host` is accepted with either scheme because TLS usually ends
    /// at a proxy, so the server cannot know which one the browser used, except when the
    /// public URL is https: then the site is only ever https (its cookies are `Secure`), and a
    /// plain-http page on the same host is another origin, e.g. a spoofed one on an untrusted
    /// network. Ports are compared with defaults filled in,
    /// so `https://a.example` equals `https://a.example:443`. `null` (sandboxed frames, some
    /// redirects) never matches.
    fn is_own_origin(&self, candidate: &str, host: Option<&str>) -> bool {
        let Ok(url) = url::Url::parse(candidate) else {
            return false;
        };
        let origin = url.origin();
        if !origin.is_tuple() {
            return false;
        }
        if self.public_origin.as_ref() == Some(&origin) {
            return true;
        }
        let Some(host) = host.filter(|h| !h.is_empty() && !h.contains(['/', '@', '?', '#', '\\']))
        else {
            return false;
        };
        let schemes: &[&str] = if self.https() { &["https"] } else { &["http", "https"] };
        schemes.iter().any(|scheme| {
            url::Url::parse(&format!("{scheme}://{host}")).is_ok_and(|own| own.origin() == origin)
        })
    }
}

/// The middleware around every route: refuses cross-site state-changing requests with 403
/// (except WeChat's callback), then adds the security headers to whatever the answer is.
pub async fn protect(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    // Server functions' answers (Settings shows callback Tokens) are never stored.
    let server_function = req.uri().path().starts_with("/api/");
    let checked = guard.allows(
        req.method(),
        req.uri().path(),
        req.headers(),
        req.uri().authority().map(|a| a.as_str()),
    );
    let mut res = match checked {
        Ok(()) => next.run(req).await,
        Err(origin) => {
            tracing::warn!(method = %req.method(), path = %for_log(req.uri().path()), origin = %for_log(&origin), "cross-origin request refused");
            (StatusCode::FORBIDDEN, REFUSED).into_response()
        }
    };
    let html = res.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    let headers = res.headers_mut();
    for (name, value) in default_headers() {
        headers.entry(name).or_insert(value);
    }
    // Pages and server-function answers: never kept by a browser's or a proxy's cache
    // (answers that set their own, such as images and exports, keep theirs).
    if html || server_function {
        headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    }
    // Under https, browsers are told to use nothing else for a year (not the subdomains: other
    // sites may live there).
    if guard.https() {
        headers.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HeaderValue::from_static("max-age=31536000"));
    }
    res
}

/// A value someone sent, fit for a log line: control characters escaped, at most 200
/// characters, so a request cannot flood the log or forge lines in it.
pub fn for_log(text: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = text.chars().take(MAX).flat_map(char::escape_debug).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_for_the_log_are_escaped_and_capped() {
        assert_eq!(for_log("ada"), "ada");
        assert_eq!(for_log("管理员"), "管理员", "printable text stays readable");
        assert_eq!(for_log("a\nINFO forged line\r\u{1b}[31m"), "a\\nINFO forged line\\r\\u{1b}[31m");
        let long = "x".repeat(1 << 20);
        assert_eq!(for_log(&long).chars().count(), 201, "200 characters and an ellipsis");
    }

    #[test]
    fn origins_are_compared_with_the_host_and_the_public_url() {
        let plain = Guard::new("http://127.0.0.1:3000");
        assert!(plain.is_own_origin("http://127.0.0.1:3000", Some("127.0.0.1:3000")));
        assert!(plain.is_own_origin("https://127.0.0.1:3000", Some("127.0.0.1:3000")), "TLS ended at a proxy");
        let guard = Guard::new("https://sb.example.com");
        let own = |c: &str, host: &str| guard.is_own_origin(c, Some(host));
        assert!(!own("http://127.0.0.1:3000", "127.0.0.1:3000"), "an https site is never plain http");
        assert!(!own("http://sb.example.com", "sb.example.com"), "the scheme counts");
        assert!(
            own("https://127.0.0.1:3000", "127.0.0.1:3000"),
            "TLS ended at a proxy"
        );
        assert!(
            own("https://127.0.0.1:3000/campaigns?x=1", "127.0.0.1:3000"),
            "a Referer"
        );
        assert!(
            own("https://sb.example.com", "10.0.0.5:3000"),
            "the public URL behind a proxy"
        );
        assert!(
            own("https://SB.example.com:443/", "10.0.0.5:3000"),
            "default port, case"
        );
        assert!(
            !own("http://127.0.0.1:3001", "127.0.0.1:3000"),
            "another port"
        );
        assert!(!own("https://evil.example", "127.0.0.1:3000"));
        assert!(!own(
            "https://sb.example.com.evil.example",
            "127.0.0.1:3000"
        ));
        assert!(!own("null", "127.0.0.1:3000"));
        assert!(!own("", "127.0.0.1:3000"));
        assert!(
            !own("http://evil.example", "evil.example/@127.0.0.1"),
            "a Host that is not a host"
        );
        assert!(!guard.is_own_origin("https://127.0.0.1:3000", None));
    }

    #[test]
    fn only_state_changing_requests_outside_the_callback_are_checked() {
        let guard = Guard::new("http://127.0.0.1:3000");
        let mut evil = HeaderMap::new();
        evil.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
        evil.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(
            guard
                .allows(&Method::GET, "/api/login", &evil, None)
                .is_ok()
        );
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(guard.allows(&m, "/api/login", &evil, None).is_err(), "{m}");
        }
        assert!(
            guard
                .allows(&Method::POST, "/wechat/callback/wx1", &evil, None)
                .is_ok()
        );
        // Origin wins over Referer; Referer is used when Origin is absent; neither: allowed.
        let mut both = evil.clone();
        both.insert(
            header::REFERER,
            HeaderValue::from_static("http://127.0.0.1:3000/login"),
        );
        assert!(
            guard
                .allows(&Method::POST, "/api/login", &both, None)
                .is_err()
        );
        both.remove(header::ORIGIN);
        assert!(
            guard
                .allows(&Method::POST, "/api/login", &both, None)
                .is_ok()
        );
        both.insert(
            header::REFERER,
            HeaderValue::from_static("https://evil.example/page"),
        );
        assert_eq!(
            guard.allows(&Method::POST, "/api/login", &both, None),
            Err("https://evil.example".to_owned())
        );
        both.remove(header::REFERER);
        assert!(
            guard
                .allows(&Method::POST, "/api/login", &both, None)
                .is_ok()
        );
    }

    #[test]
    fn the_page_policy_adds_the_nonce_and_hash_to_scripts_only() {
        let csp = page_csp("abc", "xyz=");
        let script = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(
            script.contains("'nonce-abc'") && script.contains("'sha256-xyz='"),
            "{script}"
        );
        assert!(!script.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(csp.matches("nonce-").count(), 1);
    }
}
