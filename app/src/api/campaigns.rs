//! Campaigns as pages see them, and the server functions behind the campaign pages.
//!
//! Every function checks the session first; creating, editing, renewing and importing are
//! open to staff as well as admins (it is their daily work), and each change lands in the
//! audit log through the service layer. Forms post here with JavaScript on or off: on success
//! the functions redirect to the page that shows the result, so both modes end up in the same
//! place.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A campaign as the list shows it (shared with `/api/v1`), with its all-time counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CampaignRow {
    pub id: i32,
    pub name: String,
    pub group: Option<String>,
    pub account_id: i32,
    pub account_name: String,
    pub kind: String,
    pub scene: String,
    /// `active`, `expiring`, `expired`, `archived` or `no_code`.
    pub status: String,
    /// When the current code stops working: RFC 3339 in the account's time zone.
    pub expires_at: Option<String>,
    pub scans: i64,
    pub new_followers: i64,
    pub unsubscribes: i64,
    pub has_code: bool,
}

/// One page of the list, with what the filter form needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignList {
    pub rows: Vec<CampaignRow>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
    pub groups: Vec<String>,
    pub has_accounts: bool,
}

/// Everything the campaign page shows and its edit form needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignInfo {
    pub row: CampaignRow,
    pub app_id: String,
    pub expire_days: Option<i32>,
    pub auto_renew: bool,
    /// `none`, `text` or `news`.
    pub welcome_kind: String,
    pub welcome_text: String,
    pub news_title: String,
    pub news_description: String,
    pub news_url: String,
    pub tag_name: String,
    pub created_at: String,
    /// The text inside the QR code.
    pub code_url: Option<String>,
    pub archived: bool,
    pub has_logo: bool,
}

/// A WeChat account, as the new-campaign and import forms offer it and `/api/v1` lists it
/// (never its secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountChoice {
    pub id: i32,
    pub name: String,
    pub app_id: String,
    /// The IANA zone its days are counted in.
    pub timezone: String,
}

#[cfg(feature = "ssr")]
impl From<service::accounts::AccountView> for AccountChoice {
    fn from(a: service::accounts::AccountView) -> Self {
        AccountChoice { id: a.id, name: a.name, app_id: a.app_id, timezone: a.timezone }
    }
}

/// What the new-campaign and import forms offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormChoices {
    pub accounts: Vec<AccountChoice>,
    pub groups: Vec<String>,
}

/// A row of an import preview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPreviewRow {
    pub line: u64,
    pub name: String,
    /// The scene as typed, or the one that will be assigned.
    pub scene: String,
    pub kind: String,
    pub group: Option<String>,
    pub expire_days: Option<i32>,
}

/// The answer to an import: the checked rows, and how many were created (0 for a preview).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    pub rows: Vec<ImportPreviewRow>,
    pub imported: usize,
}

/// Rows per page of the list.
pub const PER_PAGE: u64 = 25;

/// A page of campaigns, filtered and sorted as the query string says.
#[server(endpoint = "list_campaigns")]
pub async fn list_campaigns(
    q: Option<String>,
    group: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    page: Option<u64>,
) -> Result<CampaignList, AppError> {
    use service::campaigns::{self, ListQuery, Sort};
    ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let (sort, desc) = match sort.as_deref().unwrap_or("created") {
        "name" => (Sort::Name, false),
        "scans" => (Sort::Scans, true),
        _ => (Sort::Created, true),
    };
    let query = ListQuery {
        q: q.filter(|s| !s.trim().is_empty()),
        group: group.filter(|s| !s.is_empty()),
        status: status.filter(|s| !s.is_empty()),
        sort,
        desc,
        page: page.unwrap_or(1).max(1),
        per_page: PER_PAGE,
        ..Default::default()
    };
    let result = campaigns::list(&st.db, &query).await?;
    let zones = ssr::zones(&st).await?;
    Ok(CampaignList {
        rows: result.rows.iter().map(|c| ssr::row(c, &zones)).collect(),
        total: result.total,
        page: result.page,
        per_page: result.per_page,
        groups: campaigns::groups(&st.db).await?,
        has_accounts: !zones.is_empty(),
    })
}

/// One campaign.
#[server(endpoint = "campaign_detail")]
pub async fn campaign_detail(id: i32) -> Result<CampaignInfo, AppError> {
    ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let c = service::campaigns::get(&st.db, id).await?;
    let zones = ssr::zones(&st).await?;
    Ok(ssr::detail(&c, &zones))
}

/// Accounts and groups for the new-campaign and import forms.
#[server(endpoint = "campaign_form_data")]
pub async fn campaign_form_data() -> Result<FormChoices, AppError> {
    ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let accounts = service::accounts::list(&st.db).await?.into_iter().map(AccountChoice::from).collect();
    Ok(FormChoices { accounts, groups: service::campaigns::groups(&st.db).await? })
}

/// The fields the new-campaign form and the edit form share, as posted: each field is named
/// as its form field (`#[server(flatten)]` keeps the names), and holds the text as sent (an
/// empty field is `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignForm {
    pub name: String,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub group: Option<String>,
    /// Read for temporary codes only.
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub expire_days: Option<String>,
    /// The checkbox: present (any value) means on.
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub auto_renew: Option<String>,
    /// `none`, `text` or `news`; the fields of the other kinds are ignored.
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub welcome_kind: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub welcome_text: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub news_title: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub news_description: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub news_url: Option<String>,
    #[serde(default, deserialize_with = "crate::api::empty_none")]
    pub tag_name: Option<String>,
}

#[cfg(feature = "ssr")]
impl CampaignForm {
    /// The fields as the service takes a change: blank fields count as not given, and the
    /// expiry is read only for a `temporary` code. The one reading of the form; creating adds
    /// what only a new campaign has ([`CampaignForm::input`]).
    pub fn edit(self, temporary: bool) -> Result<service::campaigns::CampaignEdit, AppError> {
        use service::campaigns::Welcome;
        let welcome = match self.welcome_kind.as_deref() {
            Some("text") => Some(Welcome::Text { content: self.welcome_text.unwrap_or_default() }),
            Some("news") => Some(Welcome::News {
                title: self.news_title.unwrap_or_default(),
                description: self.news_description.unwrap_or_default(),
                url: self.news_url.unwrap_or_default(),
                pic_url: None,
            }),
            _ => None,
        };
        Ok(service::campaigns::CampaignEdit {
            name: self.name,
            group: ssr::blank_none(self.group),
            expire_days: if temporary { ssr::parse_days(self.expire_days)? } else { None },
            auto_renew: self.auto_renew.is_some(),
            welcome,
            tag_name: ssr::blank_none(self.tag_name),
        })
    }

    /// A new campaign of `account_id`, of `kind` (`permanent` or `temporary`), at `scene`
    /// (blank: the next free number).
    pub fn input(self, account_id: i32, kind: String, scene: Option<String>) -> Result<service::campaigns::CampaignInput, AppError> {
        let e = self.edit(kind == "temporary")?;
        Ok(service::campaigns::CampaignInput {
            account_id,
            name: e.name,
            group: e.group,
            kind,
            scene: ssr::blank_none(scene),
            expire_days: e.expire_days,
            auto_renew: e.auto_renew,
            welcome: e.welcome,
            tag_name: e.tag_name,
        })
    }
}

/// Create a campaign and issue its code; goes to the campaign's page.
#[server(endpoint = "create_campaign")]
pub async fn create_campaign(
    account_id: String,
    kind: String,
    scene: Option<String>,
    #[server(flatten)] form: CampaignForm,
) -> Result<i32, AppError> {
    let user = ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let account_id: i32 = account_id.trim().parse().map_err(|_| AppError::field("account_id", service::Msg::AccountRequired))?;
    let input = form.input(account_id, kind, scene)?;
    let account =
        service::accounts::model(&st.db, account_id).await.map_err(|_| AppError::field("account_id", service::Msg::AccountRequired))?;
    let api = service::accounts::api_client(&st, &account)?;
    let created = service::campaigns::create(&st, api.as_ref(), input, Some(user.id)).await?;
    leptos_axum::redirect(&format!("/campaigns/{}?created=1", created.id));
    Ok(created.id)
}

/// Save the editable fields of a campaign (name, group, expiry, welcome, tag).
#[server(endpoint = "update_campaign")]
pub async fn update_campaign(id: i32, #[server(flatten)] form: CampaignForm) -> Result<(), AppError> {
    use service::campaigns;
    let user = ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let current = campaigns::get(&st.db, id).await?;
    let edit = form.edit(current.kind == "temporary")?;
    campaigns::update(&st, id, edit, Some(user.id)).await?;
    leptos_axum::redirect(&format!("/campaigns/{id}?saved=1"));
    Ok(())
}

/// Issue a fresh ticket for a temporary campaign (same scene).
#[server(endpoint = "renew_campaign")]
pub async fn renew_campaign(id: i32) -> Result<(), AppError> {
    let user = ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let c = service::campaigns::get(&st.db, id).await?;
    let account = service::accounts::model(&st.db, c.account_id).await?;
    let api = service::accounts::api_client(&st, &account)?;
    service::campaigns::renew(&st, api.as_ref(), id, Some(user.id)).await?;
    leptos_axum::redirect(&format!("/campaigns/{id}?renewed=1"));
    Ok(())
}

/// A campaign's public image link, as its page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicLinkInfo {
    pub enabled: bool,
    /// The full addresses of the PNG and the SVG; `None` while off, or when the stored token
    /// cannot be shown (sealed under another secret key: regenerating shows a new one).
    pub png_url: Option<String>,
    pub svg_url: Option<String>,
}

/// The campaign's public image link (`/q/{token}.png`, `.svg`).
#[server(endpoint = "public_link")]
pub async fn public_link(id: i32) -> Result<PublicLinkInfo, AppError> {
    ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    service::campaigns::get(&st.db, id).await?;
    let link = service::public_codes::get(&st.db, &st.keys, id).await?;
    let base = st.settings.public_url.trim_end_matches('/');
    let token = link.as_ref().and_then(|l| l.token.clone());
    Ok(PublicLinkInfo {
        enabled: link.is_some(),
        png_url: token.as_ref().map(|t| format!("{base}/q/{t}.png")),
        svg_url: token.as_ref().map(|t| format!("{base}/q/{t}.svg")),
    })
}

/// Turn a campaign's public image link on or off, or give it a new address (`action` = `on`,
/// `off` or `regenerate`). Open to whoever may edit campaigns (staff and admins, checked here
/// on the server); the service writes the audit row.
#[server(endpoint = "campaign_public_link")]
pub async fn campaign_public_link(id: i32, action: String) -> Result<(), AppError> {
    use service::public_codes;
    let user = ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let notice = match action.as_str() {
        "on" => {
            public_codes::enable(&st, id, Some(user.id)).await?;
            "link_on"
        }
        "off" => {
            public_codes::disable(&st, id, Some(user.id)).await?;
            "link_off"
        }
        "regenerate" => {
            public_codes::regenerate(&st, id, Some(user.id)).await?;
            "link_new"
        }
        _ => return Err(AppError::field("action", service::Msg::UnknownAction)),
    };
    leptos_axum::redirect(&format!("/campaigns/{id}?{notice}=1"));
    Ok(())
}

/// Archive, restore or delete a campaign (`action` = `archive`, `unarchive` or `delete`).
/// Delete is refused once the campaign has recorded events: archive keeps its history.
#[server(endpoint = "campaign_lifecycle")]
pub async fn campaign_lifecycle(id: i32, action: String) -> Result<(), AppError> {
    use service::campaigns;
    let user = ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    match action.as_str() {
        "archive" => {
            campaigns::archive(&st, id, Some(user.id)).await?;
            leptos_axum::redirect(&format!("/campaigns/{id}?archived=1"));
        }
        "unarchive" => {
            campaigns::unarchive(&st, id, Some(user.id)).await?;
            leptos_axum::redirect(&format!("/campaigns/{id}?restored=1"));
        }
        "delete" => {
            campaigns::delete(&st, id, Some(user.id)).await?;
            leptos_axum::redirect("/campaigns?deleted=1");
        }
        _ => return Err(AppError::field("action", service::Msg::UnknownAction)),
    }
    Ok(())
}

/// Check (`preview` set) or import a CSV of campaigns, all or nothing. Bad rows come back as
/// [`AppError::Rows`] with their line numbers.
#[server(endpoint = "import_campaigns")]
pub async fn import_campaigns(account_id: String, csv: String, preview: Option<String>) -> Result<ImportOutcome, AppError> {
    use service::campaigns;
    let user = ssr::require_user().await?;
    let st = crate::api::auth::ssr::state()?;
    let account_id: i32 = account_id.trim().parse().map_err(|_| AppError::field("account_id", service::Msg::AccountRequired))?;
    let account =
        service::accounts::model(&st.db, account_id).await.map_err(|_| AppError::field("account_id", service::Msg::AccountRequired))?;
    if csv.trim().is_empty() {
        return Err(AppError::field("csv", service::Msg::CsvMissing));
    }
    let plan = campaigns::plan_import_at(&st.db, account_id, &csv, st.clock.now()).await?;
    if !plan.errors.is_empty() {
        return Err(ssr::rows_error(plan.errors));
    }
    let rows: Vec<ImportPreviewRow> = plan
        .rows
        .iter()
        .map(|r| ImportPreviewRow {
            line: r.line,
            name: r.name.clone(),
            scene: r.scene.clone().unwrap_or_default(),
            kind: r.kind.clone(),
            group: r.group.clone(),
            expire_days: r.expire_days,
        })
        .collect();
    if preview.is_some() {
        return Ok(ImportOutcome { rows, imported: 0 });
    }
    let api = service::accounts::api_client(&st, &account)?;
    let ids = campaigns::import(&st, api.as_ref(), account_id, &csv, Some(user.id)).await.map_err(|e| match e {
        campaigns::ImportFailed::Rows(rows) => ssr::rows_error(rows),
        campaigns::ImportFailed::Service(e) => e.into(),
    })?;
    leptos_axum::redirect(&format!("/campaigns?imported={}", ids.len()));
    Ok(ImportOutcome { rows, imported: ids.len() })
}

#[cfg(feature = "ssr")]
#[path = "campaigns_ssr.rs"]
pub mod ssr;
