//! The campaigns list.

use crate::components::ui::{EmptyState, PageHeader};
use crate::i18n::*;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn CampaignsPage() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <Title text=move || t_string!(i18n, campaigns_title).to_string() />
        <PageHeader title=Signal::derive(move || t_string!(i18n, campaigns_title).to_string()) />
        <EmptyState
            title=Signal::derive(move || t_string!(i18n, campaigns_empty_title).to_string())
            body=Signal::derive(move || t_string!(i18n, campaigns_empty_body).to_string())
        />
    }
}
