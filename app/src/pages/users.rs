//! Users (admins only): create, disable and enable, change role, reset password.

use crate::api::auth::{ChangeUser, CreateUser, ResetUserPassword, UserRow, list_users};
use crate::components::ui::{ErrorPanel, FieldError, FormError, IslandI18n, Loading, Notice, PageHeader, action_error};
use crate::i18n::*;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn UsersPage() -> impl IntoView {
    let i18n = use_i18n();
    // Keyed on the query string, so a change (which returns here with `?changed=…`) refetches.
    let search = leptos_router::hooks::use_location().search;
    let users = Resource::new_blocking(move || search.get(), |_| list_users());
    let me = use_context::<crate::components::shell::UserResource>().map(|u| u.0);
    view! {
        <Title text=t_string!(i18n, users_title).to_string() />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                let me = match me {
                    Some(r) => r.await.ok().flatten().map(|u| u.id),
                    None => None,
                };
                match users.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(rows) => view! {
                        <PageHeader title=Signal::derive(move || t_string!(i18n, users_title).to_string()) />
                        <Notice key="created" text=Signal::derive(move || t_string!(i18n, user_created_notice).to_string()) />
                        <Notice key="changed" text=Signal::derive(move || t_string!(i18n, user_changed_notice).to_string()) />
                        <Notice key="reset" text=Signal::derive(move || t_string!(i18n, user_reset_notice).to_string()) />
                        <UsersTable rows=rows me=me />
                        <NewUserForm />
                        <p class="small muted">{t!(i18n, users_cli_hint)}</p>
                        <pre class="code">"sceneboard user add --username NAME --role staff"</pre>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn UsersTable(rows: Vec<UserRow>, me: Option<i32>) -> impl IntoView {
    let i18n = use_i18n();
    let change = ServerAction::<ChangeUser>::new();
    let reset = ServerAction::<ResetUserPassword>::new();
    let change_error = action_error(change);
    let reset_error = action_error(reset);
    view! {
        <FormError error=change_error />
        <FormError error=reset_error fields=&["password"] />
        <FieldError error=reset_error name="password" />
        <div class="table-wrap card">
            <table class="table" data-testid="users-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, users_col_username)}</th>
                        <th>{t!(i18n, users_col_role)}</th>
                        <th>{t!(i18n, users_col_status)}</th>
                        <th>{t!(i18n, users_col_actions)}</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|u| {
                        let id = u.id.to_string();
                        let (id1, id2, id3) = (id.clone(), id.clone(), id);
                        let is_me = me == Some(u.id);
                        view! {
                            <tr data-testid="user-row" data-username=u.username.clone()>
                                <td>{u.username.clone()}{is_me.then(|| view! { " " <span class="muted small">{t!(i18n, users_you)}</span> })}</td>
                                <td>{move || if u.is_admin { t_string!(i18n, role_admin) } else { t_string!(i18n, role_staff) }}</td>
                                <td>
                                    {move || if u.disabled {
                                        view! { <span class="badge badge-muted">{t!(i18n, status_disabled)}</span> }.into_any()
                                    } else {
                                        view! { <span class="badge badge-ok">{t!(i18n, status_active)}</span> }.into_any()
                                    }}
                                </td>
                                <td class="row-actions">
                                    <ActionForm action=change attr:class="inline-form">
                                        <input type="hidden" name="id" value=id1 />
                                        <input type="hidden" name="change" value=if u.is_admin { "staff" } else { "admin" } />
                                        <button type="submit" class="btn btn-sm" data-testid="toggle-role">
                                            {if u.is_admin { t_string!(i18n, users_make_staff) } else { t_string!(i18n, users_make_admin) }}
                                        </button>
                                    </ActionForm>
                                    <ActionForm action=change attr:class="inline-form">
                                        <input type="hidden" name="id" value=id2 />
                                        <input type="hidden" name="change" value=if u.disabled { "enable" } else { "disable" } />
                                        <button type="submit" class="btn btn-sm" data-testid="toggle-disabled">
                                            {if u.disabled { t_string!(i18n, users_enable) } else { t_string!(i18n, users_disable) }}
                                        </button>
                                    </ActionForm>
                                    <details class="inline-details">
                                        <summary class="btn btn-sm">{t!(i18n, users_reset_password)}</summary>
                                        <ActionForm action=reset attr:class="inline-form">
                                            <input type="hidden" name="id" value=id3 />
                                            <input type="password" name="password" required minlength="8" autocomplete="new-password"
                                                aria-label=move || t_string!(i18n, users_new_password).to_string()
                                                placeholder=move || t_string!(i18n, users_new_password).to_string() />
                                            <button type="submit" class="btn btn-sm btn-primary">{t!(i18n, save)}</button>
                                        </ActionForm>
                                    </details>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Hydrated in the browser on its own (an island), so an error keeps what was typed.
/// Disabling, role changes and password resets are buttons: they stay plain forms.
#[island]
fn NewUserForm() -> impl IntoView {
    view! { <IslandI18n><NewUserFields /></IslandI18n> }
}

#[component]
fn NewUserFields() -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<CreateUser>::new();
    let error = action_error(action);
    view! {
        <section class="card">
            <h2>{t!(i18n, users_new)}</h2>
            <ActionForm action=action attr:class="form form-row" attr:data-testid="new-user-form">
                <FormError error=error fields=&["username", "password", "role"] />
                <label class="field">
                    <span>{t!(i18n, username)}</span>
                    <input name="username" required maxlength="64" autocomplete="off" />
                    <FieldError error=error name="username" />
                </label>
                <label class="field">
                    <span>{t!(i18n, password)}</span>
                    <input name="password" type="password" required minlength="8" autocomplete="new-password" />
                    <FieldError error=error name="password" />
                </label>
                <label class="field">
                    <span>{t!(i18n, users_col_role)}</span>
                    <select name="role">
                        <option value="staff" selected=true>{t!(i18n, role_staff)}</option>
                        <option value="admin">{t!(i18n, role_admin)}</option>
                    </select>
                </label>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" data-testid="create-user">{t!(i18n, users_create)}</button>
                </div>
            </ActionForm>
        </section>
    }
}
