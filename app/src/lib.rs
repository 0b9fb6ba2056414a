//! Sceneboard's pages, shared types and server functions.
//!
//! Compiled with `ssr` into the server and with `hydrate` into the browser's wasm, where only
//! the islands (the forms, see `hydration_script`) run. Page code is the same on both sides;
//! anything that touches the database sits behind `ssr` (`api::auth::ssr`, server-function
//! bodies), and reaches the services of the `service` crate.
//!
//! - [`api`]: the server functions and the types they return (the edge to `service`).
//! - [`pages`]: one module per route area; [`components`]: the shell and shared UI pieces.
//! - [`error`]: the error every server function returns, and the request's language.
//! - [`i18n`]: the typed translations; [`urls`]: building the app's own URLs.

#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod error;
pub mod format;
pub mod i18n;
#[cfg(test)]
mod locales_test;
pub mod pages;
pub mod server_only;
pub mod urls;

use crate::i18n::*;
use components::shell::Shell;
use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};
use pages::{audit::AuditPage, campaign::CampaignPage, campaign_form::NewCampaignPage, campaign_import::ImportPage};
use pages::{campaigns::CampaignsPage, dashboard::DashboardPage, errors::NotFound, login::LoginPage};
use pages::{settings::SettingsPage, users::UsersPage};

/// Marker put into the context by the server when a page must be served without the wasm
/// (the 401 answer to a failed `POST /api/login`: the browser's URL is then `/api/login`,
/// which no client route matches).
#[derive(Clone, Copy, Debug)]
pub struct StaticOnly;

/// Marker put into the context by the server when a sign-in attempt failed.
#[derive(Clone, Copy, Debug)]
pub struct LoginFailed;

/// Where the browser fetches the site's bundle: the JS loader, the wasm and the stylesheet.
///
/// The server puts the real URLs, whose file names carry a hash of their content so they can
/// be cached for a year, into every page's context; the default is the unhashed layout
/// cargo-leptos leaves in `target/site` (what a bare render, such as a test's, links to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assets {
    pub js: String,
    pub wasm: String,
    pub css: String,
}

impl Default for Assets {
    fn default() -> Self {
        Self { js: "/pkg/sceneboard.js".into(), wasm: "/pkg/sceneboard.wasm".into(), css: "/pkg/sceneboard.css".into() }
    }
}

/// The HTML document around the app. The bundle's URLs come from the [`Assets`] in context.
pub fn shell(_options: LeptosOptions) -> impl IntoView {
    let hydrate = use_context::<StaticOnly>().is_none();
    let assets = use_context::<Assets>().unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="stylesheet" href=assets.css.clone() />
                {hydrate.then(|| view! { <Hydration assets=assets.clone() /> })}
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The one inline script of a page (the server's content security policy allows it by its
/// hash, `hydration_script`): when the page holds an island, it loads the wasm and hydrates
/// each island; either way it then marks `<body data-hydrated>`, so tests (and curious
/// operators) can tell when the forms are live.
///
/// Only islands (`#[island]`: the forms that keep typed values on an error, and the CSV
/// import with its preview and file reader) are compiled into the wasm and hydrated; every
/// other part of a page is server HTML, works the same without JavaScript, and navigation is
/// a plain page load. That keeps the wasm at about a third of the whole-app bundle
/// (docs/benchmarks/bundle-size.md, "Islands: shipped"), and pages without a form load none at all.
///
/// What Leptos' `HydrationScripts` does in islands mode, minus two things: its
/// `<link rel="preload">` of the wasm (a browser with JavaScript off still honours that
/// preload on every page and never reads the response, so after a few navigations all its
/// connections to the server are taken and the next page never loads), and the walk into
/// island children, which no island here has.
pub fn hydration_script(assets: &Assets) -> String {
    let Assets { js, wasm, .. } = assets;
    format!(
        "const done = () => document.body.setAttribute('data-hydrated', 'true');\
         if (document.querySelector('leptos-island')) {{\
         import('{js}').then(m => m.default({{module_or_path: '{wasm}'}}).then(() => {{\
         m.hydrate();\
         for (const el of document.querySelectorAll('leptos-island')) {{ const f = m[el.dataset.component]; if (f) f(el); }}\
         done();\
         }}));\
         }} else {{ done(); }}"
    )
}

#[component]
fn Hydration(assets: Assets) -> impl IntoView {
    let script = hydration_script(&assets);
    view! {
        <link rel="modulepreload" href=assets.js.clone() />
        <script type="module">{script}</script>
    }
}

/// The application: i18n, metadata and routes. Every route renders completely on the server
/// before it is sent (`SsrMode::Async`), so pages work with JavaScript off and redirects and
/// status codes are real HTTP. In the browser only its islands run (see `hydration_script`).
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <I18nContextProvider>
            <Meta name="color-scheme" content="light dark" />
            <Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
            <Title formatter=|text: String| {
                if text.is_empty() { "Sceneboard".to_string() } else { format!("{text} · Sceneboard") }
            } />
            <Router>
                <Routes fallback=|| view! { <main class="content"><NotFound /></main> }>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                    <ParentRoute path=path!("") view=Shell ssr=SsrMode::Async>
                        <Route path=path!("") view=DashboardPage />
                        <Route path=path!("campaigns") view=CampaignsPage />
                        <Route path=path!("campaigns/new") view=NewCampaignPage />
                        <Route path=path!("campaigns/import") view=ImportPage />
                        <Route path=path!("campaigns/:id") view=CampaignPage />
                        <Route path=path!("compare") view=crate::pages::compare::ComparePage />
                        <Route path=path!("audit") view=AuditPage />
                        <Route path=path!("settings") view=SettingsPage />
                        <Route path=path!("users") view=UsersPage />
                    </ParentRoute>
                </Routes>
            </Router>
        </I18nContextProvider>
    }
}
