//! The digests card of Settings (admins only): per account, the daily and weekly summaries'
//! settings, *Send test* with its outcome, when the next ones go out, and the latest
//! deliveries with their errors.

use crate::api::digests::{DeliveryRow, DigestAccount, DigestsView, SaveDigest, TestDigest};
use crate::components::ui::{FieldError, FormError, IslandI18n, Notice, action_error};
use crate::i18n::*;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Fields whose errors are shown next to them (the rest go to the alert above the form).
const DIGEST_FIELDS: &[&str] = &["send_hour", "wecom_webhook", "email_to"];

#[component]
pub fn DigestsCard(data: DigestsView) -> impl IntoView {
    let i18n = use_i18n();
    let DigestsView { accounts, mail } = data;
    let mail_ready = mail.is_some();
    view! {
        <section class="card" id="digests" data-testid="digests">
            <h2>{t!(i18n, digests_title)}</h2>
            <p class="small muted">{t!(i18n, digests_intro)}</p>
            <p class="small" data-testid="digest-mail">
                {match mail {
                    Some(server) => view! { {t!(i18n, digests_mail_on)} " " <code>{server}</code> }.into_any(),
                    None => view! { {t!(i18n, digests_mail_off)} " " <code>"SCENEBOARD_SMTP_URL"</code> }.into_any(),
                }}
            </p>
            <Notice key="digest_saved" text=Signal::derive(move || t_string!(i18n, digests_saved_notice).to_string()) />
            {if accounts.is_empty() {
                view! { <p class="muted">{t!(i18n, settings_accounts_empty)}</p> }.into_any()
            } else {
                accounts.into_iter().map(|a| view! { <DigestAccountBlock a=a mail_ready=mail_ready /> }).collect_view().into_any()
            }}
        </section>
    }
}

#[component]
fn DigestAccountBlock(a: DigestAccount, mail_ready: bool) -> impl IntoView {
    let i18n = use_i18n();
    let test = ServerAction::<TestDigest>::new();
    let test_error = action_error(test);
    let id = a.account_id;
    let next = a.next.clone();
    let deliveries = a.deliveries.clone();
    view! {
        <article class="digest-account" id=format!("digests-{id}") data-testid="digest-account">
            <h3>{a.account_name.clone()} " " <span class="small muted">{a.timezone.clone()}</span></h3>
            <TestOutcome account_id=id />
            {if next.is_empty() {
                view! { <p class="small muted" data-testid="digest-next">{t!(i18n, digests_off)}</p> }.into_any()
            } else if !a.has_destination {
                view! { <p class="alert alert-warn" data-testid="digest-next">{t!(i18n, digests_no_destination)}</p> }.into_any()
            } else {
                view! {
                    <ul class="small plain-list" data-testid="digest-next">
                        {next.into_iter().map(|(period, at)| view! {
                            <li>{period_label(i18n, &period)} " · " {t!(i18n, digests_next)} " " <strong>{at}</strong></li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <DigestForm account=a mail_ready=mail_ready />
            <ActionForm action=test attr:class="inline-form">
                <input type="hidden" name="account_id" value=id.to_string() />
                <button type="submit" class="btn" data-testid="send-test-digest" disabled=move || test.pending().get()>
                    {t!(i18n, digests_send_test)}
                </button>
            </ActionForm>
            <FormError error=test_error />
            <Deliveries rows=deliveries />
        </article>
    }
}

fn period_label(i18n: leptos_i18n::I18nContext<Locale>, period: &str) -> String {
    if period == "weekly" { t_string!(i18n, digests_weekly).to_string() } else { t_string!(i18n, digests_daily).to_string() }
}

/// The outcome of *Send test* for this account, read from the page's URL.
#[component]
fn TestOutcome(account_id: i32) -> impl IntoView {
    let i18n = use_i18n();
    let q = use_query_map();
    move || {
        q.with(|q| {
            (q.get("digest_tested").as_deref() == Some(account_id.to_string().as_str())).then(|| {
                let ok = q.get("ok").as_deref() == Some("1");
                let class = if ok { "alert alert-ok" } else { "alert alert-error" };
                view! {
                    <p class=class role="status" data-testid="digest-test-result" data-ok=ok.to_string()>
                        <strong>{if ok { t_string!(i18n, digests_test_ok) } else { t_string!(i18n, digests_test_failed) }}</strong>
                        " " {q.get("msg").unwrap_or_default()}
                    </p>
                }
            })
        })
    }
}

/// The latest deliveries, newest first, with the error of each that did not go out.
#[component]
fn Deliveries(rows: Vec<DeliveryRow>) -> impl IntoView {
    let i18n = use_i18n();
    if rows.is_empty() {
        return view! { <p class="small muted" data-testid="digest-deliveries-empty">{t!(i18n, digests_none_sent)}</p> }.into_any();
    }
    let open = rows.iter().any(|r| r.status != "sent");
    view! {
        <details class="digest-deliveries" open=open>
            <summary>{t!(i18n, digests_deliveries)}</summary>
            <div class="table-scroll" tabindex="0" role="region" aria-label=move || t_string!(i18n, digests_deliveries).to_string()>
                <table class="table" data-testid="digest-deliveries">
                    <thead>
                        <tr>
                            <th>{t!(i18n, digests_col_digest)}</th>
                            <th>{t!(i18n, digests_col_channel)}</th>
                            <th>{t!(i18n, users_col_status)}</th>
                            <th>{t!(i18n, digests_col_when)}</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows.into_iter().map(|r| {
                            let channel = if r.channel == "email" { t_string!(i18n, digests_channel_email) } else { t_string!(i18n, digests_channel_wecom) };
                            let (badge, words) = match r.status.as_str() {
                                "sent" => ("badge badge-ok", t_string!(i18n, digests_status_sent)),
                                "retrying" => ("badge badge-warn", t_string!(i18n, digests_status_retrying)),
                                _ => ("badge badge-danger", t_string!(i18n, digests_status_failed)),
                            };
                            view! {
                                <tr data-testid="digest-delivery" data-status=r.status.clone() data-channel=r.channel.clone()>
                                    <td class="nowrap">{period_label(i18n, &r.period)} " " {r.from}</td>
                                    <td>{channel}</td>
                                    <td>
                                        <span class=badge>{words}</span>
                                        {(r.attempts > 1).then(|| view! { " " <span class="small muted">{format!("×{}", r.attempts)}</span> })}
                                        {r.error.map(|e| view! { <br /><span class="small" data-testid="digest-error">{e}</span> })}
                                    </td>
                                    <td class="nowrap">{r.at}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </details>
    }
    .into_any()
}

/// Hydrated on its own (an island), so an error keeps what was typed. Its props hold no
/// secret: of the webhook, only its hint.
#[island]
fn DigestForm(account: DigestAccount, mail_ready: bool) -> impl IntoView {
    view! { <IslandI18n><DigestFields a=account mail_ready=mail_ready /></IslandI18n> }
}

#[component]
fn DigestFields(a: DigestAccount, mail_ready: bool) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<SaveDigest>::new();
    let error = action_error(action);
    let id = a.account_id;
    let hint = a.webhook_hint.clone();
    let has_webhook = hint.is_some();
    let lang = a.lang.clone();
    view! {
        <ActionForm action=action attr:class="form" attr:data-testid="digest-form">
            <FormError error=error fields=DIGEST_FIELDS />
            <input type="hidden" name="account_id" value=id.to_string() />
            <fieldset class="field checks">
                <legend>{t!(i18n, digests_which)}</legend>
                <label class="check">
                    <input type="checkbox" name="daily" value="on" checked=a.daily />
                    <span>{t!(i18n, digests_daily_hint)}</span>
                </label>
                <label class="check">
                    <input type="checkbox" name="weekly" value="on" checked=a.weekly />
                    <span>{t!(i18n, digests_weekly_hint)}</span>
                </label>
            </fieldset>
            <div class="form-grid">
                <label class="field">
                    <span>{t!(i18n, digests_hour)}</span>
                    <select name="send_hour">
                        {(0..24u32).map(|h| view! { <option value=h.to_string() selected=h == a.send_hour>{format!("{h:02}:00")}</option> }).collect_view()}
                    </select>
                    <small class="hint">{t!(i18n, digests_hour_hint, zone = a.timezone.clone())}</small>
                    <FieldError error=error name="send_hour" />
                </label>
                <label class="field">
                    <span>{t!(i18n, digests_lang)}</span>
                    <select name="lang">
                        <option value="zh" selected=lang == "zh">"简体中文"</option>
                        <option value="en" selected=lang == "en">"English"</option>
                    </select>
                </label>
                <label class="field">
                    <span>{t!(i18n, digests_webhook)}</span>
                    <input name="wecom_webhook" type="url" autocomplete="off" class="mono" maxlength="512"
                        placeholder=move || match &hint {
                            Some(h) => format!("{} {h}", t_string!(i18n, digests_webhook_set)),
                            None => "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…".to_owned(),
                        } />
                    <small class="hint">{t!(i18n, digests_webhook_hint)}</small>
                    <FieldError error=error name="wecom_webhook" />
                </label>
                <label class="field">
                    <span>{t!(i18n, digests_email)}</span>
                    <textarea name="email_to" rows="3" autocomplete="off" placeholder="marketing@example.com">{a.email_to.clone()}</textarea>
                    <small class="hint">
                        {if mail_ready { t_string!(i18n, digests_email_hint) } else { t_string!(i18n, digests_email_off) }}
                    </small>
                    <FieldError error=error name="email_to" />
                </label>
            </div>
            {has_webhook.then(|| view! {
                <label class="check">
                    <input type="checkbox" name="remove_webhook" value="on" />
                    <span>{t!(i18n, digests_webhook_remove)}</span>
                </label>
            })}
            <div class="form-actions">
                <button type="submit" class="btn btn-primary" data-testid="save-digest" disabled=move || action.pending().get()>
                    {t!(i18n, save)}
                </button>
            </div>
        </ActionForm>
    }
}
