//! Tagging followers in WeChat: a follower who came through a campaign with a tag name gets
//! that tag (`tags/members/batchtagging`), the tag created on first use. Runs as a background
//! job (`tag_follower`, queued by the ingest), so WeChat's latency never reaches the callback.

use crate::entity::campaign;
use crate::{AppState, ServiceError, accounts};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use wechat::WechatError;

/// Why a follower could not be tagged; its words become the job's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error("the campaign no longer exists")]
    NoCampaign,
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Wechat(#[from] WechatError),
}

impl From<sea_orm::DbErr> for TagError {
    fn from(e: sea_orm::DbErr) -> Self {
        TagError::Service(e.into())
    }
}

/// Gives the follower `openid` the campaign's tag, creating the tag in WeChat (and storing its
/// id) on first use. A campaign without a tag name has nothing to do.
pub async fn tag_follower(st: &AppState, campaign_id: i32, openid: &str) -> Result<(), TagError> {
    let c = campaign::Entity::find_by_id(campaign_id).one(&st.db).await?.ok_or(TagError::NoCampaign)?;
    let Some(tag_name) = c.tag_name.clone() else { return Ok(()) };
    let account = accounts::model(&st.db, c.account_id).await?;
    let api = accounts::api_client(st, &account)?;
    let tag_id = match c.tag_id {
        Some(id) => id as u64,
        None => {
            let id = match api.create_tag(&tag_name).await {
                Ok(tag) => tag.id,
                // The name is taken: another instance's worker created it a moment ago, or this
                // one crashed between creating it and storing its id. Either way it is ours.
                Err(e) if e.errcode() == Some(crate::health::TAG_NAME_TAKEN) => {
                    let tags = api.list_tags().await?;
                    tags.into_iter().find(|t| t.name == tag_name).map(|t| t.id).ok_or(e)?
                }
                Err(e) => return Err(e.into()),
            };
            let mut active: campaign::ActiveModel = c.into();
            active.tag_id = Set(Some(id as i64));
            active.update(&st.db).await?;
            id
        }
    };
    Ok(api.batch_tag(tag_id, &[openid.to_owned()]).await?)
}
