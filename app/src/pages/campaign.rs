//! One campaign: its code with downloads, its numbers, renewal, editing and archiving.

use crate::api::analytics::{TrendQuery, TrendView, campaign_trend};
use crate::api::campaigns::{
    CampaignInfo, CampaignLifecycle, CampaignPublicLink, PublicLinkInfo, RenewCampaign, UpdateCampaign, campaign_detail,
    campaign_form_data, public_link,
};
use crate::components::ui::{ErrorPanel, FieldError, FormError, IslandI18n, Loading, Notice, PageHeader, action_error};
use crate::i18n::*;
use crate::pages::campaign_form::{CAMPAIGN_FIELDS, ExpiryFields, GroupField, TagField, WelcomeFields};
use crate::pages::campaigns::{StatusBadge, service_sizes};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn CampaignPage() -> impl IntoView {
    let params = use_params_map();
    let search = leptos_router::hooks::use_location().search;
    // The query string is part of the key: saving, renewing or archiving comes back to this
    // page with a new query (`?renewed=1`…), and must show the new state.
    let id = move || (params.with(|p| p.get("id").and_then(|s| s.parse::<i32>().ok())), search.get());
    let data = crate::server_only::page_data(
        id,
        |(id, _)| async move {
            match id {
                Some(id) => Ok((
                    campaign_detail(id).await?,
                    campaign_form_data().await?.groups,
                    public_link(id).await?,
                    crate::api::share::share_links(id).await?,
                )),
                None => Err(crate::error::AppError::NotFound),
            }
        },
        true,
    );
    view! {
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok((d, groups, link, shares)) => view! {
                        <Title text=d.row.name.clone() />
                        <Detail d=d groups=groups link=link shares=shares />
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Detail(d: CampaignInfo, groups: Vec<String>, link: PublicLinkInfo, shares: Vec<crate::api::share::ShareRow>) -> impl IntoView {
    let i18n = use_i18n();
    let id = d.row.id;
    let name = d.row.name.clone();
    let temporary = d.row.kind == "temporary";
    let net = d.row.new_followers - d.row.unsubscribes;
    let query = use_query_map();
    let logo_error = move || query.with(|q| q.get("logo_error"));
    let status = d.row.status.clone();
    let archived = d.archived;
    view! {
        <PageHeader title=Signal::derive(move || name.clone())>
            <StatusBadge status=status expires_at=None />
        </PageHeader>
        <p class="muted"><a href="/campaigns">{t!(i18n, back_to_campaigns)}</a></p>
        <Notice key="created" text=Signal::derive(move || t_string!(i18n, campaign_created_notice).to_string()) />
        <Notice key="saved" text=Signal::derive(move || t_string!(i18n, campaign_saved_notice).to_string()) />
        <Notice key="renewed" text=Signal::derive(move || t_string!(i18n, campaign_renewed_notice).to_string()) />
        <Notice key="archived" text=Signal::derive(move || t_string!(i18n, campaign_archived_notice).to_string()) />
        <Notice key="restored" text=Signal::derive(move || t_string!(i18n, campaign_restored_notice).to_string()) />
        <Notice key="logo" text=Signal::derive(move || t_string!(i18n, logo_saved_notice).to_string()) />
        <Notice key="link_on" text=Signal::derive(move || t_string!(i18n, public_link_on_notice).to_string()) />
        <Notice key="link_off" text=Signal::derive(move || t_string!(i18n, public_link_off_notice).to_string()) />
        <Notice key="link_new" text=Signal::derive(move || t_string!(i18n, public_link_new_notice).to_string()) />
        {move || logo_error().map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
        <div class="detail-grid">
            <section class="card code-card">
                <h2>{t!(i18n, campaign_code)}</h2>
                {if d.row.has_code {
                    view! {
                        <img class="qr-large" src=format!("/campaigns/{id}/qr.svg") width="258" height="258" alt=move || t_string!(i18n, campaign_code).to_string() data-testid="qr-image" />
                        <div class="downloads">
                            <span class="muted small">{t!(i18n, download_png)}</span>
                            {service_sizes().into_iter().map(|s| view! {
                                <a class="btn btn-sm" href=format!("/campaigns/{id}/qr.png?size={s}") download=format!("campaign-{id}-{s}.png") rel="external" data-testid=format!("png-{s}")>{format!("{s} px")}</a>
                            }).collect_view()}
                        </div>
                        <div class="downloads">
                            <span class="muted small">{t!(i18n, download_svg)}</span>
                            <a class="btn btn-sm" href=format!("/campaigns/{id}/qr.svg") download=format!("campaign-{id}.svg") rel="external" data-testid="svg-download">"SVG"</a>
                            <a class="btn btn-sm" href=format!("/campaigns/{id}/qr.svg?caption=1") download=format!("campaign-{id}-caption.svg") rel="external">{t!(i18n, download_svg_caption)}</a>
                        </div>
                    }.into_any()
                } else {
                    view! { <p class="muted">{t!(i18n, status_campaign_no_code)}</p> }.into_any()
                }}
                {(temporary && !d.archived).then(|| view! { <RenewForm id=id /> })}
                <form method="post" action=format!("/campaigns/{id}/logo") enctype="multipart/form-data" class="logo-form">
                    <label class="field">
                        <span>{t!(i18n, field_logo)}</span>
                        <input type="file" name="logo" accept="image/png" />
                        <small class="hint">{t!(i18n, field_logo_hint)}</small>
                    </label>
                    <div class="form-actions">
                        <button type="submit" class="btn btn-sm">{t!(i18n, logo_upload)}</button>
                        {d.has_logo.then(|| view! { <button type="submit" name="remove" value="1" class="btn btn-sm btn-ghost">{t!(i18n, logo_remove)}</button> })}
                    </div>
                </form>
            </section>
            <section class="card">
                <h2>{t!(i18n, campaign_facts)}</h2>
                <dl class="facts">
                    <dt>{t!(i18n, field_account)}</dt><dd>{d.row.account_name.clone()}" "<code>{d.app_id.clone()}</code></dd>
                    <dt>{t!(i18n, field_kind)}</dt>
                    <dd>{if temporary { t_string!(i18n, kind_temporary) } else { t_string!(i18n, kind_permanent) }}</dd>
                    <dt>{t!(i18n, field_scene)}</dt><dd><code data-testid="scene-value">{d.row.scene.clone()}</code></dd>
                    {d.row.expires_at.clone().map(|t| view! { <dt>{t!(i18n, expires_on)}</dt><dd data-testid="expires-at">{crate::format::minute(&t)}</dd> })}
                    <dt>{t!(i18n, created_on)}</dt><dd>{d.created_at.clone()}</dd>
                </dl>
                <div class="metric-cards">
                    <div class="metric"><span class="metric-label">{t!(i18n, metric_scans)}</span><span class="metric-value" data-testid="m-scans">{d.row.scans}</span></div>
                    <div class="metric"><span class="metric-label">{t!(i18n, metric_new_followers)}</span><span class="metric-value" data-testid="m-new">{d.row.new_followers}</span></div>
                    <div class="metric"><span class="metric-label">{t!(i18n, metric_unsubscribes)}</span><span class="metric-value" data-testid="m-unsub">{d.row.unsubscribes}</span></div>
                    <div class="metric"><span class="metric-label">{t!(i18n, metric_net)}</span><span class="metric-value" data-testid="m-net">{net}</span></div>
                </div>
            </section>
        </div>
        <PublicLinkCard id=id link=link archived=archived />
        <crate::pages::campaign_share::ShareCard id=id group=d.row.group.clone() links=shares archived=archived />
        <Trend id=id />
        <EditForm d=d.clone() groups=groups />
        <LifecycleForm id=id archived=archived />
    }
}

/// The campaign over time, for the range in the query string (`days` preset, or `from`/`to`;
/// `granularity`; `metrics`, repeated; `prev=0` without the previous period): metric cards
/// with the change from the previous period, the server-drawn chart inline (hover readout
/// without JavaScript), retention, and downloads of the chart (SVG, PNG) and its numbers
/// (CSV). The form is a GET form, so everything works with JavaScript off.
#[component]
fn Trend(id: i32) -> impl IntoView {
    let i18n = use_i18n();
    let q = use_query_map();
    let lang = move || if i18n.get_locale() == Locale::en { "en" } else { "zh" };
    // The query string as the server function takes it: blank values are absent, the repeated
    // `metrics` joined with commas.
    let query = move || {
        q.with(|q| {
            let get = |k: &str| q.get(k).filter(|s| !s.is_empty());
            let metrics = q.get_all("metrics").unwrap_or_default().join(",");
            TrendQuery {
                from: get("from"),
                to: get("to"),
                days: get("days"),
                granularity: get("granularity"),
                metrics: (!metrics.is_empty()).then_some(metrics),
                prev: get("prev"),
                lang: Some(lang().to_owned()),
            }
        })
    };
    let trend = crate::server_only::page_data(query, move |query| campaign_trend(id, query), false);
    view! {
        <section class="card trend" data-testid="trend">
            <h2>{t!(i18n, trend_title)}</h2>
            <Suspense fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match trend.await {
                        Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                        Ok(t) => view! { <TrendBody id=id t=t query=untrack(query) /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn TrendBody(id: i32, t: TrendView, query: TrendQuery) -> impl IntoView {
    let i18n = use_i18n();
    let TrendView { svg, numbers: t } = t;
    let q = use_query_map();
    // The range as resolved by the server, so downloads match the screen exactly.
    let mut parts = vec![format!("from={}", t.from), format!("to={}", t.to), format!("granularity={}", t.granularity)];
    for m in &t.metrics {
        parts.push(format!("metrics={m}"));
    }
    let prev_off = !query.with_previous();
    if prev_off {
        parts.push("prev=0".into());
    }
    let params = parts.join("&");
    let lang = if i18n.get_locale_untracked() == Locale::en { "en" } else { "zh" };
    let chart_svg = format!("/campaigns/{id}/chart.svg?{params}&lang={lang}");
    let chart_png = format!("/campaigns/{id}/chart.png?{params}&lang={lang}");
    let csv = format!("/export/campaigns/{id}/stats.csv?from={}&to={}&granularity={}", t.from, t.to, t.granularity);
    // Presets keep metrics and comparison the user chose (none named: the defaults, short URLs).
    let asked: Vec<String> = q.with(|q| q.get_all("metrics").unwrap_or_default());
    let keep: String =
        asked.iter().map(|m| format!("&metrics={}", crate::urls::urlencode(m))).chain(prev_off.then(|| "&prev=0".to_owned())).collect();
    let current = query.days.clone().unwrap_or_default();
    let explicit = query.from.is_some();
    let preset = move |value: &'static str, label: AnyView| {
        let active = !explicit && (current == value || (current.is_empty() && value == "30"));
        view! {
            <a class=if active { "btn btn-sm btn-primary" } else { "btn btn-sm" } href=format!("/campaigns/{id}?days={value}{keep}") data-testid=format!("preset-{value}")>
                {label}
            </a>
        }
    };
    let gran = query.granularity.clone().unwrap_or_default();
    let granularities = granularity_choices(i18n);
    let gran_word = granularities.iter().find(|(v, _)| *v == t.granularity).map(|(_, l)| l.to_string()).unwrap_or_default();
    let metric_word = move |key: &str| metric_word(i18n, key);
    let chosen = t.metrics.clone();
    view! {
        <div class="form-actions presets">
            {preset("today", view! { {t!(i18n, range_today)} }.into_any())}
            {preset("yesterday", view! { {t!(i18n, range_yesterday)} }.into_any())}
            {preset("7", view! { {t!(i18n, range_days, n = 7)} }.into_any())}
            {preset("30", view! { {t!(i18n, range_days, n = 30)} }.into_any())}
            {preset("90", view! { {t!(i18n, range_days, n = 90)} }.into_any())}
            {preset("month", view! { {t!(i18n, range_month)} }.into_any())}
        </div>
        <form method="get" action=format!("/campaigns/{id}") class="filters trend-form">
            <label class="field"><span>{t!(i18n, range_from)}</span><input type="date" name="from" value=t.from.clone() data-testid="range-from" /></label>
            <label class="field"><span>{t!(i18n, range_to)}</span><input type="date" name="to" value=t.to.clone() data-testid="range-to" /></label>
            <label class="field">
                <span>{t!(i18n, granularity)}</span>
                <select name="granularity" data-testid="granularity">
                    {granularities.into_iter().map(|(v, l)| view! { <option value=v selected=gran == v>{l}</option> }).collect_view()}
                </select>
            </label>
            <label class="field">
                <span>{t!(i18n, compare_prev)}</span>
                <select name="prev" data-testid="prev">
                    <option value="1" selected=!prev_off>{t!(i18n, compare_prev_on)}</option>
                    <option value="0" selected=prev_off>{t!(i18n, compare_prev_off)}</option>
                </select>
            </label>
            <fieldset class="field metric-picks">
                <legend>{t!(i18n, metrics_label)}</legend>
                {["scans", "new_followers", "unsubscribes", "net_followers", "unique_scanners"].into_iter().map(|m| view! {
                    <label class="check"><input type="checkbox" name="metrics" value=m checked=chosen.iter().any(|c| c == m) data-testid=format!("metric-{m}") />{metric_word(m)}</label>
                }).collect_view()}
            </fieldset>
            <button type="submit" class="btn" data-testid="apply-range">{t!(i18n, filter_apply)}</button>
        </form>
        <p class="small muted" data-testid="trend-range">{t!(i18n, trend_range, from = t.from.clone(), to = t.to.clone(), granularity = gran_word, tz = t.timezone.clone())}</p>
        <div class="metric-cards trend-cards">
            {t.cards.iter().map(|c| {
                let label = metric_word(&c.key);
                let (dir, change) = match c.change {
                    Some(p) if p > 0 => ("up", format!("▲ +{p}%")),
                    Some(p) if p < 0 => ("down", format!("▼ {p}%")),
                    Some(_) => ("flat", "0%".to_owned()),
                    None => ("flat", "—".to_owned()),
                };
                // Colour says whether the change is good news: more people leaving is not.
                let verdict = change_verdict(&c.key, dir);
                let title = if c.change.is_some() {
                    format!("{} {} – {}: {}", t_string!(i18n, previous_period), t.previous_from, t.previous_to, c.previous)
                } else {
                    t_string!(i18n, change_none).to_string()
                };
                let words = match verdict {
                    "good" => format!("{change}, {}. {title}", t_string!(i18n, change_better)),
                    "bad" => format!("{change}, {}. {title}", t_string!(i18n, change_worse)),
                    _ if c.change.is_some() => format!("{}. {title}", t_string!(i18n, change_same)),
                    _ => title.clone(),
                };
                view! {
                    <div class="metric" data-testid=format!("card-{}", c.key)>
                        <span class="metric-label">{label}</span>
                        <span class="metric-value" data-testid=format!("total-{}", c.key)>{crate::format::thousands(c.value)}</span>
                        <span class=format!("change {dir} {verdict}") title=title aria-hidden="true" data-testid=format!("change-{}", c.key)>{change}</span>
                        <span class="sr-only" data-testid=format!("change-words-{}", c.key)>{words}</span>
                    </div>
                }
            }).collect_view()}
        </div>
        <div class="chart" data-testid="chart" inner_html=svg></div>
        <p class="small muted">{t!(i18n, trend_definitions)}</p>
        <div class="downloads">
            <a class="btn btn-sm" href=chart_svg download=format!("campaign-{id}-chart.svg") rel="external" data-testid="chart-svg">{t!(i18n, download_chart)}</a>
            <a class="btn btn-sm" href=chart_png download=format!("campaign-{id}-chart.png") rel="external" data-testid="chart-png">{t!(i18n, download_chart_png)}</a>
            <a class="btn btn-sm" href=csv rel="external" data-testid="csv-export">{t!(i18n, download_csv)}</a>
        </div>
        <h3>{t!(i18n, retention_title)}</h3>
        <p class="small muted">{t!(i18n, retention_hint)}</p>
        <div class="metric-cards retention" data-testid="retention">
            {t.retention.iter().map(|r| view! {
                <div class="metric" data-testid=format!("retention-{}", r.days)>
                    <span class="metric-label">{t!(i18n, retention_days, n = r.days)}</span>
                    <span class="metric-value">{r.percent.map(|p| format!("{p}%")).unwrap_or_else(|| "—".into())}</span>
                    <span class="small muted">{if r.eligible > 0 {
                        view! { {t!(i18n, retention_of, retained = r.retained, eligible = r.eligible)} }.into_any()
                    } else {
                        view! { {t!(i18n, retention_na)} }.into_any()
                    }}</span>
                </div>
            }).collect_view()}
        </div>
    }
}

/// Whether a change in `dir` (`up`, `down`, `flat`) of metric `key` is good or bad news:
/// unsubscribes are the one metric where less is better.
pub(crate) fn change_verdict(key: &str, dir: &str) -> &'static str {
    match (dir, key == "unsubscribes") {
        ("up", false) | ("down", true) => "good",
        ("up", true) | ("down", false) => "bad",
        _ => "flat",
    }
}

/// The words for a metric's docs/contract.md name (`scans`, `new_followers`, …) in the UI language.
pub(crate) fn metric_word(i18n: leptos_i18n::I18nContext<Locale>, key: &str) -> String {
    match key {
        "scans" => t_string!(i18n, metric_scans),
        "new_followers" => t_string!(i18n, metric_new_followers),
        "unsubscribes" => t_string!(i18n, metric_unsubscribes),
        "net_followers" => t_string!(i18n, metric_net),
        _ => t_string!(i18n, metric_unique),
    }
    .to_string()
}

/// The granularity choices of a range form: value and words, automatic first.
pub(crate) fn granularity_choices(i18n: leptos_i18n::I18nContext<Locale>) -> [(&'static str, String); 5] {
    [
        ("", t_string!(i18n, granularity_auto).to_string()),
        ("hour", t_string!(i18n, granularity_hour).to_string()),
        ("day", t_string!(i18n, granularity_day).to_string()),
        ("week", t_string!(i18n, granularity_week).to_string()),
        ("month", t_string!(i18n, granularity_month).to_string()),
    ]
}

#[component]
fn RenewForm(id: i32) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<RenewCampaign>::new();
    let error = action_error(action);
    view! {
        <ActionForm action=action attr:class="inline-form renew-form">
            <input type="hidden" name="id" value=id.to_string() />
            <FormError error=error />
            <button type="submit" class="btn btn-primary btn-sm" data-testid="renew" disabled=move || action.pending().get()>{t!(i18n, campaign_renew)}</button>
            <small class="hint">{t!(i18n, campaign_renew_hint)}</small>
        </ActionForm>
    }
}

/// The public image link: on/off, its addresses to copy, and a new address on demand. Plain
/// forms (one per button, each with its `action`), so it all works without JavaScript; the
/// regenerate button sits in a `<details>` that must be opened first, as its confirmation.
#[component]
fn PublicLinkCard(id: i32, link: PublicLinkInfo, archived: bool) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<CampaignPublicLink>::new();
    let error = action_error(action);
    let form = move |value: &'static str, class: &'static str, label: AnyView| {
        view! {
            <ActionForm action=action attr:class="inline-form">
                <input type="hidden" name="id" value=id.to_string() />
                <input type="hidden" name="action" value=value />
                <button type="submit" class=class data-testid=format!("public-link-{value}") disabled=move || action.pending().get()>{label}</button>
            </ActionForm>
        }
    };
    let url_field = |label: AnyView, url: String, testid: &'static str| {
        view! {
            <label class="field">
                <span>{label}</span>
                <input type="text" readonly value=url spellcheck="false" class="copy-input" data-testid=testid />
            </label>
        }
    };
    view! {
        <section class="card public-link" id="public-link" data-testid="public-link">
            <h2>{t!(i18n, public_link_title)}</h2>
            <p class="muted small">{t!(i18n, public_link_hint)}</p>
            <FormError error=error />
            {archived.then(|| view! { <p class="small alert">{t!(i18n, public_link_archived)}</p> })}
            {if link.enabled {
                view! {
                    {match (link.png_url.clone(), link.svg_url.clone()) {
                        (Some(png), Some(svg)) => view! {
                            {url_field(view! { {t!(i18n, public_link_png)} }.into_any(), png, "public-png")}
                            {url_field(view! { {t!(i18n, public_link_svg)} }.into_any(), svg, "public-svg")}
                            <p class="small muted">{t!(i18n, public_link_size_hint)}</p>
                        }.into_any(),
                        _ => view! { <p class="small alert">{t!(i18n, public_link_hidden)}</p> }.into_any(),
                    }}
                    <div class="form-actions">
                        {form("off", "btn btn-sm", view! { {t!(i18n, public_link_disable)} }.into_any())}
                    </div>
                    {(!archived).then(|| view! {
                        <details class="confirm">
                            <summary class="btn btn-sm" data-testid="public-link-regenerate-open">{t!(i18n, public_link_regenerate)}</summary>
                            <p class="small">{t!(i18n, public_link_regenerate_confirm)}</p>
                            {form("regenerate", "btn btn-sm btn-danger", view! { {t!(i18n, public_link_regenerate_yes)} }.into_any())}
                        </details>
                    })}
                }.into_any()
            } else {
                view! {
                    <p class="small">{t!(i18n, public_link_off_state)}</p>
                    {(!archived).then(|| view! {
                        <div class="form-actions">{form("on", "btn btn-primary btn-sm", view! { {t!(i18n, public_link_enable)} }.into_any())}</div>
                    })}
                }.into_any()
            }}
        </section>
    }
}

/// The edit form, hydrated in the browser on its own (an island) so that an error keeps what
/// was typed. Renewing, archiving and deleting have nothing to type: they stay plain forms.
#[island]
fn EditForm(d: CampaignInfo, groups: Vec<String>) -> impl IntoView {
    view! { <IslandI18n><EditFields d=d groups=groups /></IslandI18n> }
}

#[component]
fn EditFields(d: CampaignInfo, groups: Vec<String>) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<UpdateCampaign>::new();
    let error = action_error(action);
    let temporary = d.row.kind == "temporary";
    view! {
        <details class="card edit-card" open=move || error.get().is_some()>
            <summary><h2>{t!(i18n, campaign_edit)}</h2></summary>
            <ActionForm action=action attr:class="form" attr:data-testid="edit-form">
                <input type="hidden" name="id" value=d.row.id.to_string() />
                <FormError error=error fields=CAMPAIGN_FIELDS />
                <label class="field">
                    <span>{t!(i18n, field_name)}</span>
                    <input name="name" required maxlength="64" value=d.row.name.clone() />
                    <FieldError error=error name="name" />
                </label>
                <GroupField groups=groups value=d.row.group.clone().unwrap_or_default() error=error />
                {temporary.then(|| view! { <ExpiryFields value=d.expire_days auto_renew=d.auto_renew error=error /> })}
                <WelcomeFields kind=d.welcome_kind.clone() text=d.welcome_text.clone() title=d.news_title.clone()
                    description=d.news_description.clone() url=d.news_url.clone() error=error />
                <TagField value=d.tag_name.clone() error=error />
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" data-testid="save-campaign">{t!(i18n, save)}</button>
                </div>
            </ActionForm>
        </details>
    }
}

#[component]
fn LifecycleForm(id: i32, archived: bool) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<CampaignLifecycle>::new();
    let error = action_error(action);
    view! {
        <section class="card danger-zone">
            <h2>{t!(i18n, campaign_lifecycle)}</h2>
            <p class="muted small">{t!(i18n, campaign_lifecycle_hint)}</p>
            <FormError error=error />
            // One form per button: each carries its own `action`, with or without JavaScript.
            <div class="form-actions">
                <ActionForm action=action attr:class="inline-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    {if archived {
                        view! {
                            <input type="hidden" name="action" value="unarchive" />
                            <button type="submit" class="btn" data-testid="unarchive">{t!(i18n, campaign_unarchive)}</button>
                        }.into_any()
                    } else {
                        view! {
                            <input type="hidden" name="action" value="archive" />
                            <button type="submit" class="btn" data-testid="archive">{t!(i18n, campaign_archive)}</button>
                        }.into_any()
                    }}
                </ActionForm>
                <ActionForm action=action attr:class="inline-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="action" value="delete" />
                    <button type="submit" class="btn btn-danger" data-testid="delete">{t!(i18n, campaign_delete)}</button>
                </ActionForm>
            </div>
        </section>
    }
}
