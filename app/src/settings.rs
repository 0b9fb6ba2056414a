//! Settings data for admins: the WeChat accounts and the callback URL to configure.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One connected WeChat account (never its secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub name: String,
    pub app_id: String,
    pub message_mode: String,
    pub callback_url: String,
}

/// What the Settings page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsData {
    /// `{public_url}/wechat/callback/{app_id}` with a placeholder app id.
    pub callback_template: String,
    pub accounts: Vec<AccountSummary>,
}

/// Accounts and the callback URL form (admins only).
#[server(endpoint = "settings_overview")]
pub async fn settings_overview() -> Result<SettingsData, AppError> {
    use sea_orm::{EntityTrait, QueryOrder};
    use service::entity::wechat_account;
    crate::auth::ssr::require_admin().await?;
    let st = crate::auth::ssr::state()?;
    let base = st.settings.public_url.trim_end_matches('/').to_owned();
    let accounts = wechat_account::Entity::find()
        .order_by_asc(wechat_account::Column::Name)
        .all(&st.db)
        .await
        .map_err(service::ServiceError::from)?
        .into_iter()
        .map(|a| AccountSummary {
            callback_url: format!("{base}/wechat/callback/{}", a.app_id),
            name: a.name,
            app_id: a.app_id,
            message_mode: a.message_mode,
        })
        .collect();
    Ok(SettingsData { callback_template: format!("{base}/wechat/callback/{{AppID}}"), accounts })
}
