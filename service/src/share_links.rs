//! Share links: a read-only view of one campaign, or of one group of an account, at
//! `/s/{token}`, for a store manager or an agency without an account.
//!
//! - The token is 192 random bits, like a public image link's ([`crate::public_codes`]), and
//!   stored the same way: its SHA-256 to look it up, sealed with the secret key so staff can
//!   copy the link again ([`reseal`] on a key rotation).
//! - A link may expire and may ask for a password (argon2, like users'). A person who gave the
//!   password gets a cookie holding [`unlock_tag`]: a MAC of the link and its password hash,
//!   valid for that link only.
//! - Revoking keeps the row (`revoked_at`) for the list and the audit log; a revoked, expired
//!   or unknown token, and an archived campaign, all resolve to `None` alike.
//! - Whoever may edit campaigns may share them (the doors check); each change is audited,
//!   never with the token or the password.

use crate::entity::{campaign, share_link};
use crate::public_codes::new_token;
pub use crate::public_codes::token_hash;
use crate::{AppState, Keys, Msg, ServiceError, audit};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

/// Longest life a link may be given, in days; no expiry is allowed too.
pub const MAX_DAYS: i64 = 365;
/// Tokens longer than this are not looked up (no real token is; it bounds the hashing).
const MAX_TOKEN_LEN: usize = 128;

/// What a link shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Campaign(i32),
    Group { account_id: i32, group: String },
}

/// A new link as asked for: `expires_days` and `password` as typed (blank: none).
#[derive(Clone, Debug)]
pub struct NewShare {
    pub target: Target,
    pub expires_days: Option<String>,
    pub password: Option<String>,
}

/// A link as the campaign page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareLink {
    pub id: i32,
    /// `None` when it does not open under the current secret key (a rotation without reseal).
    pub token: Option<String>,
    /// The campaign's link (`None`: the group's).
    pub campaign_id: Option<i32>,
    pub group: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_password: bool,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ShareLink {
    /// Opens at `now`: neither revoked nor expired.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }
}

/// What a token opens.
#[derive(Clone, Debug)]
pub struct Shared {
    pub id: i32,
    pub account_id: i32,
    pub target: Target,
    pub token_hash: String,
    pub password_hash: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn context(token_hash: &str) -> String {
    format!("share_links.token:{token_hash}")
}

fn clean_days(days: Option<&str>) -> Result<Option<i64>, ServiceError> {
    let Some(text) = days.map(str::trim).filter(|d| !d.is_empty()) else { return Ok(None) };
    match text.parse::<i64>() {
        Ok(d) if (1..=MAX_DAYS).contains(&d) => Ok(Some(d)),
        _ => Err(ServiceError::invalid("expires_days", Msg::ShareDays { days: text.to_owned(), max: MAX_DAYS })),
    }
}

/// The live campaign `id`'s account and group; archived campaigns are not shared.
async fn live_campaign<C: ConnectionTrait>(db: &C, id: i32) -> Result<campaign::Model, ServiceError> {
    let c = campaign::Entity::find_by_id(id).one(db).await?.ok_or(ServiceError::NotFound)?;
    if c.archived_at.is_some() {
        return Err(ServiceError::invalid("campaign", Msg::ShareArchived));
    }
    Ok(c)
}

/// Creates a link and returns it, token included.
pub async fn create(st: &AppState, new: NewShare, actor: Option<i32>, now: DateTime<Utc>) -> Result<ShareLink, ServiceError> {
    let days = clean_days(new.expires_days.as_deref())?;
    let password = new.password.filter(|p| !p.is_empty());
    let password_hash = match &password {
        Some(p) => {
            crate::users::validate_password(p)?;
            Some(crate::users::hash_password(p).await?)
        }
        None => None,
    };
    let txn = st.db.begin().await?;
    let (account_id, campaign_id, group) = match &new.target {
        Target::Campaign(id) => (live_campaign(&txn, *id).await?.account_id, Some(*id), None),
        Target::Group { account_id, group } => {
            let group = group.trim();
            if crate::campaigns::group_members(&txn, group, Some(*account_id)).await?.is_empty() {
                return Err(ServiceError::invalid("group", Msg::CompareGroupEmpty { group: group.to_owned() }));
            }
            (*account_id, None, Some(group.to_owned()))
        }
    };
    let token = new_token();
    let hash = token_hash(&token);
    let expires_at = days.map(|d| now + Duration::days(d));
    let row = share_link::ActiveModel {
        token_enc: Set(st.keys.seal(&context(&hash), &token)),
        token_hash: Set(hash),
        account_id: Set(account_id),
        campaign_id: Set(campaign_id),
        group_name: Set(group.clone()),
        created_by: Set(actor),
        created_at: Set(now),
        expires_at: Set(expires_at),
        password_hash: Set(password_hash),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let detail = json!({ "campaign_id": campaign_id, "group": group, "expires_at": expires_at, "password": row.password_hash.is_some() });
    audit::record(&txn, actor, "share_link.create", "share_link", Some(row.id.to_string()), detail).await?;
    txn.commit().await?;
    Ok(view(&st.keys, row))
}

fn view(keys: &Keys, r: share_link::Model) -> ShareLink {
    ShareLink {
        id: r.id,
        token: keys.open(&context(&r.token_hash), &r.token_enc).ok(),
        campaign_id: r.campaign_id,
        group: r.group_name,
        created_at: r.created_at,
        expires_at: r.expires_at,
        has_password: r.password_hash.is_some(),
        revoked_at: r.revoked_at,
    }
}

/// The links a campaign's page lists: the campaign's own and its group's (in its account),
/// newest first, revoked ones included.
pub async fn for_campaign(st: &AppState, campaign_id: i32) -> Result<Vec<ShareLink>, ServiceError> {
    let c = campaign::Entity::find_by_id(campaign_id).one(&st.db).await?.ok_or(ServiceError::NotFound)?;
    let mut cond = sea_orm::Condition::any().add(share_link::Column::CampaignId.eq(campaign_id));
    if let Some(g) = &c.group_name {
        cond = cond.add(
            sea_orm::Condition::all()
                .add(share_link::Column::AccountId.eq(c.account_id))
                .add(share_link::Column::CampaignId.is_null())
                .add(share_link::Column::GroupName.eq(g.clone())),
        );
    }
    let rows = share_link::Entity::find().filter(cond).order_by_desc(share_link::Column::Id).all(&st.db).await?;
    Ok(rows.into_iter().map(|r| view(&st.keys, r)).collect())
}

/// Revokes link `id` at once: its page answers 404 from now on.
pub async fn revoke(st: &AppState, id: i32, actor: Option<i32>, now: DateTime<Utc>) -> Result<(), ServiceError> {
    let txn = st.db.begin().await?;
    let row = share_link::Entity::find_by_id(id).one(&txn).await?.ok_or(ServiceError::NotFound)?;
    if row.revoked_at.is_some() {
        return Err(ServiceError::invalid("id", Msg::ShareRevoked));
    }
    let detail = json!({ "campaign_id": row.campaign_id, "group": row.group_name });
    let mut active: share_link::ActiveModel = row.into();
    active.revoked_at = Set(Some(now));
    active.update(&txn).await?;
    audit::record(&txn, actor, "share_link.revoke", "share_link", Some(id.to_string()), detail).await?;
    txn.commit().await?;
    Ok(())
}

/// The link `token` opens at `now`, if any: one answer (`None`) for a token that never
/// existed, a revoked or expired link, and an archived campaign.
pub async fn resolve<C: ConnectionTrait>(db: &C, token: &str, now: DateTime<Utc>) -> Result<Option<Shared>, ServiceError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    let Some(r) = share_link::Entity::find().filter(share_link::Column::TokenHash.eq(token_hash(token))).one(db).await? else {
        return Ok(None);
    };
    if r.revoked_at.is_some() || r.expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    let target = match (r.campaign_id, r.group_name) {
        (Some(id), _) => {
            let archived: Option<Option<DateTime<Utc>>> =
                campaign::Entity::find_by_id(id).select_only().column(campaign::Column::ArchivedAt).into_tuple().one(db).await?;
            if archived.is_none_or(|a| a.is_some()) {
                return Ok(None);
            }
            Target::Campaign(id)
        }
        (None, Some(group)) => Target::Group { account_id: r.account_id, group },
        (None, None) => return Ok(None),
    };
    Ok(Some(Shared {
        id: r.id,
        account_id: r.account_id,
        target,
        token_hash: r.token_hash,
        password_hash: r.password_hash,
        expires_at: r.expires_at,
    }))
}

/// The unlock cookie's value for `shared` (when it has a password): changes when the
/// password does, and opens no other link.
pub fn unlock_tag(keys: &Keys, shared: &Shared) -> Option<String> {
    shared.password_hash.as_ref().map(|p| keys.share_unlock(&format!("{}\0{p}", shared.token_hash)))
}

/// Whether a cookie `value` is [`unlock_tag`] of `shared`, compared in constant time (a guess
/// learns nothing from how long the comparison took). A link without a password: never.
pub fn unlocks(keys: &Keys, shared: &Shared, value: &str) -> bool {
    shared.password_hash.as_ref().is_some_and(|p| keys.share_unlock_matches(&format!("{}\0{p}", shared.token_hash), value))
}

/// Re-seals every stored token under `new` (a key rotation). One that does not open under
/// `old` is left as it is: the link keeps working (lookups use the hash). Returns how many.
pub async fn reseal<C: ConnectionTrait>(db: &C, old: &Keys, new: &Keys) -> Result<usize, DbErr> {
    let mut resealed = 0;
    for r in share_link::Entity::find().all(db).await? {
        if let Ok(token) = old.open(&context(&r.token_hash), &r.token_enc) {
            let sealed = new.seal(&context(&r.token_hash), &token);
            let mut active: share_link::ActiveModel = r.into();
            active.token_enc = Set(sealed);
            active.update(db).await?;
            resealed += 1;
        }
    }
    Ok(resealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_checked_by_field() {
        assert_eq!(clean_days(None).unwrap(), None);
        assert_eq!(clean_days(Some("  ")).unwrap(), None);
        assert_eq!(clean_days(Some("7")).unwrap(), Some(7));
        for bad in ["0", "366", "x", "-3"] {
            assert!(matches!(clean_days(Some(bad)), Err(ServiceError::Validation { field: "expires_days", .. })), "{bad}");
        }
    }

    #[test]
    fn an_unlock_tag_opens_one_link_with_one_password() {
        let keys = Keys::random();
        let shared = |hash: &str, pw: Option<&str>| Shared {
            id: 1,
            account_id: 1,
            target: Target::Campaign(1),
            token_hash: hash.into(),
            password_hash: pw.map(str::to_owned),
            expires_at: None,
        };
        let a = unlock_tag(&keys, &shared("h1", Some("p1"))).unwrap();
        assert_ne!(Some(a.clone()), unlock_tag(&keys, &shared("h2", Some("p1"))), "another link");
        assert_ne!(Some(a.clone()), unlock_tag(&keys, &shared("h1", Some("p2"))), "a new password");
        assert_ne!(Some(a), unlock_tag(&Keys::random(), &shared("h1", Some("p1"))), "another secret key");
        assert_eq!(unlock_tag(&keys, &shared("h1", None)), None);
        let tag = unlock_tag(&keys, &shared("h1", Some("p1"))).unwrap();
        assert!(unlocks(&keys, &shared("h1", Some("p1")), &tag));
        assert!(!unlocks(&keys, &shared("h1", Some("p2")), &tag));
        assert!(!unlocks(&keys, &shared("h1", Some("p1")), &tag[..tag.len() - 1]));
        assert!(!unlocks(&keys, &shared("h1", None), &tag));
    }
}
