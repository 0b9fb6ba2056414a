//! Error pages. Each sets the real HTTP status when rendered on the server.

use crate::error::set_status;
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
fn ErrorView(code: u16, title: Signal<String>, body: Signal<String>) -> impl IntoView {
    let i18n = use_i18n();
    set_status(code);
    view! {
        <Title text=title.get_untracked() />
        <section class="error-page" data-testid="error-page">
            <p class="error-code">{code}</p>
            <h1>{title}</h1>
            <p class="muted">{body}</p>
            <a class="btn btn-primary" href="/" rel="external">{t!(i18n, back_home)}</a>
        </section>
    }
}

/// 404.
#[component]
pub fn NotFound() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <ErrorView
            code=404
            title=Signal::derive(move || t_string!(i18n, not_found_title).to_string())
            body=Signal::derive(move || t_string!(i18n, not_found_body).to_string())
        />
    }
}

/// 403.
#[component]
pub fn Forbidden() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <ErrorView
            code=403
            title=Signal::derive(move || t_string!(i18n, forbidden_title).to_string())
            body=Signal::derive(move || t_string!(i18n, forbidden_body).to_string())
        />
    }
}

/// 500.
#[component]
pub fn ServerError() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <ErrorView
            code=500
            title=Signal::derive(move || t_string!(i18n, error_title).to_string())
            body=Signal::derive(move || t_string!(i18n, error_body).to_string())
        />
    }
}

/// 503: the database is not answering. Said plainly, with what still works — or, when the
/// spool's disk is full too, that scans are being refused.
#[component]
pub fn Unavailable(spool_full: bool) -> impl IntoView {
    let i18n = use_i18n();
    let body =
        move || if spool_full { t_string!(i18n, unavailable_body_full).to_string() } else { t_string!(i18n, unavailable_body).to_string() };
    view! {
        <ErrorView
            code=503
            title=Signal::derive(move || t_string!(i18n, unavailable_title).to_string())
            body=Signal::derive(body)
        />
    }
}
