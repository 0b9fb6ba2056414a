//! Small, consistent UI pieces: page headers, empty states, loading and error panels.

use crate::error::AppError;
use crate::i18n::*;
use leptos::prelude::*;

/// The title row of a page.
#[component]
pub fn PageHeader(title: Signal<String>, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    view! {
        <header class="page-header">
            <h1>{title}</h1>
            {children.map(|c| view! { <div class="page-actions">{c()}</div> })}
        </header>
    }
}

/// What a list or chart shows before there is anything in it.
#[component]
pub fn EmptyState(
    title: Signal<String>,
    body: Signal<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <section class="empty-state">
            <div class="empty-icon" aria-hidden="true">"◎"</div>
            <h2>{title}</h2>
            <p>{body}</p>
            {children.map(|c| c())}
        </section>
    }
}

/// Placeholder while server data loads (hydrated navigation only; SSR sends it resolved).
#[component]
pub fn Loading() -> impl IntoView {
    let i18n = use_i18n();
    view! { <p class="loading" aria-busy="true">{t!(i18n, loading)}</p> }
}

/// A failed load, as a panel with the right HTTP status.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    use crate::pages::errors::{Forbidden, ServerError};
    crate::error::set_status(error.status_code());
    match error {
        AppError::Forbidden => view! { <Forbidden /> }.into_any(),
        AppError::Unauthorized => view! { <leptos_router::components::Redirect path="/login" /> }.into_any(),
        AppError::NotFound => view! { <crate::pages::errors::NotFound /> }.into_any(),
        _ => view! { <ServerError /> }.into_any(),
    }
}
