//! The share links card of a campaign's page: read-only views of the campaign, or of its
//! group, for people without an account. Plain forms (nothing long is typed), so they work
//! the same with JavaScript off; an error comes back to the card.

use crate::api::share::{CreateShareLink, RevokeShareLink, ShareRow};
use crate::components::ui::{FieldError, FormError, Notice, action_error};
use crate::i18n::*;
use leptos::form::ActionForm;
use leptos::prelude::*;

const SHARE_FIELDS: &[&str] = &["scope", "expires_days", "password"];

#[component]
pub fn ShareCard(id: i32, group: Option<String>, links: Vec<ShareRow>, archived: bool) -> impl IntoView {
    let i18n = use_i18n();
    let create = ServerAction::<CreateShareLink>::new();
    let revoke = ServerAction::<RevokeShareLink>::new();
    let error = action_error(create);
    let revoke_error = action_error(revoke);
    view! {
        <section class="card share" id="share" data-testid="share-links">
            <h2>{t!(i18n, share_title)}</h2>
            <p class="muted small">{t!(i18n, share_hint)}</p>
            <Notice key="shared" text=Signal::derive(move || t_string!(i18n, share_created_notice).to_string()) />
            <Notice key="share_revoked" text=Signal::derive(move || t_string!(i18n, share_revoked_notice).to_string()) />
            <FormError error=revoke_error />
            {(!links.is_empty()).then(|| view! {
                <div class="table-scroll"><table class="table" data-testid="share-list">
                    <thead><tr>
                        <th>{t!(i18n, share_what)}</th>
                        <th>{t!(i18n, share_address)}</th>
                        <th>{t!(i18n, share_expires)}</th>
                        <th>{t!(i18n, share_password)}</th>
                        <th>{t!(i18n, share_state)}</th>
                        <th></th>
                    </tr></thead>
                    <tbody>
                        {links.into_iter().map(|l| {
                            let active = l.state == "active";
                            let state = match l.state.as_str() {
                                "active" => t_string!(i18n, share_state_active),
                                "expired" => t_string!(i18n, share_state_expired),
                                _ => t_string!(i18n, share_state_revoked),
                            };
                            view! {
                                <tr data-testid="share-row">
                                    <td>{match l.group.clone() {
                                        Some(g) => view! { {t!(i18n, share_of_group, group = g)} }.into_any(),
                                        None => view! { {t!(i18n, share_of_campaign)} }.into_any(),
                                    }}</td>
                                    <td>{match l.url.clone() {
                                        Some(url) if active => view! {
                                            <input type="text" readonly value=url spellcheck="false" class="copy-input" data-testid="share-url" />
                                        }.into_any(),
                                        Some(_) => view! { <span class="muted">"—"</span> }.into_any(),
                                        None => view! { <span class="small alert">{t!(i18n, public_link_hidden)}</span> }.into_any(),
                                    }}</td>
                                    <td class="nowrap">{l.expires_at.as_deref().map(crate::format::minute).unwrap_or_else(|| t_string!(i18n, share_never).to_string())}</td>
                                    <td>{if l.has_password { t_string!(i18n, share_yes) } else { t_string!(i18n, share_no) }}</td>
                                    <td data-testid="share-state">{state}</td>
                                    <td>{active.then(|| view! {
                                        <ActionForm action=revoke attr:class="inline-form">
                                            <input type="hidden" name="id" value=id.to_string() />
                                            <input type="hidden" name="link" value=l.id.to_string() />
                                            <button type="submit" class="btn btn-sm btn-danger" data-testid="share-revoke">{t!(i18n, share_revoke)}</button>
                                        </ActionForm>
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table></div>
            })}
            {if archived {
                view! { <p class="small alert">{t!(i18n, share_archived)}</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=create attr:class="form" attr:data-testid="share-form">
                        <input type="hidden" name="id" value=id.to_string() />
                        <FormError error=error fields=SHARE_FIELDS />
                        <fieldset class="field">
                            <legend>{t!(i18n, share_what)}</legend>
                            <label class="check"><input type="radio" name="scope" value="campaign" checked /> {t!(i18n, share_of_campaign)}</label>
                            {group.clone().map(|g| view! {
                                <label class="check"><input type="radio" name="scope" value="group" data-testid="share-scope-group" /> {t!(i18n, share_of_group, group = g)}</label>
                            })}
                            <FieldError error=error name="scope" />
                        </fieldset>
                        <label class="field">
                            <span>{t!(i18n, share_days)}</span>
                            <input name="expires_days" inputmode="numeric" placeholder=move || t_string!(i18n, share_never).to_string() data-testid="share-days" />
                            <FieldError error=error name="expires_days" />
                        </label>
                        <label class="field">
                            <span>{t!(i18n, share_password_optional)}</span>
                            <input name="password" type="password" autocomplete="new-password" data-testid="share-new-password" />
                            <small class="hint">{t!(i18n, share_password_hint)}</small>
                            <FieldError error=error name="password" />
                        </label>
                        <div class="form-actions">
                            <button type="submit" class="btn btn-primary" data-testid="share-create">{t!(i18n, share_create)}</button>
                        </div>
                    </ActionForm>
                }.into_any()
            }}
        </section>
    }
}
