//! Share links of a campaign's page: a read-only view of the campaign, or of its group, at
//! `/s/{token}` for people without an account (`service::share_links`). Staff and admins may
//! share what they may edit; each function checks the session on the server, and the service
//! writes the audit rows.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A share link as the campaign page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRow {
    pub id: i32,
    /// The full address; `None` when it cannot be shown (sealed under another secret key).
    pub url: Option<String>,
    /// The group it shows; `None`: the campaign.
    pub group: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub expires_at: Option<String>,
    pub has_password: bool,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

/// The share links of campaign `id` and of its group.
#[server(endpoint = "share_links")]
pub async fn share_links(id: i32) -> Result<Vec<ShareRow>, AppError> {
    crate::api::auth::ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let now = chrono::Utc::now();
    let base = st.settings.public_url.trim_end_matches('/').to_owned();
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(service::share_links::for_campaign(&st, id)
        .await?
        .into_iter()
        .map(|l| ShareRow {
            id: l.id,
            url: l.token.as_ref().map(|t| format!("{base}/s/{t}")),
            state: if l.revoked_at.is_some() {
                "revoked"
            } else if l.live(now) {
                "active"
            } else {
                "expired"
            }
            .to_owned(),
            group: l.group,
            created_at: time(l.created_at),
            expires_at: l.expires_at.map(time),
            has_password: l.has_password,
        })
        .collect())
}

/// Creates a share link of campaign `id` (`scope` = `campaign`) or of its group (`group`),
/// optionally expiring after `expires_days` days and asking for `password`.
#[server(endpoint = "create_share_link")]
pub async fn create_share_link(id: i32, scope: String, expires_days: Option<String>, password: Option<String>) -> Result<(), AppError> {
    use service::share_links::{NewShare, Target};
    let user = crate::api::auth::ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let target = match scope.as_str() {
        "group" => {
            let c = service::campaigns::get(&st.db, id).await?;
            let group = c.group.ok_or_else(|| AppError::field("scope", service::Msg::ShareNoGroup))?;
            Target::Group { account_id: c.account_id, group }
        }
        _ => Target::Campaign(id),
    };
    let new = NewShare { target, expires_days, password };
    service::share_links::create(&st, new, Some(user.id), chrono::Utc::now()).await?;
    leptos_axum::redirect(&format!("/campaigns/{id}?shared=1#share"));
    Ok(())
}

/// Revokes share link `link` (listed on campaign `id`'s page): it answers 404 from now on.
#[server(endpoint = "revoke_share_link")]
pub async fn revoke_share_link(id: i32, link: i32) -> Result<(), AppError> {
    let user = crate::api::auth::ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    // Only a link this campaign's page lists: the id alone does not let a form reach others.
    if !service::share_links::for_campaign(&st, id).await?.iter().any(|l| l.id == link) {
        return Err(service::ServiceError::NotFound.into());
    }
    service::share_links::revoke(&st, link, Some(user.id), chrono::Utc::now()).await?;
    leptos_axum::redirect(&format!("/campaigns/{id}?share_revoked=1#share"));
    Ok(())
}
