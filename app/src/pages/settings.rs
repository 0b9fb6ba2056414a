//! Settings (admins only): the WeChat accounts, how to point WeChat at Sceneboard, a
//! connection test against WeChat (or the simulator), the digests (`settings_digests`) and
//! the API keys (`settings_keys`).

use crate::api::digests::digests_overview;
use crate::api::keys::api_keys_overview;
use crate::api::settings::{AccountSummary, SaveAccount, TestAccount, settings_overview};
use crate::components::ui::{ErrorPanel, FieldError, FormError, IslandI18n, Loading, Notice, PageHeader, action_error};
use crate::error::AppError;
use crate::i18n::*;
use crate::pages::settings_digests::DigestsCard;
use crate::pages::settings_keys::ApiKeysCard;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const ACCOUNT_FIELDS: &[&str] = &["name", "app_id", "app_secret", "token", "aes_key", "message_mode", "api_base_url", "timezone"];

#[component]
pub fn SettingsPage() -> impl IntoView {
    let i18n = use_i18n();
    // Keyed on the query string: after a save or a test the app comes back to this same
    // route with a new query, and the data must be fetched again.
    let search = leptos_router::hooks::use_location().search;
    let data = Resource::new_blocking(move || search.get(), |_| settings_overview());
    let digests = Resource::new_blocking(move || search.get(), |_| digests_overview());
    // Blocking, so the flash cookie of a new key is cleared in this response's headers; and
    // server-only, so its secret is not written into the page a second time as resource JSON.
    let keys = crate::server_only::page_data(move || search.get(), |_| api_keys_overview(), true);
    view! {
        <Title text=t_string!(i18n, settings_title).to_string() />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match (data.await, keys.await, digests.await) {
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => view! { <ErrorPanel error=e /> }.into_any(),
                    (Ok(o), Ok(keys), Ok(digests)) => {
                        let default_tz = o.default_timezone.clone();
                        let sim = o.simulator_url.clone();
                        view! {
                            <PageHeader title=Signal::derive(move || t_string!(i18n, settings_title).to_string())>
                                <a class="btn" href="/audit">{t!(i18n, audit_title)}</a>
                            </PageHeader>
                            <Notice key="saved" text=Signal::derive(move || t_string!(i18n, account_saved_notice).to_string()) />
                            <TestResult />
                            <section class="card">
                                <h2>{t!(i18n, settings_accounts)}</h2>
                                {if o.accounts.is_empty() {
                                    view! { <p class="muted" data-testid="no-accounts">{t!(i18n, settings_accounts_empty)}</p> }.into_any()
                                } else {
                                    view! { <div class="accounts">{o.accounts.into_iter().map(|a| view! { <AccountCard a=a /> }).collect_view()}</div> }.into_any()
                                }}
                                <p class="small">{t!(i18n, settings_callback_hint)}</p>
                                <pre class="code" data-testid="callback-template">{o.callback_template}</pre>
                            </section>
                            <DigestsCard data=digests />
                            <JobsCard jobs=o.jobs />
                            <section class="card">
                                <h2>{t!(i18n, account_add)}</h2>
                                <AccountForm account=None default_tz=default_tz simulator=sim />
                            </section>
                            <ApiKeysCard data=keys />
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Background work: how many jobs wait, run or failed, and the latest errors in words.
#[component]
fn JobsCard(jobs: crate::api::settings::JobsSummary) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card" data-testid="jobs">
            <h2>{t!(i18n, jobs_title)}</h2>
            <p class="small muted">{t!(i18n, jobs_hint)}</p>
            <div class="metric-cards">
                <div class="metric"><span class="metric-label">{t!(i18n, jobs_queued)}</span><span class="metric-value">{jobs.queued}</span></div>
                <div class="metric"><span class="metric-label">{t!(i18n, jobs_running)}</span><span class="metric-value">{jobs.running}</span></div>
                <div class="metric"><span class="metric-label">{t!(i18n, jobs_failed)}</span><span class="metric-value">{jobs.failed}</span></div>
            </div>
            {(!jobs.problems.is_empty()).then(|| view! {
                <div class="table-scroll"><table class="table">
                    <tbody>
                        {jobs.problems.into_iter().map(|(kind, attempts, error, at)| view! {
                            <tr><td class="nowrap">{at}</td><td><code>{kind}</code></td><td class="num">{attempts}</td><td>{error}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table></div>
            })}
        </section>
    }
}

/// The outcome of "Test connection", read from the page's URL (`tested`, `ok`, `msg`).
#[component]
fn TestResult() -> impl IntoView {
    let i18n = use_i18n();
    let q = use_query_map();
    move || {
        q.with(|q| {
            q.get("tested").map(|_| {
                let ok = q.get("ok").as_deref() == Some("1");
                let msg = q.get("msg").unwrap_or_default();
                let class = if ok { "alert alert-ok" } else { "alert alert-error" };
                view! {
                    <p class=class role="status" data-testid="test-result" data-ok=ok.to_string()>
                        <strong>{if ok { t_string!(i18n, account_test_ok) } else { t_string!(i18n, account_test_failed) }}</strong>
                        " " {msg}
                    </p>
                }
            })
        })
    }
}

#[component]
fn AccountCard(a: AccountSummary) -> impl IntoView {
    let i18n = use_i18n();
    let test = ServerAction::<TestAccount>::new();
    let test_error = action_error(test);
    let used = a.permanent_codes;
    let quota = a.permanent_quota;
    let id = a.id;
    let tz = a.timezone.clone();
    view! {
        <article class="account" id=format!("account-{id}") data-testid="account-card">
            <header class="account-head">
                <h3>{a.name.clone()}</h3>
                <code>{a.app_id.clone()}</code>
                <span class="badge">{mode_label(&a.message_mode)}</span>
            </header>
            // Outside safe mode WeChat signs the query string, not the message (README, Security).
            {(a.message_mode != "safe").then(|| view! {
                <p class="alert alert-warn" data-testid="mode-advice">{t!(i18n, account_mode_advice)}</p>
            })}
            <dl class="facts">
                <dt>{t!(i18n, account_callback_url)}</dt>
                <dd><code class="copyable" data-testid="callback-url">{a.callback_url.clone()}</code></dd>
                <dt>{t!(i18n, field_token)}</dt>
                <dd><code data-testid="account-token">{a.token.clone()}</code></dd>
                <dt>{t!(i18n, field_app_secret)}</dt>
                <dd>{if a.secret_set { t_string!(i18n, secret_set) } else { t_string!(i18n, secret_not_set) }}</dd>
                <dt>{t!(i18n, field_aes_key)}</dt>
                <dd>{if a.aes_key_set { t_string!(i18n, secret_set) } else { t_string!(i18n, secret_not_set) }}</dd>
                <dt>{t!(i18n, field_api_base)}</dt><dd><code>{a.api_base_url.clone()}</code></dd>
                <dt>{t!(i18n, field_timezone)}</dt><dd>{tz}</dd>
                <dt>{t!(i18n, account_quota)}</dt>
                <dd>
                    <meter min="0" max=quota.to_string() value=used.to_string() high=(quota * 9 / 10).to_string() data-testid="quota"></meter>
                    " " <span class="small muted">{format!("{used} / {quota}")}</span>
                    <br /><small class="hint">{t!(i18n, account_quota_hint)}</small>
                </dd>
            </dl>
            <ActionForm action=test attr:class="inline-form">
                <input type="hidden" name="id" value=id.to_string() />
                <button type="submit" class="btn" data-testid="test-connection" disabled=move || test.pending().get()>{t!(i18n, account_test)}</button>
            </ActionForm>
            <FormError error=test_error />
            <form method="post" action=format!("/settings/accounts/{id}/logo") enctype="multipart/form-data" class="logo-form">
                <label class="field">
                    <span>{t!(i18n, field_logo_account)}</span>
                    <input type="file" name="logo" accept="image/png" />
                </label>
                <div class="form-actions">
                    <button type="submit" class="btn btn-sm">{t!(i18n, logo_upload)}</button>
                    {a.has_logo.then(|| view! { <button type="submit" name="remove" value="1" class="btn btn-sm btn-ghost">{t!(i18n, logo_remove)}</button> })}
                </div>
            </form>
            <details class="edit-account">
                <summary class="btn btn-sm">{t!(i18n, account_edit)}</summary>
                <AccountForm account=Some(a.clone()) default_tz=a.timezone.clone() simulator=None />
            </details>
        </article>
    }
}

fn mode_label(mode: &str) -> &'static str {
    match mode {
        "safe" => "AES",
        "compat" => "AES + plain",
        _ => "plain",
    }
}

/// Add an account (`account` None) or change one. Secret fields are always empty: leaving
/// them empty keeps what is stored. Hydrated in the browser on its own (an island), so an
/// error keeps what was typed; its props go into the page as JSON, and an `AccountSummary`
/// holds no secret (only whether each is set).
#[island]
fn AccountForm(account: Option<AccountSummary>, default_tz: String, simulator: Option<String>) -> impl IntoView {
    view! { <IslandI18n><AccountFields account=account default_tz=default_tz simulator=simulator /></IslandI18n> }
}

#[component]
fn AccountFields(account: Option<AccountSummary>, default_tz: String, simulator: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<SaveAccount>::new();
    let error: Signal<Option<AppError>> = action_error(action);
    let editing = account.is_some();
    let a = account.unwrap_or(AccountSummary {
        id: 0,
        name: String::new(),
        app_id: String::new(),
        message_mode: "safe".into(),
        callback_url: String::new(),
        token: String::new(),
        secret_set: false,
        aes_key_set: false,
        api_base_url: String::new(),
        timezone: default_tz,
        permanent_codes: 0,
        permanent_quota: 0,
        has_logo: false,
    });
    let mode = a.message_mode.clone();
    let api_placeholder = simulator.clone().unwrap_or_else(|| "https://api.weixin.qq.com".into());
    view! {
        <ActionForm action=action attr:class="form" attr:data-testid=if editing { "account-edit-form" } else { "account-form" }>
            <FormError error=error fields=ACCOUNT_FIELDS />
            <input type="hidden" name="id" value=if editing { a.id.to_string() } else { String::new() } />
            <div class="form-grid">
                <label class="field">
                    <span>{t!(i18n, field_account_name)}</span>
                    <input name="name" required maxlength="64" value=a.name.clone() />
                    <FieldError error=error name="name" />
                </label>
                <label class="field">
                    <span>"AppID"</span>
                    <input name="app_id" required maxlength="18" pattern="wx[0-9a-f]{16}" value=a.app_id.clone() placeholder="wx0123456789abcdef" class="mono" />
                    <FieldError error=error name="app_id" />
                </label>
                <label class="field">
                    <span>"AppSecret"</span>
                    <input name="app_secret" type="password" autocomplete="off" required=!editing
                        placeholder=move || if editing { t_string!(i18n, secret_keep).to_string() } else { String::new() } />
                    <FieldError error=error name="app_secret" />
                </label>
                <label class="field">
                    <span>{t!(i18n, field_token)}</span>
                    <input name="token" required minlength="3" maxlength="32" value=a.token.clone() class="mono" />
                    <small class="hint">{t!(i18n, field_token_hint)}</small>
                    <FieldError error=error name="token" />
                </label>
                <label class="field">
                    <span>"EncodingAESKey"</span>
                    <input name="aes_key" type="password" autocomplete="off" maxlength="43"
                        placeholder=move || if editing { t_string!(i18n, secret_keep).to_string() } else { String::new() } />
                    <small class="hint">{t!(i18n, field_aes_key_hint)}</small>
                    <FieldError error=error name="aes_key" />
                </label>
                <label class="field">
                    <span>{t!(i18n, field_message_mode)}</span>
                    <select name="message_mode">
                        <option value="plain" selected=mode == "plain">{t!(i18n, mode_plain)}</option>
                        <option value="compat" selected=mode == "compat">{t!(i18n, mode_compat)}</option>
                        <option value="safe" selected=mode == "safe">{t!(i18n, mode_safe)}</option>
                    </select>
                    <FieldError error=error name="message_mode" />
                </label>
                <label class="field">
                    <span>{t!(i18n, field_api_base)}</span>
                    <input name="api_base_url" type="url" value=a.api_base_url.clone() placeholder=api_placeholder />
                    <small class="hint">{t!(i18n, field_api_base_hint)}</small>
                    <FieldError error=error name="api_base_url" />
                </label>
                <label class="field">
                    <span>{t!(i18n, field_timezone)}</span>
                    <input name="timezone" value=a.timezone.clone() list="tz-list" />
                    <datalist id="tz-list">
                        {["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "UTC"]
                            .into_iter().map(|z| view! { <option value=z /> }).collect_view()}
                    </datalist>
                    <FieldError error=error name="timezone" />
                </label>
            </div>
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-testid=if editing { "save-account-edit" } else { "save-account" }>
                    {if editing { t_string!(i18n, save) } else { t_string!(i18n, account_add) }}
                </button>
            </div>
        </ActionForm>
    }
}
