//! The checks of a campaign's fields (names, short texts, days, scenes), the lookups they need
//! (who holds a scene or a name), and every check of a new campaign before its code is issued.

use super::types::{CampaignInput, Kind, Welcome};
use super::{MAX_EXPIRE_DAYS, MAX_GROUP, MAX_NAME, MAX_TAG, PERMANENT_QUOTA};
use crate::entity::{campaign, wechat_account};
use crate::{Msg, ServiceError, scenes};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use wechat::Scene;

/// Trims and checks a name: 1–64 characters, no control characters.
pub(super) fn clean_name(name: &str) -> Result<String, Msg> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 {
        return Err(Msg::CampaignNameEmpty);
    }
    if n > MAX_NAME {
        return Err(Msg::NameTooLong { n, max: MAX_NAME });
    }
    if name.chars().any(char::is_control) {
        return Err(Msg::NameControl);
    }
    Ok(name.to_owned())
}

/// The short optional texts of a campaign, for their messages.
#[derive(Clone, Copy)]
pub(super) enum ShortText {
    Group,
    Tag,
}

/// Trims an optional short text; blank becomes `None`.
pub(super) fn clean_optional(text: Option<&str>, what: ShortText, max: usize) -> Result<Option<String>, Msg> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    let n = t.chars().count();
    if n > max {
        return Err(match what {
            ShortText::Group => Msg::GroupTooLong { n, max },
            ShortText::Tag => Msg::TagTooLong { n, max },
        });
    }
    if t.chars().any(char::is_control) {
        return Err(match what {
            ShortText::Group => Msg::GroupControl,
            ShortText::Tag => Msg::TagControl,
        });
    }
    Ok(Some(t.to_owned()))
}

/// Days of a temporary code (required, 1–30); permanent codes have none.
pub(crate) fn clean_days(kind: Kind, days: Option<i32>) -> Result<Option<i32>, Msg> {
    match kind {
        Kind::Permanent => Ok(None),
        Kind::Temporary => match days {
            None => Err(Msg::DaysMissing { max: MAX_EXPIRE_DAYS }),
            Some(d) if !(1..=MAX_EXPIRE_DAYS).contains(&d) => Err(Msg::DaysOutOfRange { max: MAX_EXPIRE_DAYS, days: d }),
            Some(d) => Ok(Some(d)),
        },
    }
}

/// Parses typed scene text (trimmed); `None` means "assign one".
pub(super) fn clean_scene(text: Option<&str>) -> Result<Option<Scene>, Msg> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => Scene::parse(t).map(Some).map_err(|e| match e {
            wechat::SceneError::IdOutOfRange(id) => Msg::SceneIdOutOfRange { id },
            wechat::SceneError::StrLength(n) => Msg::SceneTextLength { n },
            wechat::SceneError::StrControl => Msg::SceneTextControl,
        }),
    }
}

pub(super) fn scene_taken_message(scene: &str, holder: &str, archived: bool) -> Msg {
    let (scene, holder) = (scene.to_owned(), holder.to_owned());
    if archived { Msg::SceneTakenArchived { scene, holder } } else { Msg::SceneTaken { scene, holder } }
}

pub(super) fn name_taken_message(name: &str) -> Msg {
    Msg::CampaignNameTaken { name: name.to_owned() }
}

/// The campaign that holds `scene` in the account, and whether it is archived.
async fn scene_holder<C: ConnectionTrait>(db: &C, account_id: i32, scene: &str) -> Result<Option<(String, bool)>, DbErr> {
    let row: Option<(String, Option<DateTime<Utc>>)> = campaign::Entity::find()
        .select_only()
        .column(campaign::Column::Name)
        .column(campaign::Column::ArchivedAt)
        .filter(campaign::Column::AccountId.eq(account_id))
        .filter(campaign::Column::Scene.eq(scene))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map(|(n, a)| (n, a.is_some())))
}

/// The Conflict for a scene that turned out to be taken (also after losing an insert race).
pub(super) async fn scene_conflict<C: ConnectionTrait>(db: &C, account_id: i32, scene: &str) -> ServiceError {
    let message = match scene_holder(db, account_id, scene).await {
        Ok(Some((holder, archived))) => scene_taken_message(scene, &holder, archived),
        _ => Msg::SceneTakenByAnother { scene: scene.to_owned() },
    };
    ServiceError::conflict("scene", message)
}

/// Is `name` used by a campaign of the account that is not archived (other than `except`)?
pub(super) async fn name_taken<C: ConnectionTrait>(db: &C, account_id: i32, name: &str, except: Option<i32>) -> Result<bool, DbErr> {
    let mut q = campaign::Entity::find()
        .select_only()
        .column(campaign::Column::Id)
        .filter(campaign::Column::AccountId.eq(account_id))
        .filter(campaign::Column::Name.eq(name))
        .filter(campaign::Column::ArchivedAt.is_null());
    if let Some(id) = except {
        q = q.filter(campaign::Column::Id.ne(id));
    }
    Ok(q.into_tuple::<i32>().one(db).await?.is_some())
}

pub(super) async fn account_exists<C: ConnectionTrait>(db: &C, account_id: i32) -> Result<bool, DbErr> {
    Ok(wechat_account::Entity::find_by_id(account_id)
        .select_only()
        .column(wechat_account::Column::Id)
        .into_tuple::<i32>()
        .one(db)
        .await?
        .is_some())
}

/// A campaign ready to be issued and stored.
pub(super) struct NewCampaign {
    pub(super) account_id: i32,
    pub(super) name: String,
    pub(super) group: Option<String>,
    pub(super) kind: Kind,
    pub(super) scene: Scene,
    pub(super) expire_days: Option<i32>,
    pub(super) auto_renew: bool,
    pub(super) welcome: Option<Welcome>,
    pub(super) tag_name: Option<String>,
}

/// Every check of [`create`] at `now`, field by field, before anything is sent or stored.
pub(super) async fn validate_input<C: ConnectionTrait>(
    db: &C,
    input: &CampaignInput,
    now: DateTime<Utc>,
) -> Result<NewCampaign, ServiceError> {
    let name = clean_name(&input.name).map_err(|m| ServiceError::invalid("name", m))?;
    let group = clean_optional(input.group.as_deref(), ShortText::Group, MAX_GROUP).map_err(|m| ServiceError::invalid("group", m))?;
    let kind: Kind = input.kind.parse()?;
    let scene = clean_scene(input.scene.as_deref()).map_err(|m| ServiceError::invalid("scene", m))?;
    let expire_days = clean_days(kind, input.expire_days).map_err(|m| ServiceError::invalid("expire_days", m))?;
    let welcome = input.welcome.clone().map(Welcome::validated).transpose()?;
    let tag_name = clean_optional(input.tag_name.as_deref(), ShortText::Tag, MAX_TAG).map_err(|m| ServiceError::invalid("tag_name", m))?;
    if !account_exists(db, input.account_id).await? {
        return Err(ServiceError::invalid("account_id", Msg::AccountRequired));
    }
    if name_taken(db, input.account_id, &name, None).await? {
        return Err(ServiceError::conflict("name", name_taken_message(&name)));
    }
    if kind == Kind::Permanent && scenes::permanent_issued(db, input.account_id).await? >= PERMANENT_QUOTA {
        return Err(ServiceError::invalid("kind", Msg::PermanentQuotaFull));
    }
    let scene = match scene {
        Some(s) => {
            if let Some((holder, archived)) = scene_holder(db, input.account_id, &s.to_string()).await? {
                return Err(ServiceError::conflict("scene", scene_taken_message(&s.to_string(), &holder, archived)));
            }
            scenes::check_typed(db, input.account_id, &s.to_string(), now).await?;
            s
        }
        None => match scenes::next_free(db, input.account_id, now).await? {
            Some(n) => Scene::Id(n),
            None => {
                return Err(ServiceError::invalid("scene", Msg::ScenesExhausted));
            }
        },
    };
    Ok(NewCampaign {
        account_id: input.account_id,
        name,
        group,
        kind,
        scene,
        expire_days,
        auto_renew: kind == Kind::Temporary && input.auto_renew,
        welcome,
        tag_name,
    })
}
