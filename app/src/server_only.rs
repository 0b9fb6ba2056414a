//! Page data that stays on the server. Only the islands (the forms) hydrate, and they get
//! their data as island props, so a page's own resources are read by the server render
//! alone. Leptos still serialises every resource into the page for hydration: on a campaign
//! page that was the trend with its chart, drawn at three sizes, a second time as JSON
//! (335 KB of a 578 KB page). This codec sends an empty string instead (docs/design/ssr.md).

use leptos::prelude::Resource;
use std::convert::Infallible;

/// A resource codec that writes nothing into the page.
pub struct ServerOnly;

impl<T> codee::Encoder<T> for ServerOnly {
    type Error = Infallible;
    type Encoded = String;

    fn encode(_: &T) -> Result<String, Infallible> {
        Ok(String::new())
    }
}

impl<T> codee::Decoder<T> for ServerOnly {
    type Error = &'static str;
    type Encoded = str;

    /// Never called: no component that reads these resources runs in the browser.
    fn decode(_: &str) -> Result<T, &'static str> {
        Err("page data is not sent to the browser")
    }
}

/// A resource of page data read only by the server render; `blocking` as in
/// `Resource::new_with_options` (the page is sent whole either way: `SsrMode::Async`).
#[track_caller]
pub fn page_data<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
    blocking: bool,
) -> Resource<T, ServerOnly>
where
    S: Send + Sync + Clone + PartialEq + 'static,
    T: Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, blocking)
}
