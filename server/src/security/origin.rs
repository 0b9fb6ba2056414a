//! Refusal of cross-site state-changing requests: the `Origin` (or `Referer`) of a POST must
//! be this site's.

use axum::http::Method;
use axum::http::header::{self, HeaderMap};

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
pub(super) const REFUSED: &str = "cross-origin request refused\n";

impl Guard {
    /// A guard for a site whose public base URL is `public_url` (as stored in the settings).
    pub fn new(public_url: &str) -> Self {
        let public_origin = url::Url::parse(public_url).ok().map(|u| u.origin()).filter(url::Origin::is_tuple);
        Guard { public_origin }
    }

    /// Is the public URL https (HSTS, https-only origins)?
    pub(super) fn https(&self) -> bool {
        matches!(&self.public_origin, Some(url::Origin::Tuple(scheme, _, _)) if scheme == "https")
    }

    /// Whether a request may go on. Safe methods and the callback always may. Otherwise
    /// `Origin`, or when it is absent the origin of `Referer` (older browsers leave `Origin`
    /// out of same-origin form posts), must be this site's. With neither header the request is
    /// let through: current browsers send `Origin` on every cross-origin POST (a page that
    /// hides its referrer makes it `null`, which is refused), so a request without both comes
    /// from curl, a script or a test, which carry no victim's cookie.
    pub(super) fn allows(&self, method: &Method, path: &str, headers: &HeaderMap, uri_authority: Option<&str>) -> Result<(), String> {
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
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(uri_authority);
        if self.is_own_origin(claimed, host) {
            Ok(())
        } else {
            // Only the origin part: a Referer's path and query are none of the log's business.
            let shown = url::Url::parse(claimed).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| "unparsable".into());
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
    pub(super) fn is_own_origin(&self, candidate: &str, host: Option<&str>) -> bool {
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
        let Some(host) = host.filter(|h| !h.is_empty() && !h.contains(['/', '@', '?', '#', '\\'])) else {
            return false;
        };
        let schemes: &[&str] = if self.https() { &["https"] } else { &["http", "https"] };
        schemes.iter().any(|scheme| url::Url::parse(&format!("{scheme}://{host}")).is_ok_and(|own| own.origin() == origin))
    }
}
