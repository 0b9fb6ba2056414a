//! A campaign's life: issuing a code from WeChat and storing it (also for renewal), then
//! creating, editing, archiving, restoring and deleting a campaign.

use super::store::{get, is_unique_violation, unix_to_utc};
use super::types::{CampaignEdit, CampaignInput, CampaignView, Kind, Welcome};
use super::validate::{
    NewCampaign, ShortText, clean_days, clean_name, clean_optional, name_taken, name_taken_message, scene_conflict, validate_input,
};
use super::{MAX_EXPIRE_DAYS, MAX_GROUP, MAX_TAG};
use crate::entity::{campaign, campaign_hourly, event, qr_code};
use crate::{AppState, Msg, ServiceError, audit, scenes};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait};
use serde_json::json;
use wechat::{QrCodeRequest, QrLifetime, Scene, WechatApi};

/// Asks WeChat for a code; the error is the message to show.
pub(crate) async fn issue(api: &dyn WechatApi, scene: &Scene, kind: Kind, days: Option<i32>) -> Result<wechat::QrCode, Msg> {
    let lifetime = match kind {
        Kind::Permanent => QrLifetime::Permanent,
        Kind::Temporary => {
            // Validated 1–30 before: at most 2 592 000 s, WeChat's maximum.
            let days = days.unwrap_or(MAX_EXPIRE_DAYS).clamp(1, MAX_EXPIRE_DAYS) as u32;
            QrLifetime::Temporary { expire_seconds: days * 86_400 }
        }
    };
    api.create_qr_code(&QrCodeRequest { scene: scene.clone(), lifetime })
        .await
        .map_err(|e| Msg::CodeNotIssued(Box::new(crate::msg::from_wechat(&e))))
}

/// The campaign whose code [`insert_code`] stores.
pub(crate) struct CodeOwner<'a> {
    pub campaign_id: i32,
    pub account_id: i32,
    pub scene: &'a str,
    pub kind: Kind,
}

/// Stores a code WeChat issued at `now` for `owner`, and its scene in `issued_scenes`;
/// returns its expiry. The expiry is dated from `now`, the clock's time before the request,
/// with the life WeChat granted: on the clock that renewals run by.
pub(crate) async fn insert_code(
    txn: &DatabaseTransaction,
    owner: CodeOwner<'_>,
    code: &wechat::QrCode,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let expires_at = match code.expire_seconds {
        Some(secs) => Some(now + Duration::seconds(secs)),
        None => code.expires_at.and_then(unix_to_utc),
    };
    qr_code::ActiveModel {
        campaign_id: Set(owner.campaign_id),
        ticket: Set(code.ticket.clone()),
        url: Set(code.url.clone()),
        expires_at: Set(expires_at),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    scenes::record(txn, owner.account_id, owner.scene, owner.kind == Kind::Permanent, expires_at).await?;
    Ok(expires_at)
}

/// Inserts the campaign and its first code; returns the campaign id.
pub(super) async fn insert_new(
    txn: &DatabaseTransaction,
    c: &NewCampaign,
    code: &wechat::QrCode,
    actor: Option<i32>,
    now: DateTime<Utc>,
) -> Result<i32, DbErr> {
    let model = campaign::ActiveModel {
        account_id: Set(c.account_id),
        name: Set(c.name.clone()),
        group_name: Set(c.group.clone()),
        kind: Set(c.kind.as_str().to_owned()),
        scene: Set(c.scene.to_string()),
        expire_days: Set(c.expire_days),
        auto_renew: Set(c.auto_renew),
        welcome_message: Set(c.welcome.as_ref().map(Welcome::to_json)),
        tag_name: Set(c.tag_name.clone()),
        tag_id: Set(None),
        archived_at: Set(None),
        created_by: Set(actor),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let scene = c.scene.to_string();
    insert_code(txn, CodeOwner { campaign_id: model.id, account_id: c.account_id, scene: &scene, kind: c.kind }, code, now).await?;
    Ok(model.id)
}

/// Creates a campaign and issues its code.
///
/// Everything is checked first (nothing is sent to WeChat or stored on a bad field); then the
/// code is issued, and the campaign, its code and the audit row are stored in one transaction.
/// A WeChat refusal is a `Validation` on field `wechat` with WeChat's reason.
pub async fn create(st: &AppState, api: &dyn WechatApi, input: CampaignInput, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let now = st.clock.now();
    let c = validate_input(db, &input, now).await?;
    let code = issue(api, &c.scene, c.kind, c.expire_days).await.map_err(|m| ServiceError::invalid("wechat", m))?;
    let txn = db.begin().await?;
    let id = match insert_new(&txn, &c, &code, actor, now).await {
        Ok(id) => id,
        Err(e) => {
            txn.rollback().await.ok();
            // Another request took the scene between our check and this insert.
            if is_unique_violation(&e) {
                return Err(scene_conflict(db, c.account_id, &c.scene.to_string()).await);
            }
            return Err(e.into());
        }
    };
    audit::record(
        &txn,
        actor,
        "campaign.create",
        "campaign",
        Some(id.to_string()),
        json!({ "name": c.name, "account_id": c.account_id, "kind": c.kind.as_str(), "scene": c.scene.to_string() }),
    )
    .await?;
    txn.commit().await?;
    get(db, id).await
}

/// Saves the editable fields (same checks as [`create`]); audit `campaign.update` lists the
/// changed fields. A new tag name forgets the old tag's WeChat id.
pub async fn update(st: &AppState, id: i32, edit: CampaignEdit, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let current = get(db, id).await?;
    let kind: Kind = current.kind.parse()?;
    let name = clean_name(&edit.name).map_err(|m| ServiceError::invalid("name", m))?;
    let group = clean_optional(edit.group.as_deref(), ShortText::Group, MAX_GROUP).map_err(|m| ServiceError::invalid("group", m))?;
    let expire_days = clean_days(kind, edit.expire_days).map_err(|m| ServiceError::invalid("expire_days", m))?;
    let welcome = edit.welcome.map(Welcome::validated).transpose()?;
    let tag_name = clean_optional(edit.tag_name.as_deref(), ShortText::Tag, MAX_TAG).map_err(|m| ServiceError::invalid("tag_name", m))?;
    let auto_renew = kind == Kind::Temporary && edit.auto_renew;
    // An archived campaign's name is checked again when it is restored.
    if current.archived_at.is_none() && name != current.name && name_taken(db, current.account_id, &name, Some(id)).await? {
        return Err(ServiceError::conflict("name", name_taken_message(&name)));
    }

    let mut changed: Vec<&str> = Vec::new();
    let mut up = campaign::Entity::update_many().filter(campaign::Column::Id.eq(id));
    if name != current.name {
        changed.push("name");
        up = up.col_expr(campaign::Column::Name, Expr::value(name.clone()));
    }
    if group != current.group {
        changed.push("group");
        up = up.col_expr(campaign::Column::GroupName, Expr::value(group));
    }
    if expire_days != current.expire_days {
        changed.push("expire_days");
        up = up.col_expr(campaign::Column::ExpireDays, Expr::value(expire_days));
    }
    if auto_renew != current.auto_renew {
        changed.push("auto_renew");
        up = up.col_expr(campaign::Column::AutoRenew, Expr::value(auto_renew));
    }
    if welcome != current.welcome {
        changed.push("welcome");
        up = up.col_expr(campaign::Column::WelcomeMessage, Expr::value(welcome.as_ref().map(Welcome::to_json)));
    }
    if tag_name != current.tag_name {
        changed.push("tag_name");
        up = up
            .col_expr(campaign::Column::TagName, Expr::value(tag_name))
            .col_expr(campaign::Column::TagId, Expr::value(Option::<i64>::None));
    }
    if changed.is_empty() {
        return Ok(current);
    }
    up = up.col_expr(campaign::Column::UpdatedAt, Expr::value(Utc::now()));
    let txn = db.begin().await?;
    up.exec(&txn).await?;
    audit::record(&txn, actor, "campaign.update", "campaign", Some(id.to_string()), json!({ "changed": changed })).await?;
    txn.commit().await?;
    get(db, id).await
}

/// Hides a campaign from lists and dashboards; its history and code stay (scans still count).
pub async fn archive(st: &AppState, id: i32, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let current = get(db, id).await?;
    if current.archived_at.is_some() {
        return Ok(current);
    }
    let now = Utc::now();
    let txn = db.begin().await?;
    campaign::Entity::update_many()
        .col_expr(campaign::Column::ArchivedAt, Expr::value(Some(now)))
        .col_expr(campaign::Column::UpdatedAt, Expr::value(now))
        .filter(campaign::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, "campaign.archive", "campaign", Some(id.to_string()), json!({ "name": current.name })).await?;
    txn.commit().await?;
    get(db, id).await
}

/// Brings an archived campaign back, unless another live campaign took its name meanwhile.
pub async fn unarchive(st: &AppState, id: i32, actor: Option<i32>) -> Result<CampaignView, ServiceError> {
    let db = &st.db;
    let current = get(db, id).await?;
    if current.archived_at.is_none() {
        return Ok(current);
    }
    if name_taken(db, current.account_id, &current.name, Some(id)).await? {
        return Err(ServiceError::conflict("name", Msg::CampaignNameTakenOnRestore { name: current.name.clone() }));
    }
    let txn = db.begin().await?;
    campaign::Entity::update_many()
        .col_expr(campaign::Column::ArchivedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(campaign::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(campaign::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    audit::record(&txn, actor, "campaign.unarchive", "campaign", Some(id.to_string()), json!({ "name": current.name })).await?;
    txn.commit().await?;
    get(db, id).await
}

/// Deletes a campaign that never recorded a scan, with its codes. One with history is
/// refused (archive keeps its history in the charts). Its scene stays in `issued_scenes`: the
/// quota WeChat charged is not returned, and the scene is not handed out while a printed copy
/// of its code can still be scanned ([`crate::scenes`]).
pub async fn delete(st: &AppState, id: i32, actor: Option<i32>) -> Result<(), ServiceError> {
    let db = &st.db;
    let txn = db.begin().await?;
    let found: Option<(String, String)> = campaign::Entity::find_by_id(id)
        .select_only()
        .column(campaign::Column::Name)
        .column(campaign::Column::Scene)
        .into_tuple()
        .one(&txn)
        .await?;
    let Some((name, scene)) = found else {
        txn.rollback().await.ok();
        return Err(ServiceError::NotFound);
    };
    let has_events = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::CampaignId.eq(id))
        .into_tuple::<i64>()
        .one(&txn)
        .await?
        .is_some();
    let has_counters = campaign_hourly::Entity::find()
        .select_only()
        .column(campaign_hourly::Column::Hour)
        .filter(campaign_hourly::Column::CampaignId.eq(id))
        .into_tuple::<i64>()
        .one(&txn)
        .await?
        .is_some();
    if has_events || has_counters {
        txn.rollback().await.ok();
        return Err(ServiceError::conflict("campaign", Msg::CampaignHasScans));
    }
    qr_code::Entity::delete_many().filter(qr_code::Column::CampaignId.eq(id)).exec(&txn).await?;
    campaign::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(&txn, actor, "campaign.delete", "campaign", Some(id.to_string()), json!({ "name": name, "scene": scene })).await?;
    txn.commit().await?;
    Ok(())
}

/// Stores campaign `id`'s logo (an upload, validated and re-encoded: [`crate::qr::prepare_logo`])
/// or clears it (`None`), with an audit row.
pub async fn set_logo(st: &AppState, id: i32, upload: Option<&[u8]>, actor: Option<i32>) -> Result<(), ServiceError> {
    get(&st.db, id).await?;
    let png = crate::qr::prepare_logo(upload).await?;
    let action = if png.is_some() { "campaign.logo" } else { "campaign.logo_remove" };
    let txn = st.db.begin().await?;
    campaign::ActiveModel { id: Set(id), logo: Set(png), updated_at: Set(Utc::now()), ..Default::default() }.update(&txn).await?;
    audit::record(&txn, actor, action, "campaign", Some(id.to_string()), json!({})).await?;
    txn.commit().await?;
    Ok(())
}
