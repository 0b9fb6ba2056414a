//! The audit log (admins only): who created, changed, archived or exported what, and when.

use crate::api::settings::audit_log;
use crate::components::ui::{ErrorPanel, Loading, PageHeader};
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AuditPage() -> impl IntoView {
    let i18n = use_i18n();
    let q = use_query_map();
    let data = Resource::new_blocking(
        move || q.with(|q| (q.get("page").and_then(|p| p.parse::<u64>().ok()), q.get("kind"))),
        |(page, kind)| audit_log(page, kind),
    );
    view! {
        <Title text=t_string!(i18n, audit_title).to_string() />
        <PageHeader title=Signal::derive(move || t_string!(i18n, audit_title).to_string()) />
        <nav class="tabs" aria-label="filter">
            <a href="/audit">{t!(i18n, audit_all)}</a>
            <a href="/audit?kind=campaign">{t!(i18n, nav_campaigns)}</a>
            <a href="/audit?kind=account">{t!(i18n, settings_accounts)}</a>
            <a href="/audit?kind=user">{t!(i18n, nav_users)}</a>
            <a href="/audit?kind=export">{t!(i18n, audit_exports)}</a>
            <a href="/audit?kind=api_key">{t!(i18n, audit_api_keys)}</a>
            <a href="/audit?kind=share_link">{t!(i18n, share_title)}</a>
            <a href="/audit?kind=digest">{t!(i18n, digests_title)}</a>
        </nav>
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(p) => {
                        let pages = p.total.div_ceil(p.per_page).max(1);
                        let kind = q.with_untracked(|q| q.get("kind")).map(|k| format!("&kind={k}")).unwrap_or_default();
                        view! {
                            <div class="card table-wrap">
                                <table class="table" data-testid="audit-table">
                                    <thead><tr>
                                        <th>{t!(i18n, audit_when)}</th><th>{t!(i18n, audit_who)}</th>
                                        <th>{t!(i18n, audit_action)}</th><th>{t!(i18n, audit_target)}</th><th>{t!(i18n, audit_detail)}</th>
                                    </tr></thead>
                                    <tbody>
                                        {p.rows.into_iter().map(|r| view! {
                                            <tr>
                                                <td class="nowrap">{r.at}</td>
                                                <td>{r.username.unwrap_or_else(|| "—".into())}</td>
                                                <td><code>{r.action}</code></td>
                                                <td>{r.target}</td>
                                                <td class="small mono">{r.detail}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {(pages > 1).then(|| view! {
                                <nav class="pager">
                                    {(p.page > 1).then(|| view! { <a class="btn btn-sm" href=format!("/audit?page={}{kind}", p.page - 1)>{t!(i18n, page_prev)}</a> })}
                                    <span class="muted">{format!("{} / {pages}", p.page)}</span>
                                    {(p.page < pages).then(|| view! { <a class="btn btn-sm" href=format!("/audit?page={}{kind}", p.page + 1)>{t!(i18n, page_next)}</a> })}
                                </nav>
                            })}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
