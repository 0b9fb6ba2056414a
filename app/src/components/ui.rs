//! Small, consistent UI pieces: page headers, empty states, loading and error panels.

use crate::error::AppError;
use crate::i18n::*;
use leptos::prelude::*;

/// The language context inside an island. Islands are the only parts of a page hydrated in
/// the browser (the forms; see `frontend`), and each is hydrated on its own, without the
/// context the server gave the rest of the page: this provider reads the same locale cookie
/// (or browser languages) the server's did, so the island speaks the page's language. It
/// leaves `<html lang dir>` to the page's own provider.
#[component]
pub fn IslandI18n(children: Children) -> impl IntoView {
    view! {
        <I18nContextProvider set_lang_attr_on_html=false set_dir_attr_on_html=false>
            {children()}
        </I18nContextProvider>
    }
}

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
pub fn EmptyState(title: Signal<String>, body: Signal<String>, #[prop(optional)] children: Option<Children>) -> impl IntoView {
    view! {
        <section class="empty-state">
            <div class="empty-icon" aria-hidden="true">"◎"</div>
            <h2>{title}</h2>
            <p>{body}</p>
            {children.map(|c| c())}
        </section>
    }
}

/// Placeholder while server data loads: a `Suspense` fallback. Pages are sent whole
/// (`SsrMode::Async`) and only islands run in the browser, so a browser does not see it.
#[component]
pub fn Loading() -> impl IntoView {
    let i18n = use_i18n();
    view! { <p class="loading" aria-busy="true">{t!(i18n, loading)}</p> }
}

/// A failed load, as a panel with the right HTTP status.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    use crate::pages::errors::{Forbidden, ServerError, Unavailable};
    crate::error::set_status(error.status_code());
    match error {
        AppError::Forbidden => view! { <Forbidden /> }.into_any(),
        AppError::Unauthorized => {
            let here = leptos_router::hooks::use_location().pathname.get_untracked();
            view! { <leptos_router::components::Redirect path=crate::urls::login_target(&here) /> }.into_any()
        }
        AppError::NotFound => view! { <crate::pages::errors::NotFound /> }.into_any(),
        AppError::Unavailable { spool_full } => view! { <Unavailable spool_full=spool_full /> }.into_any(),
        _ => view! { <ServerError /> }.into_any(),
    }
}

/// The message under a form field when the last submission failed on that field.
#[component]
pub fn FieldError(error: Signal<Option<AppError>>, name: &'static str) -> impl IntoView {
    move || error.get().and_then(|e| e.for_field(name)).map(|m| view! { <span class="field-error" role="alert" data-field=name>{m}</span> })
}

/// The alert above a form when the last submission failed for a reason that is not about one
/// field (WeChat refused, server error, rows of an import).
#[component]
pub fn FormError(error: Signal<Option<AppError>>, #[prop(optional)] fields: &'static [&'static str]) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        let e = error.get()?;
        if fields.iter().any(|f| e.for_field(f).is_some()) {
            return None;
        }
        let body = match e {
            AppError::Rows(rows) => view! {
                <p>{t!(i18n, import_rows_failed)}</p>
                <ul class="row-problems" data-testid="row-problems">
                    {rows.into_iter().map(|r| view! {
                        <li><strong>{t!(i18n, import_line, line = r.line)}</strong>" "{r.message}</li>
                    }).collect_view()}
                </ul>
            }
            .into_any(),
            AppError::Wechat(m) => view! { <p><strong>{t!(i18n, wechat_refused)}</strong>" "{m}</p> }.into_any(),
            AppError::Unauthorized => view! { <p>{t!(i18n, error_session)}</p> }.into_any(),
            AppError::Forbidden => view! { <p>{t!(i18n, forbidden_body)}</p> }.into_any(),
            AppError::Internal | AppError::Request(_) => view! { <p>{t!(i18n, error_body)}</p> }.into_any(),
            AppError::Unavailable { spool_full: false } => view! { <p>{t!(i18n, unavailable_body)}</p> }.into_any(),
            AppError::Unavailable { spool_full: true } => view! { <p>{t!(i18n, unavailable_body_full)}</p> }.into_any(),
            // A field's message when the form has no such field: the words alone, as the
            // field name is not for people.
            AppError::Field { message, .. } | AppError::Conflict { message, .. } => view! { <p>{message}</p> }.into_any(),
            AppError::NotFound => view! { <p>{t!(i18n, error_not_found)}</p> }.into_any(),
        };
        Some(view! { <div class="alert alert-error" role="alert" data-testid="form-error">{body}</div> })
    }
}

/// A one-line confirmation, shown when the page's query string carries `key`.
#[component]
pub fn Notice(key: &'static str, text: Signal<String>) -> impl IntoView {
    let q = leptos_router::hooks::use_query_map();
    move || {
        q.with(|q| q.get(key).is_some()).then(|| view! { <p class="alert alert-ok" role="status" data-testid="notice">{text.get()}</p> })
    }
}

/// The error of a server action's last result, as a signal.
pub fn action_error<I, O>(action: ServerAction<I>) -> Signal<Option<AppError>>
where
    I: leptos::server_fn::ServerFn<Output = O, Error = AppError> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
{
    Signal::derive(move || action.value().get().and_then(|r| r.err()))
}
