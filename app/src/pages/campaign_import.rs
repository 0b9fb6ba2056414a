//! Import campaigns from CSV: paste (or pick a file, when JavaScript runs), preview, import.
//! All or nothing: one bad row and nothing is created, and every bad row is listed with its
//! line number.

use crate::api::campaigns::{FormChoices, ImportCampaigns, campaign_form_data};
use crate::components::ui::{ErrorPanel, FieldError, FormError, IslandI18n, Loading, PageHeader, action_error};
use crate::i18n::*;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ImportPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new_blocking(|| (), |_| campaign_form_data());
    view! {
        <Title text=t_string!(i18n, campaigns_import).to_string() />
        <PageHeader title=Signal::derive(move || t_string!(i18n, campaigns_import).to_string()) />
        <p class="muted"><a href="/campaigns">{t!(i18n, back_to_campaigns)}</a></p>
        <Suspense fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e /> }.into_any(),
                    Ok(d) if d.accounts.is_empty() => view! {
                        <p class="alert alert-info">{t!(i18n, campaigns_need_account)}</p>
                    }.into_any(),
                    Ok(d) => view! { <ImportForm data=d /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The form and its preview, hydrated in the browser on their own (an island): the preview
/// and reading a picked file happen there.
#[island]
fn ImportForm(data: FormChoices) -> impl IntoView {
    view! { <IslandI18n><ImportFields data=data /></IslandI18n> }
}

#[component]
fn ImportFields(data: FormChoices) -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<ImportCampaigns>::new();
    let error = action_error(action);
    let preview = move || action.value().get().and_then(|r| r.ok()).filter(|o| o.imported == 0);
    let csv = RwSignal::new(String::new());
    let single = data.accounts.len() == 1;
    // Reading a picked file needs the browser's FileReader: an enhancement on top of pasting.
    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            use wasm_bindgen::closure::Closure;
            let input: web_sys::HtmlInputElement = event_target(&ev);
            let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
            let Ok(reader) = web_sys::FileReader::new() else { return };
            let r = reader.clone();
            let onload = Closure::<dyn FnMut()>::new(move || {
                if let Some(text) = r.result().ok().and_then(|v| v.as_string()) {
                    csv.set(text.trim_start_matches('\u{feff}').to_owned());
                }
            });
            reader.set_onload(Some(onload.as_ref().unchecked_ref()));
            onload.forget();
            let _ = reader.read_as_text(&file);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <div class="card">
            <p>{t!(i18n, import_intro)}</p>
            <pre class="code">"name,scene,kind,group,expire_days\n春季海报,,permanent,海报,\n门店收银台,shop-001,temporary,门店,30"</pre>
            <p class="small muted">{t!(i18n, import_rules)}</p>
        </div>
        <ActionForm action=action attr:class="form card" attr:data-testid="import-form">
            <FormError error=error fields=&["account_id", "csv"] />
            <label class="field">
                <span>{t!(i18n, field_account)}</span>
                <select name="account_id" required>
                    {data.accounts.into_iter().map(|a| view! {
                        <option value=a.id.to_string() selected=single>{format!("{} ({})", a.name, a.app_id)}</option>
                    }).collect_view()}
                </select>
                <FieldError error=error name="account_id" />
            </label>
            <label class="field js-only">
                <span>{t!(i18n, import_file)}</span>
                <input type="file" accept=".csv,text/csv" on:change=on_file data-testid="csv-file" />
            </label>
            <label class="field">
                <span>{t!(i18n, import_csv)}</span>
                <textarea name="csv" rows="10" spellcheck="false" class="mono" data-testid="csv" prop:value=move || csv.get()
                    on:input=move |ev| csv.set(event_target_value(&ev))></textarea>
                <FieldError error=error name="csv" />
            </label>
            <div class="form-actions">
                <button type="submit" name="preview" value="1" class="btn" data-testid="import-preview">{t!(i18n, import_preview)}</button>
                <button type="submit" class="btn btn-primary" data-testid="import-submit">{t!(i18n, import_submit)}</button>
            </div>
        </ActionForm>
        {move || preview().map(|o| view! {
            <section class="card table-wrap" data-testid="import-preview-table">
                <p class="alert alert-ok">{t!(i18n, import_preview_ok, n = o.rows.len())}</p>
                <table class="table">
                    <thead><tr>
                        <th>{t!(i18n, import_col_line)}</th><th>{t!(i18n, col_name)}</th><th>{t!(i18n, field_scene)}</th>
                        <th>{t!(i18n, field_kind)}</th><th>{t!(i18n, field_group)}</th><th>{t!(i18n, field_expire_days)}</th>
                    </tr></thead>
                    <tbody>
                        {o.rows.into_iter().map(|r| view! {
                            <tr>
                                <td>{r.line}</td><td>{r.name}</td>
                                <td>{if r.scene.is_empty() { t_string!(i18n, field_scene_auto).to_string() } else { r.scene }}</td>
                                <td>{r.kind}</td><td>{r.group.unwrap_or_default()}</td>
                                <td>{r.expire_days.map(|d| d.to_string()).unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}
    }
}
