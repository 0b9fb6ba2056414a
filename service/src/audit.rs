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
