//! The Content-Security-Policy and the other headers every response gets, and the stricter
//! policy of rendered pages.

use axum::http::header::{self, HeaderName, HeaderValue};
use base64::Engine;
use sha2::{Digest, Sha256};

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
/// (the bundle's URLs, [`app::Assets`]), so its SHA-256 is allowed instead. `tests/security.rs`
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
pub fn hydration_script_hash(assets: &app::Assets) -> String {
    let script = app::hydration_script(assets);
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()))
}

/// Wrap a Leptos render context so that the rendered page links to `assets` and gets
/// [`page_csp`] with the nonce leptos_axum generated for this response (it provides the nonce
/// before our context runs) and the hash of the script that loads those assets: both come
/// from here, so they cannot disagree. Server functions run the same context without a
/// nonce: they keep the default policy that [`protect`] sets.
pub fn with_page_csp<F>(assets: &app::Assets, context: F) -> impl Fn() + Clone + Send + Sync + 'static
where
    F: Fn() + Clone + Send + Sync + 'static,
{
    let hash = hydration_script_hash(assets);
    let assets = assets.clone();
    move || {
        context();
        leptos::prelude::provide_context(assets.clone());
        let nonce = leptos::nonce::use_nonce();
        let response = leptos::prelude::use_context::<leptos_axum::ResponseOptions>();
        if let (Some(nonce), Some(response)) = (nonce, response)
            && let Ok(value) = HeaderValue::from_str(&page_csp(&nonce, &hash))
        {
            response.insert_header(header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

/// The headers every response gets unless its handler set its own.
pub(super) fn default_headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(BASE_CSP)),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        // Full URLs (campaign ids, filters) only to this site; other sites learn nothing.
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        // Nothing here uses these device features; deny them to anything that gets embedded.
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(
                "camera=(), microphone=(), geolocation=(), payment=(), usb=(), accelerometer=(), gyroscope=(), magnetometer=()",
            ),
        ),
        (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
    ]
}
