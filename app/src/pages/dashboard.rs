//! The dashboard: per WeChat account, today and the last 7 days, organic versus campaign
//! followers, the campaigns that brought the most followers this week, and a banner when
//! codes are about to expire. Until an account exists it explains where to start.

use crate::api::dashboard::{AccountBoard, Figures, dashboard_data};
use crate::components::shell::UserResource;
use crate::components::ui::{EmptyState, ErrorPanel, Loading, PageHeader};
use crate::format::thousands;
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let user = use_context::<UserResource>().map(|u| u.0);
    let lang = move || if i18n.get_locale() == Locale::en { "en" } else { "zh" };
    let boards = crate::server_only::page_data(lang, |lang| dashboard_data(Some(lang.to_owned())), true);
    view! {
        <Title text=t_string!(i18n, dashboard_title).to_string() />
        <PageHeader title=Signal::derive(move || t_string!(i18n, dashboard_title).to_string()) />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                let me = match user {
                    Some(r) => r.await.ok().flatten(),
                    None => None,
                };
                let name = me.as_ref().map(|u| u.username.clone()).unwrap_or_default();
                let is_admin = me.map(|u| u.is_admin).unwrap_or(false);
                let body = match boards.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(b) if b.is_empty() => view! {
                        <EmptyState
                            title=Signal::derive(move || t_string!(i18n, dashboard_empty_title).to_string())
                            body=Signal::derive(move || t_string!(i18n, dashboard_empty_body).to_string())
                        >
                            {is_admin.then(|| view! {
                                <p><a class="btn btn-primary" href="/settings">{t!(i18n, dashboard_empty_admin)}</a></p>
                            })}
                        </EmptyState>
                    }.into_any(),
                    Ok(b) => b.into_iter().map(|a| view! { <Board a=a /> }).collect_view().into_any(),
                };
                view! {
                    <p class="lead" data-testid="welcome">{t!(i18n, dashboard_welcome, name = name.clone())}</p>
                    {body}
                }
            })}
        </Suspense>
    }
}

#[component]
fn Board(a: AccountBoard) -> impl IntoView {
    let i18n = use_i18n();
    let AccountBoard { numbers: a, chart_svg } = a;
    let warn = a.expiring + a.expired;
    let lang = if i18n.get_locale_untracked() == Locale::en { "en" } else { "zh" };
    view! {
        <section class="board" data-testid="board">
            <h2>{a.name.clone()}" "<span class="muted small">{a.timezone.clone()}</span></h2>
            {(warn > 0).then(|| view! {
                <p class="alert alert-warn" role="status" data-testid="expiry-banner">
                    {t!(i18n, dashboard_expiring, expiring = a.expiring, expired = a.expired)}" "
                    <a href="/campaigns?status=expiring">{t!(i18n, dashboard_expiring_link)}</a>
                </p>
            })}
            <div class="board-grid">
                <Period title=Signal::derive(move || t_string!(i18n, period_today).to_string()) f=a.today.clone() testid="today" />
                <Period title=Signal::derive(move || t_string!(i18n, period_week).to_string()) f=a.week.clone() testid="week" />
            </div>
            <div class="card trend">
                <h3>{t!(i18n, dashboard_chart)}</h3>
                <div class="chart" data-testid="account-chart" inner_html=chart_svg.clone()></div>
                <div class="downloads">
                    <a class="btn btn-sm" href=format!("/accounts/{}/chart.svg?lang={}", a.id, lang) download=format!("account-{}.svg", a.id) rel="external">{t!(i18n, download_chart)}</a>
                    <a class="btn btn-sm" href=format!("/accounts/{}/chart.png?lang={}", a.id, lang) download=format!("account-{}.png", a.id) rel="external">{t!(i18n, download_chart_png)}</a>
                </div>
            </div>
            <div class="card">
                <h3>{t!(i18n, dashboard_sources)}</h3>
                <Split f=a.week.clone() />
            </div>
            <div class="card table-wrap">
                <h3 class="pad">{t!(i18n, dashboard_top)}</h3>
                {if a.top.is_empty() {
                    view! { <p class="muted pad">{t!(i18n, dashboard_top_empty)}</p> }.into_any()
                } else {
                    view! {
                        <table class="table" data-testid="top-campaigns">
                            <thead><tr>
                                <th>{t!(i18n, col_name)}</th>
                                <th class="num">{t!(i18n, metric_new_followers)}</th>
                                <th class="num">{t!(i18n, metric_scans)}</th>
                            </tr></thead>
                            <tbody>
                                {a.top.into_iter().map(|c| view! {
                                    <tr>
                                        <td><a href=format!("/campaigns/{}", c.id)>{c.name}</a></td>
                                        <td class="num">{thousands(c.new_followers)}</td>
                                        <td class="num">{thousands(c.scans)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </div>
        </section>
    }
}

/// The four headline numbers of one period.
#[component]
fn Period(title: Signal<String>, f: Figures, testid: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="card" data-testid=testid>
            <h3>{title}</h3>
            <div class="metric-cards">
                <div class="metric"><span class="metric-label">{t!(i18n, metric_scans)}</span><span class="metric-value">{thousands(f.scans)}</span></div>
                <div class="metric"><span class="metric-label">{t!(i18n, metric_new_followers)}</span><span class="metric-value">{thousands(f.new_followers)}</span></div>
                <div class="metric"><span class="metric-label">{t!(i18n, metric_unsubscribes)}</span><span class="metric-value">{thousands(f.unsubscribes)}</span></div>
                <div class="metric"><span class="metric-label">{t!(i18n, metric_net)}</span><span class="metric-value">{thousands(f.net_followers)}</span></div>
            </div>
        </div>
    }
}

/// Organic versus campaign followers of the week, as a bar with both shares in words.
#[component]
fn Split(f: Figures) -> impl IntoView {
    let i18n = use_i18n();
    let total = f.new_followers.max(1);
    let pct = |n: i64| (n * 100 + total / 2) / total;
    let (campaign, organic) = (pct(f.campaign_followers), pct(f.organic_followers));
    view! {
        <div class="split" role="img" aria-label=move || format!("{} {campaign}% · {} {organic}%", t_string!(i18n, source_campaign), t_string!(i18n, source_organic))>
            <span class="split-campaign" style=format!("width:{campaign}%")></span>
            <span class="split-organic" style=format!("width:{organic}%")></span>
        </div>
        <p class="small" data-testid="split">
            <span class="dot dot-campaign"></span>{t!(i18n, source_campaign)}" "<strong>{thousands(f.campaign_followers)}</strong>{format!(" ({campaign}%)")}
            " · "
            <span class="dot dot-organic"></span>{t!(i18n, source_organic)}" "<strong>{thousands(f.organic_followers)}</strong>{format!(" ({organic}%)")}
        </p>
    }
}
