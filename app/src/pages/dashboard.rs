//! The dashboard: the account's headline numbers. Until an account has campaigns it
//! explains what will appear and where to start.

use crate::components::shell::UserResource;
use crate::components::ui::{EmptyState, PageHeader};
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let user = use_context::<UserResource>().map(|u| u.0);
    view! {
        <Title text=t_string!(i18n, dashboard_title).to_string() />
        <PageHeader title=Signal::derive(move || t_string!(i18n, dashboard_title).to_string()) />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let me = match user {
                    Some(r) => r.await.ok().flatten(),
                    None => None,
                };
                let name = me.as_ref().map(|u| u.username.clone()).unwrap_or_default();
                let is_admin = me.map(|u| u.is_admin).unwrap_or(false);
                view! {
                    <p class="lead" data-testid="welcome">{t!(i18n, dashboard_welcome, name = name.clone())}</p>
                    <EmptyState
                        title=Signal::derive(move || t_string!(i18n, dashboard_empty_title).to_string())
                        body=Signal::derive(move || t_string!(i18n, dashboard_empty_body).to_string())
                    >
                        {is_admin.then(|| view! {
                            <p><a class="btn btn-primary" href="/settings">{t!(i18n, dashboard_empty_admin)}</a></p>
                        })}
                    </EmptyState>
                }
            })}
        </Suspense>
    }
}
