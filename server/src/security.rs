//! Hardening of the web surface: security headers (with a Content-Security-Policy) on every
//! response, refusal of cross-site state-changing requests, and the sign-in rate limiter.
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
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

// ---------------------------------------------------------------------------------------------
// Sign-in rate limiting
// ---------------------------------------------------------------------------------------------

/// Failed sign-ins allowed per username within [`LOGIN_WINDOW`].
pub const USERNAME_LIMIT: usize = 5;
/// Failed sign-ins allowed per client address within [`LOGIN_WINDOW`] (many usernames, one
/// guesser).
pub const IP_LIMIT: usize = 20;
/// The sliding window both limits count over.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most usernames (and, separately, addresses) remembered at once: a flood of made-up
/// usernames evicts old entries instead of growing memory (each entry holds at most its
/// limit of timestamps, so the limiter stays well under a few MiB).
const MAX_KEYS: usize = 10_000;

/// Counts failed sign-ins per username and per client address over a sliding window, and
/// refuses further attempts once either is at its limit.
///
/// In memory, per instance: several instances behind a load balancer each allow the limit, so
/// an attacker spread over N instances gets N times the attempts; a restart forgets. That is
/// accepted here: the limit is there to make online guessing slow, and argon2 already makes
/// each guess cost. Written by hand rather than with `governor`: its keyed limiter is a GCRA
/// bucket that can only be checked by consuming a cell, has no bound on its number of keys,
/// and cannot take back an attempt that turned out to be a success, all three of which this
/// needs.
#[derive(Clone)]
pub struct LoginLimiter {
    inner: Arc<Mutex<Limits>>,
}

struct Limits {
    usernames: Windows<String>,
    ips: Windows<IpAddr>,
}

/// One attempt let through by [`LoginLimiter::begin`]: already counted as a failure, so
/// concurrent guesses cannot all slip in before the first one is recorded. Hand it back to
/// [`LoginLimiter::succeeded`] or [`LoginLimiter::not_counted`] when it was not a failure.
#[must_use]
pub struct Attempt {
    username: String,
    ip: Option<IpAddr>,
    at: Instant,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(USERNAME_LIMIT, IP_LIMIT, LOGIN_WINDOW)
    }
}

impl LoginLimiter {
    /// A limiter allowing `per_username` and `per_ip` failures within `window`.
    pub fn new(per_username: usize, per_ip: usize, window: Duration) -> Self {
        LoginLimiter {
            inner: Arc::new(Mutex::new(Limits {
                usernames: Windows::new(per_username, window, MAX_KEYS),
                ips: Windows::new(per_ip, window, MAX_KEYS),
            })),
        }
    }

    /// Let an attempt at `username` from `ip` go on, counting it as a failure until told
    /// otherwise; or refuse it with how long until the next attempt would be allowed.
    pub fn begin(&self, username: &str, ip: Option<IpAddr>) -> Result<Attempt, Duration> {
        self.begin_at(username, ip, Instant::now())
    }

    fn begin_at(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt, Duration> {
        let username = username_key(username);
        let ip = ip.map(ip_key);
        let mut limits = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let wait_user = limits.usernames.wait(&username, now);
        let wait_ip = ip.and_then(|ip| limits.ips.wait(&ip, now));
        if let Some(wait) = wait_user.max(wait_ip) {
            return Err(wait);
        }
        limits.usernames.record(&username, now);
        if let Some(ip) = ip {
            limits.ips.record(&ip, now);
        }
        Ok(Attempt {
            username,
            ip,
            at: now,
        })
    }

    /// The attempt signed in: the username's failures are forgotten (a user who mistyped a few
    /// times starts afresh), and this attempt no longer counts against the address. Earlier
    /// failures from the address stay: signing in to one's own account must not reset the
    /// count for guesses at others.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut limits = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limits.usernames.clear(&attempt.username);
        if let Some(ip) = attempt.ip {
            limits.ips.take_back(&ip, attempt.at);
        }
    }

    /// The attempt ended in a server error, not a verdict: it counts against nobody.
    pub fn not_counted(&self, attempt: Attempt) {
        let mut limits = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        limits.usernames.take_back(&attempt.username, attempt.at);
        if let Some(ip) = attempt.ip {
            limits.ips.take_back(&ip, attempt.at);
        }
    }
}

/// Usernames are matched after trimming (as `users::authenticate` does) and case-folded, so
/// `Admin` and ` admin` share one count; overlong input is cut so a key stays small.
fn username_key(username: &str) -> String {
    username
        .trim()
        .chars()
        .take(128)
        .flat_map(char::to_lowercase)
        .collect()
}

/// IPv6 clients usually hold a whole /64, so an address is counted by its /64 prefix;
/// IPv4-mapped IPv6 addresses count as the IPv4 address they are.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Failure times per key within a sliding window, at most `limit` per key and `cap` keys.
struct Windows<K> {
    limit: usize,
    window: Duration,
    cap: usize,
    map: HashMap<K, VecDeque<Instant>>,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    fn new(limit: usize, window: Duration, cap: usize) -> Self {
        Windows {
            limit,
            window,
            cap,
            map: HashMap::new(),
        }
    }

    /// How long `key` must wait, or `None` when it is under its limit. Forgets expired times.
    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let times = self.map.get_mut(key)?;
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.is_empty() {
            self.map.remove(key);
            return None;
        }
        // Allowed again once the oldest failure in the window has left it.
        (times.len() >= self.limit).then(|| (times[0] + self.window).saturating_duration_since(now))
    }

    /// Count a failure of `key` (the caller checked [`Self::wait`] first, so the key is under
    /// its limit and the list stays bounded).
    fn record(&mut self, key: &K, now: Instant) {
        if !self.map.contains_key(key) && self.map.len() >= self.cap {
            self.make_room(now);
        }
        self.map.entry(key.clone()).or_default().push_back(now);
    }

    /// Drop expired entries; if every entry is live, drop the one with the fewest failures
    /// (the oldest among those): a flood of one-off usernames then evicts its own kind rather
    /// than the count of a username someone is really guessing at.
    fn make_room(&mut self, now: Instant) {
        let window = self.window;
        self.map.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < window)
        });
        if self.map.len() < self.cap {
            return;
        }
        let victim = self
            .map
            .iter()
            .min_by_key(|(_, times)| (times.len(), times.back().copied()))
            .map(|(k, _)| k.clone());
        if let Some(victim) = victim {
            self.map.remove(&victim);
        }
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Remove the failure recorded at `at` for `key` (the attempt was not a failure).
    fn take_back(&mut self, key: &K, at: Instant) {
        if let Some(times) = self.map.get_mut(key) {
            if let Some(i) = times.iter().rposition(|t| *t == at) {
                times.remove(i);
            }
            if times.is_empty() {
                self.map.remove(key);
            }
        }
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn v4(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn a_username_is_refused_after_its_limit_until_the_oldest_failure_expires() {
        let limiter = LoginLimiter::new(3, 100, 15 * MIN);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(
                limiter.begin_at("Admin", v4(1), t0 + i * MIN).is_ok(),
                "attempt {i}"
            );
        }
        // Same user in another spelling, from another address: still refused, until 15
        // minutes after the first failure.
        let wait = limiter
            .begin_at(" admin", v4(2), t0 + 3 * MIN)
            .err()
            .expect("limited");
        assert_eq!(wait, 12 * MIN);
        assert!(
            limiter
                .begin_at("admin", v4(2), t0 + 15 * MIN - Duration::from_millis(1))
                .is_err()
        );
        assert!(
            limiter.begin_at("admin", v4(2), t0 + 15 * MIN).is_ok(),
            "the first failure left the window"
        );
        assert!(
            limiter.begin_at("admin", v4(2), t0 + 15 * MIN).is_err(),
            "and that attempt counted again"
        );
        assert!(
            limiter
                .begin_at("someone-else", v4(2), t0 + 15 * MIN)
                .is_ok()
        );
    }

    #[test]
    fn a_success_clears_the_username_but_not_the_address() {
        let limiter = LoginLimiter::new(2, 3, 15 * MIN);
        let t0 = Instant::now();
        let _ = limiter.begin_at("a", v4(1), t0).unwrap();
        let ok = limiter.begin_at("a", v4(1), t0).unwrap();
        limiter.succeeded(ok);
        // The username is clear again; the address still has one failure, the success did
        // not count.
        let _ = limiter.begin_at("a", v4(1), t0).unwrap();
        let _ = limiter.begin_at("b", v4(1), t0).unwrap();
        assert!(
            limiter.begin_at("c", v4(1), t0).is_err(),
            "3 failures from the address"
        );
        assert!(
            limiter.begin_at("c", v4(9), t0).is_ok(),
            "another address is not affected"
        );
        // A server error counts against nobody.
        let limiter = LoginLimiter::new(1, 1, 15 * MIN);
        let err = limiter.begin_at("a", v4(1), t0).unwrap();
        limiter.not_counted(err);
        assert!(limiter.begin_at("a", v4(1), t0).is_ok());
    }

    #[test]
    fn ipv6_counts_by_64_prefix_and_mapped_ipv4_as_ipv4() {
        let limiter = LoginLimiter::new(100, 1, 15 * MIN);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _ = limiter.begin_at("x", Some(a), t0).unwrap();
        assert!(limiter.begin_at("y", Some(b), t0).is_err(), "same /64");
        assert!(limiter.begin_at("y", Some(c), t0).is_ok(), "another /64");
        let _ = limiter.begin_at("x", v4(7), t0).unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert!(limiter.begin_at("z", Some(mapped), t0).is_err());
    }

    #[test]
    fn memory_stays_bounded_and_targeted_counts_survive_a_flood() {
        let mut w: Windows<String> = Windows::new(5, 15 * MIN, 100);
        let t0 = Instant::now();
        for _ in 0..4 {
            w.record(&"victim".to_owned(), t0);
        }
        for i in 0..10_000u32 {
            w.record(
                &format!("random-{i}"),
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert!(w.map.len() <= 100, "{} keys", w.map.len());
        assert_eq!(
            w.map.get("victim").map(VecDeque::len),
            Some(4),
            "the guessed-at username keeps its count"
        );
        // Expired entries go first.
        let later = t0 + 16 * MIN;
        w.record(&"fresh".to_owned(), later);
        assert_eq!(w.map.len(), 1);
    }

    #[test]
    fn values_for_the_log_are_escaped_and_capped() {
        assert_eq!(for_log("ada"), "ada");
        assert_eq!(for_log("管理员"), "管理员", "printable text stays readable");
        assert_eq!(for_log("a\nINFO forged line\r\u{1b}[31m"), "a\\nINFO forged line\\r\\u{1b}[31m");
        let long = "x".repeat(1 << 20);
        assert_eq!(for_log(&long).chars().count(), 201, "200 characters and an ellipsis");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(720)), 720);
        assert_eq!(retry_after_secs(Duration::from_millis(720_001)), 721);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
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
