//! The signed-in frame: header with navigation, the user, language switch and logout.
//! Routes inside it need a session; without one the visitor is sent to the login page.

use crate::api::auth::{SignedInUser, current_user};
use crate::components::ui::ErrorPanel;
use crate::i18n::*;
use crate::urls::{login_target, urlencode};
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;

/// The session's user, loaded once by the shell; pages that need it read it inside their own
/// `<Suspense>` (`use_context::<UserResource>()`).
#[derive(Clone, Copy)]
pub struct UserResource(pub Resource<Result<Option<SignedInUser>, crate::error::AppError>>);

/// The frame around every signed-in page. The page itself (`<Outlet/>`) is rendered outside
/// any `<Suspense>` closure: a page that creates its resources inside another Suspense's
/// child closure can leave a server-rendered response waiting forever (leptos issue #4866),
/// so only the header waits for the user. Without a session the header redirects to
/// `/login?next=…`, and the page's own data calls answer 401, which redirects the same way.
#[component]
pub fn Shell() -> impl IntoView {
    let user = Resource::new_blocking(|| (), |_| current_user());
    provide_context(UserResource(user));
    let location = use_location();
    view! {
        <div class="app">
            <header class="topbar">
                <a class="brand" href="/" rel="external">
                    <span class="brand-mark" aria-hidden="true">"▦"</span>
                    <span class="brand-name">"Sceneboard"</span>
                </a>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(u)) => view! { <TopbarUser user=u /> }.into_any(),
                            Ok(None) => {
                                let next = location.pathname.get_untracked();
                                view! { <Redirect path=login_target(&next) /> }.into_any()
                            }
                            // Said once, by the status banner and the page's own error.
                            Err(crate::error::AppError::Unavailable { .. }) => ().into_any(),
                            Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                        }
                    })}
                </Suspense>
            </header>
            <StatusBanner />
            <main class="content">
                <Outlet />
            </main>
        </div>
    }
}

/// What is degraded right now, in words ([`crate::api::status`]); nothing when all is well. Loaded
/// again on every navigation. Its own errors stay quiet (the page shows those), except the
/// database not answering, which is exactly what this banner is for.
#[component]
fn StatusBanner() -> impl IntoView {
    use crate::error::AppError;
    let i18n = use_i18n();
    let location = use_location();
    let status = Resource::new(move || location.pathname.get(), |_| crate::api::status::service_status());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let lines: Vec<AnyView> = match status.await {
                    Ok(s) => {
                        let mut lines = Vec::new();
                        if let Some(since) = s.spool_full_since.clone() {
                            lines.push(view! { <p data-testid="status-spool-full">{t!(i18n, status_spool_full, since = since.clone(), count = s.refused)}</p> }.into_any());
                        } else if let Some(since) = s.db_down_since.clone() {
                            lines.push(view! { <p data-testid="status-db-down">{t!(i18n, status_db_down, since = since.clone())}</p> }.into_any());
                        }
                        if s.spool_waiting > 0 {
                            lines.push(view! { <p data-testid="status-spool-waiting">{t!(i18n, status_spool_waiting, count = s.spool_waiting)}</p> }.into_any());
                        }
                        for a in s.apis {
                            let why = match a.kind.as_deref() {
                                Some("timeout") => t_string!(i18n, api_timeout).to_string(),
                                Some("unreachable") => t_string!(i18n, api_unreachable).to_string(),
                                Some("unreadable") => t_string!(i18n, api_unreadable).to_string(),
                                _ => a.error.clone(),
                            };
                            let (account, since) = (a.account.clone(), a.since.clone());
                            lines.push(view! {
                                <p data-testid="status-api">{t!(i18n, status_api, account = account.clone(), since = since.clone(), error = why.clone())}</p>
                            }.into_any());
                        }
                        lines
                    }
                    Err(AppError::Unavailable { .. }) => vec![view! { <p data-testid="status-db-unreachable">{t!(i18n, unavailable_title)}</p> }.into_any()],
                    Err(_) => Vec::new(),
                };
                (!lines.is_empty()).then(|| view! {
                    <div class="alert alert-warn status-banner" role="status" data-testid="status-banner">{lines}</div>
                })
            })}
        </Suspense>
    }
}

/// Navigation, language switch, the signed-in user and logout.
#[component]
fn TopbarUser(user: SignedInUser) -> impl IntoView {
    let i18n = use_i18n();
    let is_admin = user.is_admin;
    let role = move || if is_admin { t_string!(i18n, role_admin) } else { t_string!(i18n, role_staff) };
    view! {
        // <details> opens the menu on phones without any JavaScript.
        <details class="nav-toggle">
            <summary>{t!(i18n, nav_menu)}</summary>
            <Nav is_admin=is_admin />
        </details>
        <nav class="nav-wide" aria-label="main">
            <NavLinks is_admin=is_admin />
        </nav>
        <div class="topbar-end">
            <LangSwitch />
            <span class="user-chip" title=move || t_string!(i18n, signed_in_as).to_string()>
                <span class="user-name" data-testid="current-user">{user.username.clone()}</span>
                <span class="badge">{role}</span>
            </span>
            <form method="post" action="/api/logout" class="inline-form">
                <button type="submit" class="btn btn-ghost btn-sm">{t!(i18n, logout)}</button>
            </form>
        </div>
    }
}

#[component]
fn Nav(is_admin: bool) -> impl IntoView {
    view! {
        <nav class="nav-narrow" aria-label="main">
            <NavLinks is_admin=is_admin />
        </nav>
    }
}

#[component]
fn NavLinks(is_admin: bool) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <ul class="nav-links">
            <li><A href="/" exact=true>{t!(i18n, nav_dashboard)}</A></li>
            <li><A href="/campaigns">{t!(i18n, nav_campaigns)}</A></li>
            <li><A href="/compare">{t!(i18n, nav_compare)}</A></li>
            {is_admin.then(|| view! {
                <li><A href="/settings">{t!(i18n, nav_settings)}</A></li>
                <li><A href="/users">{t!(i18n, nav_users)}</A></li>
            })}
        </ul>
    }
}

/// Links that switch the language through the server (`/lang/{code}`), which sets the locale
/// cookie and comes back here: works the same hydrated and with JavaScript off.
#[component]
pub fn LangSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let location = use_location();
    let here = move || {
        let q = location.search.get();
        let path = location.pathname.get();
        if q.is_empty() { path } else { format!("{path}?{q}") }
    };
    let link = move |code: &'static str| move || format!("/lang/{code}?next={}", urlencode(&here()));
    let current = move |l: Locale| move || (i18n.get_locale() == l).then_some("true");
    view! {
        <div class="lang-switch" role="group" aria-label=move || t_string!(i18n, language).to_string()>
            <a href=link("zh") rel="external" hreflang="zh" aria-current=current(Locale::zh) data-testid="lang-zh">"中文"</a>
            <a href=link("en") rel="external" hreflang="en" aria-current=current(Locale::en) data-testid="lang-en">"EN"</a>
        </div>
    }
}
