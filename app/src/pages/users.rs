//! Users (admins only).

use crate::auth::list_users;
use crate::components::ui::{ErrorPanel, Loading, PageHeader};
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn UsersPage() -> impl IntoView {
    let i18n = use_i18n();
    let users = Resource::new_blocking(|| (), |_| list_users());
    view! {
        <Title text=move || t_string!(i18n, users_title).to_string() />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match users.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(rows) => view! {
                        <PageHeader title=Signal::derive(move || t_string!(i18n, users_title).to_string()) />
                        <div class="table-wrap card">
                            <table class="table" data-testid="users-table">
                                <thead>
                                    <tr>
                                        <th>{t!(i18n, users_col_username)}</th>
                                        <th>{t!(i18n, users_col_role)}</th>
                                        <th>{t!(i18n, users_col_status)}</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows.into_iter().map(|u| view! {
                                        <tr>
                                            <td>{u.username}</td>
                                            <td>{move || if u.is_admin { t_string!(i18n, role_admin) } else { t_string!(i18n, role_staff) }}</td>
                                            <td>
                                                {move || if u.disabled {
                                                    view! { <span class="badge badge-muted">{t!(i18n, status_disabled)}</span> }.into_any()
                                                } else {
                                                    view! { <span class="badge badge-ok">{t!(i18n, status_active)}</span> }.into_any()
                                                }}
                                            </td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <p class="small muted">{t!(i18n, users_cli_hint)}</p>
                        <pre class="code">"sceneboard user add --username NAME --role staff"</pre>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
