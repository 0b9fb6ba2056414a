//! The new-campaign page and the fields it shares with the campaign page's edit form.
//!
//! Both are `ActionForm`s inside islands: with JavaScript they post in the background and
//! show errors next to the fields, keeping what was typed; with JavaScript off they post as
//! plain forms and Leptos carries the error back in the URL, so the same messages appear
//! after the reload.

use crate::api::campaigns::{CreateCampaign, FormChoices, campaign_form_data};
use crate::components::ui::{ErrorPanel, FieldError, FormError, IslandI18n, Loading, PageHeader, action_error};
use crate::error::AppError;
use crate::i18n::*;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

/// Fields whose errors are shown next to them (the rest go to the alert above the form).
pub const CAMPAIGN_FIELDS: &[&str] = &["account_id", "name", "group", "kind", "scene", "expire_days", "welcome", "tag_name"];

#[component]
pub fn NewCampaignPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new_blocking(|| (), |_| campaign_form_data());
    view! {
        <Title text=t_string!(i18n, campaigns_new).to_string() />
        <PageHeader title=Signal::derive(move || t_string!(i18n, campaigns_new).to_string()) />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(d) if d.accounts.is_empty() => view! {
                        <p class="alert alert-info" data-testid="need-account">{t!(i18n, campaigns_need_account)}</p>
                    }.into_any(),
                    Ok(d) => view! { <NewCampaignForm data=d /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The form, hydrated in the browser on its own (an island).
#[island]
fn NewCampaignForm(data: FormChoices) -> impl IntoView {
    view! { <IslandI18n><NewCampaignFields data=data /></IslandI18n> }
}

#[component]
fn NewCampaignFields(data: FormChoices) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<CreateCampaign>::new();
    let error = action_error(action);
    let pending = action.pending();
    let single = data.accounts.len() == 1;
    view! {
        <ActionForm action=action attr:class="form card" attr:data-testid="campaign-form">
            <FormError error=error fields=CAMPAIGN_FIELDS />
            <label class="field">
                <span>{t!(i18n, field_account)}</span>
                <select name="account_id" required>
                    {data.accounts.into_iter().map(|a| view! {
                        <option value=a.id.to_string() selected=single>{format!("{} ({})", a.name, a.app_id)}</option>
                    }).collect_view()}
                </select>
                <FieldError error=error name="account_id" />
            </label>
            <label class="field">
                <span>{t!(i18n, field_name)}</span>
                <input name="name" required maxlength="64" placeholder=move || t_string!(i18n, field_name_hint).to_string() />
                <FieldError error=error name="name" />
            </label>
            <GroupField groups=data.groups value=String::new() error=error />
            <fieldset class="field">
                <legend>{t!(i18n, field_kind)}</legend>
                <label class="choice">
                    <input type="radio" name="kind" value="permanent" checked=true />
                    <span><strong>{t!(i18n, kind_permanent)}</strong>" · "<span class="muted">{t!(i18n, kind_permanent_hint)}</span></span>
                </label>
                <label class="choice">
                    <input type="radio" name="kind" value="temporary" />
                    <span><strong>{t!(i18n, kind_temporary)}</strong>" · "<span class="muted">{t!(i18n, kind_temporary_hint)}</span></span>
                </label>
                <FieldError error=error name="kind" />
            </fieldset>
            <label class="field">
                <span>{t!(i18n, field_scene)}</span>
                <input name="scene" maxlength="64" placeholder=move || t_string!(i18n, field_scene_auto).to_string() data-testid="scene" />
                <small class="hint">{t!(i18n, field_scene_hint)}</small>
                <FieldError error=error name="scene" />
            </label>
            <ExpiryFields value=None auto_renew=false error=error />
            <WelcomeFields kind="none".into() text=String::new() title=String::new() description=String::new() url=String::new() error=error />
            <TagField value=String::new() error=error />
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" disabled=move || pending.get() data-testid="create-submit">
                    {t!(i18n, campaign_create_submit)}
                </button>
                <a class="btn btn-ghost" href="/campaigns">{t!(i18n, cancel)}</a>
            </div>
        </ActionForm>
    }
}

/// The group field, with the groups in use offered as suggestions.
#[component]
pub fn GroupField(groups: Vec<String>, value: String, error: Signal<Option<AppError>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <label class="field">
            <span>{t!(i18n, field_group)}</span>
            <input name="group" maxlength="32" list="group-list" value=value placeholder=move || t_string!(i18n, field_group_hint).to_string() />
            <datalist id="group-list">
                {groups.into_iter().map(|g| view! { <option value=g /> }).collect_view()}
            </datalist>
            <FieldError error=error name="group" />
        </label>
    }
}

/// Expiry of a temporary code (1 to 30 days, with presets) and the auto-renew switch. CSS
/// hides them while "permanent" is chosen; with neither CSS nor JavaScript they are simply
/// ignored for permanent codes.
#[component]
pub fn ExpiryFields(value: Option<i32>, auto_renew: bool, error: Signal<Option<AppError>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="temporary-only">
            <label class="field">
                <span>{t!(i18n, field_expire_days)}</span>
                <input name="expire_days" type="number" min="1" max="30" list="expiry-presets"
                    value=value.map(|v| v.to_string()).unwrap_or_else(|| "30".into()) data-testid="expire-days" />
                <datalist id="expiry-presets">
                    <option value="1" /><option value="7" /><option value="14" /><option value="30" />
                </datalist>
                <small class="hint">{t!(i18n, field_expire_days_hint)}</small>
                <FieldError error=error name="expire_days" />
            </label>
            <label class="choice">
                <input type="checkbox" name="auto_renew" value="on" checked=auto_renew />
                <span>{t!(i18n, field_auto_renew)}</span>
            </label>
        </div>
    }
}

/// The optional welcome reply: none, a text, or a news card.
#[component]
pub fn WelcomeFields(
    kind: String,
    text: String,
    title: String,
    description: String,
    url: String,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let is = move |k: &str| kind == k;
    view! {
        <fieldset class="field welcome">
            <legend>{t!(i18n, field_welcome)}</legend>
            <small class="hint">{t!(i18n, field_welcome_hint)}</small>
            <div class="choices-row">
                <label class="choice"><input type="radio" name="welcome_kind" value="none" checked=is("none") /><span>{t!(i18n, welcome_none)}</span></label>
                <label class="choice"><input type="radio" name="welcome_kind" value="text" checked=is("text") /><span>{t!(i18n, welcome_text)}</span></label>
                <label class="choice"><input type="radio" name="welcome_kind" value="news" checked=is("news") /><span>{t!(i18n, welcome_news)}</span></label>
            </div>
            <label class="field welcome-text">
                <span>{t!(i18n, welcome_text)}</span>
                <textarea name="welcome_text" rows="3" maxlength="600">{text}</textarea>
            </label>
            <div class="welcome-news">
                <label class="field"><span>{t!(i18n, news_title)}</span><input name="news_title" maxlength="64" value=title /></label>
                <label class="field"><span>{t!(i18n, news_description)}</span><input name="news_description" maxlength="120" value=description /></label>
                <label class="field"><span>{t!(i18n, news_url)}</span><input name="news_url" type="url" value=url placeholder="https://" /></label>
            </div>
            <FieldError error=error name="welcome" />
        </fieldset>
    }
}

/// The optional WeChat tag given to followers who come through this code.
#[component]
pub fn TagField(value: String, error: Signal<Option<AppError>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <label class="field">
            <span>{t!(i18n, field_tag)}</span>
            <input name="tag_name" maxlength="30" value=value />
            <small class="hint">{t!(i18n, field_tag_hint)}</small>
            <FieldError error=error name="tag_name" />
        </label>
    }
}
