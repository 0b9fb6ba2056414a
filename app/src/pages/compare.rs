//! Compare campaigns: pick several (or a group), one metric, a range; one chart with a line
//! per campaign and a table of their totals, downloadable as CSV, SVG and PNG. A GET form, so
//! a comparison is a link to share and works with JavaScript off.

use crate::api::analytics::{CompareQuery, CompareView, compare_campaigns};
use crate::components::ui::{ErrorPanel, Loading, PageHeader};
use crate::i18n::*;
use crate::pages::campaign::{granularity_choices, metric_word};
use crate::urls::urlencode;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Metrics a comparison can use (docs/contract.md names).
const METRICS: [&str; 5] = ["new_followers", "scans", "unsubscribes", "net_followers", "unique_scanners"];

#[component]
pub fn ComparePage() -> impl IntoView {
    let i18n = use_i18n();
    let q = use_query_map();
    let lang = move || if i18n.get_locale() == Locale::en { "en" } else { "zh" };
    // The query string as the server function takes it: blank values are absent, the repeated
    // `ids` joined with commas.
    let query = move || {
        q.with(|q| {
            let get = |k: &str| q.get(k).filter(|s| !s.is_empty());
            let ids = q.get_all("ids").unwrap_or_default().join(",");
            CompareQuery {
                ids: (!ids.is_empty()).then_some(ids),
                group: get("group"),
                metric: get("metric"),
                from: get("from"),
                to: get("to"),
                days: get("days"),
                granularity: get("granularity"),
                lang: Some(lang().to_owned()),
            }
        })
    };
    let data = crate::server_only::page_data(query, compare_campaigns, false);
    view! {
        <Title text=t_string!(i18n, compare_title).to_string() />
        <PageHeader title=Signal::derive(move || t_string!(i18n, compare_title).to_string()) />
        <p class="muted">{t!(i18n, compare_intro)}</p>
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(v) => view! { <Compare v=v /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Compare(v: CompareView) -> impl IntoView {
    let i18n = use_i18n();
    let CompareView { choices, groups, svg, table: v } = v;
    let q = use_query_map();
    let get = move |k: &str| q.with(|q| q.get(k).unwrap_or_default());
    let chosen: Vec<String> = q.with(|q| q.get_all("ids").unwrap_or_default());
    let chosen: Vec<String> = chosen.iter().flat_map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>()).collect();
    let group = get("group");
    let metric = get("metric");
    let metric = if metric.is_empty() { "new_followers".to_owned() } else { metric };
    let metric_word = move |key: &str| metric_word(i18n, key);
    let gran = get("granularity");
    let granularities = granularity_choices(i18n);
    // Downloads repeat the comparison as the server resolved it.
    let mut parts: Vec<String> = v.lines.iter().map(|l| format!("ids={}", l.id)).collect();
    if chosen.is_empty() && !group.is_empty() {
        parts = vec![format!("group={}", urlencode(&group))];
    }
    parts.push(format!("metric={metric}"));
    parts.push(format!("from={}&to={}&granularity={}", v.from, v.to, v.granularity));
    let params = parts.join("&");
    let lang = if i18n.get_locale_untracked() == Locale::en { "en" } else { "zh" };
    let has_result = !v.lines.is_empty();
    view! {
        <form method="get" action="/compare" class="card form compare-form" data-testid="compare-form">
            <fieldset class="field">
                <legend>{t!(i18n, compare_pick)}</legend>
                <div class="compare-picks">
                    {choices.iter().map(|c| {
                        let checked = chosen.iter().any(|x| x == &c.id.to_string());
                        let label = match &c.group {
                            Some(g) => format!("{} · {g}", c.name),
                            None => c.name.clone(),
                        };
                        view! {
                            <label class="check"><input type="checkbox" name="ids" value=c.id.to_string() checked=checked data-testid=format!("pick-{}", c.id) />{label}</label>
                        }
                    }).collect_view()}
                </div>
            </fieldset>
            <div class="filters trend-form">
                <label class="field">
                    <span>{t!(i18n, compare_group)}</span>
                    <select name="group" data-testid="compare-group">
                        <option value="">{t!(i18n, compare_group_none)}</option>
                        {groups.iter().map(|g| view! { <option value=g.clone() selected=*g == group>{g.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>{t!(i18n, compare_metric)}</span>
                    <select name="metric" data-testid="compare-metric">
                        {METRICS.into_iter().map(|m| view! { <option value=m selected=m == metric>{metric_word(m)}</option> }).collect_view()}
                    </select>
                </label>
                <label class="field"><span>{t!(i18n, range_from)}</span><input type="date" name="from" value=v.from.clone() /></label>
                <label class="field"><span>{t!(i18n, range_to)}</span><input type="date" name="to" value=v.to.clone() /></label>
                <label class="field">
                    <span>{t!(i18n, granularity)}</span>
                    <select name="granularity">
                        {granularities.into_iter().map(|(val, l)| view! { <option value=val selected=gran == val>{l}</option> }).collect_view()}
                    </select>
                </label>
                <button type="submit" class="btn btn-primary" data-testid="compare-submit">{t!(i18n, compare_submit)}</button>
            </div>
        </form>
        {if has_result {
            let metric_label = metric_word(&metric);
            view! {
                <section class="card trend" data-testid="compare-result">
                    <p class="small muted">{format!("{} – {} · {}", v.from, v.to, v.timezone)}</p>
                    <div class="chart" data-testid="compare-chart" inner_html=svg.clone()></div>
                    <div class="downloads">
                        <a class="btn btn-sm" href=format!("/compare/chart.svg?{params}&lang={lang}") download="compare.svg" rel="external">{t!(i18n, download_chart)}</a>
                        <a class="btn btn-sm" href=format!("/compare/chart.png?{params}&lang={lang}") download="compare.png" rel="external">{t!(i18n, download_chart_png)}</a>
                        <a class="btn btn-sm" href=format!("/export/compare.csv?{params}") rel="external" data-testid="compare-csv">{t!(i18n, compare_csv)}</a>
                    </div>
                    <h2>{t!(i18n, compare_table)}</h2>
                    <div class="table-wrap">
                        <table class="table" data-testid="compare-table">
                            <thead><tr>
                                <th>{t!(i18n, col_name)}</th>
                                <th>{t!(i18n, col_group)}</th>
                                <th class="num">{t!(i18n, metric_scans)}</th>
                                <th class="num">{t!(i18n, metric_new_followers)}</th>
                                <th class="num">{t!(i18n, metric_unsubscribes)}</th>
                                <th class="num">{t!(i18n, metric_net)}</th>
                                <th class="num">{t!(i18n, metric_unique)}</th>
                                <th class="num">{t!(i18n, compare_retention7)}</th>
                            </tr></thead>
                            <tbody>
                                {v.lines.into_iter().map(|l| view! {
                                    <tr data-testid=format!("compare-row-{}", l.id)>
                                        <td>
                                            <a href=format!("/campaigns/{}", l.id)>{l.name.clone()}</a>
                                            {(!l.charted).then(|| view! { <span class="small muted">" "{t!(i18n, compare_not_charted)}</span> })}
                                        </td>
                                        <td>{l.group.clone().unwrap_or_default()}</td>
                                        <td class="num" data-col="scans">{crate::format::thousands(l.scans)}</td>
                                        <td class="num" data-col="new_followers">{crate::format::thousands(l.new_followers)}</td>
                                        <td class="num" data-col="unsubscribes">{crate::format::thousands(l.unsubscribes)}</td>
                                        <td class="num" data-col="net_followers">{crate::format::thousands(l.net_followers)}</td>
                                        <td class="num" data-col="unique_scanners">{crate::format::thousands(l.unique_scanners)}</td>
                                        <td class="num">{l.retention_7d.map(|p| format!("{p}%")).unwrap_or_else(|| "—".into())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <p class="small muted">{metric_label}" · "{t!(i18n, trend_definitions)}</p>
                </section>
            }.into_any()
        } else {
            view! { <p class="muted" data-testid="compare-empty">{t!(i18n, compare_empty)}</p> }.into_any()
        }}
    }
}
