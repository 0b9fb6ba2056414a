//! Settings (admins only): the WeChat accounts and how to point WeChat at Sceneboard.

use crate::components::ui::{ErrorPanel, Loading, PageHeader};
use crate::i18n::*;
use crate::settings::settings_overview;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new_blocking(|| (), |_| settings_overview());
    view! {
        <Title text=move || t_string!(i18n, settings_title).to_string() />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(o) => view! {
                        <PageHeader title=Signal::derive(move || t_string!(i18n, settings_title).to_string()) />
                        <section class="card">
                            <h2>{t!(i18n, settings_accounts)}</h2>
                            {if o.accounts.is_empty() {
                                view! { <p class="muted" data-testid="no-accounts">{t!(i18n, settings_accounts_empty)}</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="plain-list">
                                        {o.accounts.into_iter().map(|a| view! {
                                            <li><strong>{a.name}</strong>" · "<code>{a.app_id}</code>" · "<code>{a.callback_url}</code></li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                            <p class="small">{t!(i18n, settings_callback_hint)}</p>
                            <pre class="code" data-testid="callback-template">{o.callback_template}</pre>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
