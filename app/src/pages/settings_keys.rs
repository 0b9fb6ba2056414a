//! The API keys card of Settings (admins only): the keys with their scope, dates and status,
//! a Revoke button each, the secret of a key just created (shown once), and the form to
//! create one.

use crate::api::campaigns::AccountChoice;
use crate::api::keys::{ApiKeyRow, ApiKeysView, CreateApiKey, KeyStatus, NewKeyShown, RevokeApiKey};
use crate::components::ui::{FieldError, FormError, IslandI18n, Notice, action_error};
use crate::i18n::*;
use leptos::form::ActionForm;
use leptos::prelude::*;

/// Fields whose errors are shown next to them (the rest go to the alert above the form).
const KEY_FIELDS: &[&str] = &["name", "account_id", "expires_days"];

#[component]
pub fn ApiKeysCard(data: ApiKeysView) -> impl IntoView {
    let i18n = use_i18n();
    let ApiKeysView { keys, accounts, new_key, api_base } = data;
    view! {
        <section class="card" id="api-keys" data-testid="api-keys">
            <h2>{t!(i18n, api_keys_title)}</h2>
            <p class="small muted">
                {t!(i18n, api_keys_intro)} " " <a href="/api/v1/docs" data-testid="api-docs-link">{t!(i18n, api_keys_docs)}</a>
            </p>
            <Notice key="key_created" text=Signal::derive(move || t_string!(i18n, api_key_created_notice).to_string()) />
            <Notice key="key_revoked" text=Signal::derive(move || t_string!(i18n, api_key_revoked_notice).to_string()) />
            {new_key.map(|shown| view! { <NewKeyPanel shown=shown api_base=api_base /> })}
            <KeysTable keys=keys />
            <div class="api-key-new">
                <h3>{t!(i18n, api_key_new)}</h3>
                <NewKeyForm accounts=accounts />
            </div>
        </section>
    }
}

/// The secret of the key just created, with an example request. Server HTML only (no
/// island), so the secret is never in the page's island props.
#[component]
fn NewKeyPanel(shown: NewKeyShown, api_base: String) -> impl IntoView {
    let i18n = use_i18n();
    let curl = format!("curl -H \"Authorization: Bearer {}\" {api_base}/accounts", shown.secret);
    let name = shown.name;
    view! {
        <div class="alert alert-warn" role="status" data-testid="new-key-panel">
            <p><strong>{t!(i18n, api_key_new_title, name = name.clone())}</strong></p>
            <p>{t!(i18n, api_key_new_once)}</p>
            <pre class="code"><code data-testid="new-api-key">{shown.secret}</code></pre>
            <p class="small">{t!(i18n, api_key_new_try)}</p>
            <pre class="code" data-testid="new-api-key-example">{curl}</pre>
        </div>
    }
}

/// Every key; Revoke is a plain form post per key (a button needs no island), as on Users.
#[component]
fn KeysTable(keys: Vec<ApiKeyRow>) -> impl IntoView {
    let i18n = use_i18n();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let revoke_error = action_error(revoke);
    if keys.is_empty() {
        return view! { <p class="muted" data-testid="no-api-keys">{t!(i18n, api_keys_empty)}</p> }.into_any();
    }
    view! {
        <FormError error=revoke_error />
        <div class="table-scroll">
            <table class="table" data-testid="api-keys-table">
                <thead>
                    <tr>
                        <th>{t!(i18n, col_name)}</th>
                        <th>{t!(i18n, api_key_col_key)}</th>
                        <th>{t!(i18n, api_key_col_scope)}</th>
                        <th>{t!(i18n, created_on)}</th>
                        <th>{t!(i18n, expires_on)}</th>
                        <th>{t!(i18n, api_key_col_last_used)}</th>
                        <th>{t!(i18n, users_col_status)}</th>
                        <th>{t!(i18n, users_col_actions)}</th>
                    </tr>
                </thead>
                <tbody>
                    {keys.into_iter().map(|k| {
                        let id = k.id.to_string();
                        view! {
                            <tr data-testid="api-key-row" data-status=k.status.as_str() id=format!("api-key-{}", k.id)>
                                <td>{k.name}</td>
                                <td><code data-testid="api-key-hint">{format!("{}…", k.hint)}</code></td>
                                <td data-testid="api-key-scope">
                                    {match k.scope {
                                        Some(account) => account.into_any(),
                                        None => t!(i18n, api_key_scope_all).into_any(),
                                    }}
                                </td>
                                <td class="nowrap">{k.created_at}</td>
                                <td class="nowrap" data-testid="api-key-expires">
                                    {match k.expires_at {
                                        Some(at) => at.into_any(),
                                        None => t!(i18n, api_key_no_expiry).into_any(),
                                    }}
                                </td>
                                <td class="nowrap">
                                    {match k.last_used_at {
                                        Some(at) => at.into_any(),
                                        None => t!(i18n, api_key_never_used).into_any(),
                                    }}
                                </td>
                                <td><StatusBadge status=k.status revoked_at=k.revoked_at /></td>
                                <td>
                                    {(k.status != KeyStatus::Revoked).then(|| view! {
                                        <ActionForm action=revoke attr:class="inline-form">
                                            <input type="hidden" name="id" value=id.clone() />
                                            <button type="submit" class="btn btn-sm btn-danger" data-testid="revoke-api-key">
                                                {t!(i18n, api_key_revoke)}
                                            </button>
                                        </ActionForm>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn StatusBadge(status: KeyStatus, revoked_at: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    match status {
        KeyStatus::Active => view! { <span class="badge badge-ok">{t!(i18n, api_key_status_active)}</span> }.into_any(),
        KeyStatus::Expired => view! { <span class="badge badge-danger">{t!(i18n, api_key_status_expired)}</span> }.into_any(),
        // When, in words beside the badge (a tooltip would not show on a phone).
        KeyStatus::Revoked => view! {
            <span class="badge badge-muted">{t!(i18n, api_key_status_revoked)}</span>
            {revoked_at.map(|at| view! { " " <span class="small muted nowrap" data-testid="api-key-revoked-at">{at}</span> })}
        }
        .into_any(),
    }
}

/// Hydrated in the browser on its own (an island), so an error keeps what was typed. Its
/// props (the accounts) go into the page as JSON; they hold no secret.
#[island]
fn NewKeyForm(accounts: Vec<AccountChoice>) -> impl IntoView {
    view! { <IslandI18n><NewKeyFields accounts=accounts /></IslandI18n> }
}

#[component]
fn NewKeyFields(accounts: Vec<AccountChoice>) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<CreateApiKey>::new();
    let error = action_error(action);
    view! {
        <ActionForm action=action attr:class="form" attr:data-testid="api-key-form">
            <FormError error=error fields=KEY_FIELDS />
            <div class="form-grid">
                <label class="field">
                    <span>{t!(i18n, col_name)}</span>
                    <input name="name" required maxlength="64" autocomplete="off"
                        placeholder=move || t_string!(i18n, api_key_name_hint).to_string() />
                    <FieldError error=error name="name" />
                </label>
                <label class="field">
                    <span>{t!(i18n, api_key_col_scope)}</span>
                    <select name="account_id">
                        <option value="" selected=true>{t!(i18n, api_key_scope_all)}</option>
                        {accounts.into_iter().map(|a| view! {
                            <option value=a.id.to_string()>{format!("{} ({})", a.name, a.app_id)}</option>
                        }).collect_view()}
                    </select>
                    <FieldError error=error name="account_id" />
                </label>
                <label class="field">
                    <span>{t!(i18n, api_key_days)}</span>
                    <input name="expires_days" type="number" min="1" max="3650" step="1" inputmode="numeric" />
                    <small class="hint">{t!(i18n, api_key_days_hint)}</small>
                    <FieldError error=error name="expires_days" />
                </label>
            </div>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-testid="create-api-key" disabled=move || action.pending().get()>
                    {t!(i18n, api_key_create)}
                </button>
            </div>
        </ActionForm>
    }
}
