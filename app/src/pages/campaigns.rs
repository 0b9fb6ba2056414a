//! The campaigns list: search, filter by group and status, sort, page; each row shows its
//! code and headline numbers. Rows can be ticked and their codes downloaded as one ZIP.
//!
//! The filter form is a plain GET form and the ZIP download a plain GET form too, so the
//! whole page works the same with JavaScript off.

use crate::api::campaigns::{CampaignList, CampaignRow, list_campaigns};
use crate::components::ui::{EmptyState, ErrorPanel, Loading, Notice, PageHeader};
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn CampaignsPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let data = Resource::new_blocking(
        move || {
            query.with(|q| (q.get("q"), q.get("group"), q.get("status"), q.get("sort"), q.get("page").and_then(|p| p.parse::<u64>().ok())))
        },
        |(q, group, status, sort, page)| list_campaigns(q, group, status, sort, page),
    );
    view! {
        <Title text=t_string!(i18n, campaigns_title).to_string() />
        <PageHeader title=Signal::derive(move || t_string!(i18n, campaigns_title).to_string())>
            <a class="btn" href="/campaigns/import" data-testid="import-link">{t!(i18n, campaigns_import)}</a>
            <a class="btn btn-primary" href="/campaigns/new" data-testid="new-campaign">{t!(i18n, campaigns_new)}</a>
        </PageHeader>
        <Notice key="imported" text=Signal::derive(move || t_string!(i18n, campaigns_imported_notice).to_string()) />
        <Notice key="deleted" text=Signal::derive(move || t_string!(i18n, campaign_deleted_notice).to_string()) />
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(list) => view! { <ListBody list=list /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ListBody(list: CampaignList) -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let current = move |k: &str| query.with_untracked(|q| q.get(k).unwrap_or_default());
    let filtered = ["q", "group", "status"].iter().any(|k| !current(k).is_empty());
    if list.rows.is_empty() && !filtered {
        return view! {
            <EmptyState
                title=Signal::derive(move || t_string!(i18n, campaigns_empty_title).to_string())
                body=Signal::derive(move || t_string!(i18n, campaigns_empty_body).to_string())
            >
                {if list.has_accounts {
                    view! { <p><a class="btn btn-primary" href="/campaigns/new">{t!(i18n, campaigns_new)}</a></p> }.into_any()
                } else {
                    view! { <p class="muted">{t!(i18n, campaigns_need_account)}</p> }.into_any()
                }}
            </EmptyState>
        }
        .into_any();
    }
    let (q, group, status, sort) = (current("q"), current("group"), current("status"), current("sort"));
    let pages = list.total.div_ceil(list.per_page).max(1);
    let page = list.page;
    let page_link = move |p: u64| {
        let mut parts = vec![];
        for (k, v) in [("q", &q), ("group", &group), ("status", &status), ("sort", &sort)] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", crate::urls::urlencode(v)));
            }
        }
        parts.push(format!("page={p}"));
        format!("/campaigns?{}", parts.join("&"))
    };
    let status_options = [
        ("", t_string!(i18n, filter_status_all)),
        ("active", t_string!(i18n, status_campaign_active)),
        ("expiring", t_string!(i18n, status_campaign_expiring)),
        ("expired", t_string!(i18n, status_campaign_expired)),
        ("archived", t_string!(i18n, status_campaign_archived)),
    ];
    let sort_options =
        [("created", t_string!(i18n, sort_created)), ("name", t_string!(i18n, sort_name)), ("scans", t_string!(i18n, sort_scans))];
    let (cur_group, cur_status, cur_sort) = (current("group"), current("status"), current("sort"));
    view! {
        <form method="get" action="/campaigns" class="filters card" role="search" data-testid="filters">
            <label class="field">
                <span>{t!(i18n, filter_search)}</span>
                <input type="search" name="q" value=current("q") placeholder=move || t_string!(i18n, filter_search_hint).to_string() />
            </label>
            <label class="field">
                <span>{t!(i18n, field_group)}</span>
                <select name="group">
                    <option value="">{t!(i18n, filter_group_all)}</option>
                    {list.groups.iter().map(|g| {
                        let selected = *g == cur_group;
                        view! { <option value=g.clone() selected=selected>{g.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label class="field">
                <span>{t!(i18n, filter_status)}</span>
                <select name="status">
                    {status_options.into_iter().map(|(v, label)| {
                        let selected = v == cur_status;
                        view! { <option value=v selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label class="field">
                <span>{t!(i18n, filter_sort)}</span>
                <select name="sort">
                    {sort_options.into_iter().map(|(v, label)| {
                        let selected = v == cur_sort || (cur_sort.is_empty() && v == "created");
                        view! { <option value=v selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class="btn">{t!(i18n, filter_apply)}</button>
        </form>
        <form method="get" action="/campaigns/codes.zip" class="card table-wrap">
            <table class="table" data-testid="campaigns-table">
                <thead>
                    <tr>
                        <th class="check"><span class="sr-only">{t!(i18n, select)}</span></th>
                        <th>{t!(i18n, col_code)}</th>
                        <th>{t!(i18n, col_name)}</th>
                        <th>{t!(i18n, field_scene)}</th>
                        <th>{t!(i18n, filter_status)}</th>
                        <th class="num">{t!(i18n, metric_scans)}</th>
                        <th class="num">{t!(i18n, metric_new_followers)}</th>
                        <th class="num">{t!(i18n, metric_unsubscribes)}</th>
                    </tr>
                </thead>
                <tbody>
                    {list.rows.into_iter().map(|r| view! { <Row row=r /> }).collect_view()}
                </tbody>
            </table>
            <div class="table-footer">
                <span class="muted small" data-testid="total">{t!(i18n, campaigns_total, n = list.total)}</span>
                <span class="batch">
                    <label class="inline">
                        {t!(i18n, download_size)}" "
                        <select name="size">
                            {service_sizes().into_iter().map(|s| view! { <option value=s.to_string() selected=s == 430>{format!("{s} px")}</option> }).collect_view()}
                        </select>
                    </label>
                    <button type="submit" class="btn btn-sm" data-testid="zip-download">{t!(i18n, download_zip)}</button>
                    <button type="submit" formaction="/compare" class="btn btn-sm" data-testid="compare-selected">{t!(i18n, compare_selected)}</button>
                </span>
            </div>
        </form>
        {(pages > 1).then(|| view! {
            <nav class="pager" aria-label="pages">
                {(page > 1).then(|| view! { <a class="btn btn-sm" href=page_link(page - 1)>{t!(i18n, page_prev)}</a> })}
                <span class="muted">{format!("{page} / {pages}")}</span>
                {(page < pages).then(|| view! { <a class="btn btn-sm" href=page_link(page + 1)>{t!(i18n, page_next)}</a> })}
            </nav>
        })}
    }
    .into_any()
}

/// The pixel sizes WeChat offers for downloads.
pub fn service_sizes() -> [u32; 4] {
    [258, 430, 860, 1280]
}

#[component]
fn Row(row: CampaignRow) -> impl IntoView {
    let id = row.id;
    let href = format!("/campaigns/{id}");
    view! {
        <tr data-testid="campaign-row">
            <td class="check">
                <input type="checkbox" name="ids" value=id.to_string() disabled=!row.has_code aria-label=row.name.clone() />
            </td>
            <td>
                {row.has_code.then(|| view! {
                    <img class="qr-thumb" src=format!("/campaigns/{id}/qr.png?size=128") width="48" height="48" loading="lazy" alt="" />
                })}
            </td>
            <td>
                <a href=href.clone() class="strong">{row.name.clone()}</a>
                <div class="muted small">{row.group.clone().unwrap_or_default()}" "{row.account_name.clone()}</div>
            </td>
            <td><code>{row.scene.clone()}</code></td>
            <td><StatusBadge status=row.status.clone() expires_at=row.expires_at.clone() /></td>
            <td class="num">{crate::format::thousands(row.scans)}</td>
            <td class="num">{crate::format::thousands(row.new_followers)}</td>
            <td class="num">{crate::format::thousands(row.unsubscribes)}</td>
        </tr>
    }
}

/// The status of a campaign's code, with its expiry when it has one.
#[component]
pub fn StatusBadge(status: String, expires_at: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    let (class, label) = match status.as_str() {
        "active" => ("badge badge-ok", t_string!(i18n, status_campaign_active)),
        "expiring" => ("badge badge-warn", t_string!(i18n, status_campaign_expiring)),
        "expired" => ("badge badge-danger", t_string!(i18n, status_campaign_expired)),
        "archived" => ("badge badge-muted", t_string!(i18n, status_campaign_archived)),
        _ => ("badge badge-muted", t_string!(i18n, status_campaign_no_code)),
    };
    view! {
        <span class=class data-status=status.clone()>{label}</span>
        {expires_at.map(|t| view! { <div class="muted small">{t_string!(i18n, expires_on).to_string()}" "{crate::format::minute(&t)}</div> })}
    }
}
