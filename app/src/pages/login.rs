//! The login page. The form posts to `POST /api/login` (docs/contract.md), so it works with
//! JavaScript off; the server answers a failed attempt with this page and a 401.

use crate::LoginFailed;
use crate::api::auth::{current_user, setup_needed};
use crate::components::shell::LangSwitch;
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let failed = use_context::<LoginFailed>().is_some();
    if failed {
        crate::error::set_status(401);
    }
    let next = use_query_map().with_untracked(|q| q.get("next").unwrap_or_default());
    let state = Resource::new_blocking(|| (), |_| async { (current_user().await, setup_needed().await) });
    view! {
        <Title text=t_string!(i18n, login_title).to_string() />
        <main class="auth-page">
            <div class="auth-card card">
                <div class="auth-brand">
                    <span class="brand-mark" aria-hidden="true">"▦"</span>
                    <span class="brand-name">"Sceneboard"</span>
                </div>
                <p class="muted">{t!(i18n, tagline)}</p>
                <h1>{t!(i18n, login_title)}</h1>
                <p class="muted small">{t!(i18n, login_subtitle)}</p>
                {failed.then(|| view! {
                    <p class="alert alert-error" role="alert" data-testid="login-error">{t!(i18n, login_failed)}</p>
                })}
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match state.await {
                            (Ok(Some(_)), _) if !failed => view! { <Redirect path="/" /> }.into_any(),
                            (_, Ok(true)) => view! {
                                <div class="alert alert-info" data-testid="setup-hint">
                                    <strong>{t!(i18n, no_users_title)}</strong>
                                    <p>{t!(i18n, no_users_body)}</p>
                                    <pre class="code">"sceneboard user add --username admin --role admin"</pre>
                                </div>
                            }.into_any(),
                            _ => ().into_any(),
                        }
                    })}
                </Suspense>
                <form method="post" action="/api/login" class="form">
                    <input type="hidden" name="next" value=next />
                    <label class="field">
                        <span>{t!(i18n, username)}</span>
                        <input name="username" type="text" autocomplete="username" required maxlength="64" autofocus />
                    </label>
                    <label class="field">
                        <span>{t!(i18n, password)}</span>
                        <input name="password" type="password" autocomplete="current-password" required maxlength="1024" />
                    </label>
                    <button type="submit" class="btn btn-primary btn-block">{t!(i18n, login_submit)}</button>
                </form>
                <div class="auth-footer">
                    <LangSwitch />
                </div>
            </div>
        </main>
    }
}
