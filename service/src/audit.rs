//! The audit log: a row for each change an admin or staff member makes.

use crate::entity::audit_log;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};

/// Record `action` on a target. `detail` must never contain a secret.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    user_id: Option<i32>,
    action: &str,
    target_type: &str,
    target_id: Option<String>,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    audit_log::ActiveModel {
        user_id: Set(user_id),
        action: Set(action.to_owned()),
        target_type: Set(target_type.to_owned()),
        target_id: Set(target_id),
        detail: Set(detail.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// One audit entry with the name of the user who made it (None: a script or the system).
#[derive(Clone, Debug)]
pub struct Entry {
    pub entry: audit_log::Model,
    pub username: Option<String>,
}

/// The newest entries first, `limit` of them from `offset`; optionally only one action prefix
/// (`campaign.`, `account.`, `user.`).
pub async fn list<C: ConnectionTrait>(db: &C, prefix: Option<&str>, limit: u64, offset: u64) -> Result<(Vec<Entry>, u64), DbErr> {
    use crate::entity::user;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
    let mut query = audit_log::Entity::find();
    if let Some(p) = prefix.filter(|p| !p.is_empty()) {
        query = query.filter(audit_log::Column::Action.starts_with(p));
    }
    let total = query.clone().count(db).await?;
    let rows = query.order_by_desc(audit_log::Column::Id).limit(limit).offset(offset).all(db).await?;
    let ids: Vec<i32> = rows.iter().filter_map(|r| r.user_id).collect();
    let names: std::collections::HashMap<i32, String> =
        user::Entity::find().filter(user::Column::Id.is_in(ids)).all(db).await?.into_iter().map(|u| (u.id, u.username)).collect();
    Ok((rows.into_iter().map(|entry| Entry { username: entry.user_id.and_then(|id| names.get(&id).cloned()), entry }).collect(), total))
}
