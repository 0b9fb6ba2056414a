//! Server-side sessions. The browser holds a random 256-bit token in an HttpOnly cookie; the
//! database holds only its HMAC under the sessions key, so a leaked table opens nothing and
//! changing the secret key signs everyone out.
//!
//! Written here rather than with tower-sessions: our table lives in the same schema, works on
//! both backends through the one SeaORM pool, and the user row is read in the same lookup.

use crate::entity::{session, user};
use crate::users::User;
use crate::{Keys, ServiceError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

/// Name of the session cookie over plain http.
pub const COOKIE_NAME: &str = "sb_session";
/// Its name when the public URL is https: browsers keep a `__Host-` cookie only if it is
/// `Secure`, has `Path=/` and no `Domain`, so no subdomain or plain-http page can set or
/// overwrite it (no session fixation through a sibling site).
pub const SECURE_COOKIE_NAME: &str = "__Host-sb_session";

/// The session cookie's name in force: [`SECURE_COOKIE_NAME`] when cookies are `Secure`
/// (`Settings::secure_cookies`), else [`COOKIE_NAME`]. Only that name is read, so under https a
/// planted `sb_session` is never taken for a session.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE_NAME } else { COOKIE_NAME }
}
/// A session ends after this long without use...
pub const IDLE_TTL: Duration = Duration::days(7);
/// ...and at the latest this long after sign-in.
pub const ABSOLUTE_TTL: Duration = Duration::days(30);
/// Expiry is slid forward at most this often, to keep reads from writing on every request.
const TOUCH_EVERY: Duration = Duration::minutes(5);

/// A new session: the token for the cookie, and when it expires.
pub struct NewSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Start a session for `user_id`.
pub async fn create<C: ConnectionTrait>(db: &C, keys: &Keys, user_id: i32, user_agent: Option<&str>) -> Result<NewSession, ServiceError> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let now = Utc::now();
    let expires_at = now + IDLE_TTL;
    session::ActiveModel {
        id: Set(keys.session_id(&token)),
        user_id: Set(user_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_seen_at: Set(now),
        user_agent: Set(user_agent.map(|ua| ua.chars().take(255).collect())),
    }
    .insert(db)
    .await?;
    Ok(NewSession { token, expires_at })
}

/// The user behind a cookie token, if the session is live and the user enabled.
pub async fn lookup<C: ConnectionTrait>(db: &C, keys: &Keys, token: &str) -> Result<Option<User>, ServiceError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some((sess, Some(user))) = session::Entity::find_by_id(keys.session_id(token)).find_also_related(user::Entity).one(db).await?
    else {
        return Ok(None);
    };
    let now = Utc::now();
    if sess.expires_at <= now || user.disabled {
        return Ok(None);
    }
    if now - sess.last_seen_at > TOUCH_EVERY {
        let new_expiry = (now + IDLE_TTL).min(sess.created_at + ABSOLUTE_TTL);
        let mut active: session::ActiveModel = sess.into();
        active.last_seen_at = Set(now);
        active.expires_at = Set(new_expiry);
        active.update(db).await?;
    }
    Ok(Some(User::try_from(user)?))
}

/// End the session of this token (logout). Unknown tokens are fine.
pub async fn destroy<C: ConnectionTrait>(db: &C, keys: &Keys, token: &str) -> Result<(), ServiceError> {
    session::Entity::delete_by_id(keys.session_id(token)).exec(db).await?;
    Ok(())
}

/// End every session of a user (disabled, password reset, role change).
pub async fn destroy_all_for<C: ConnectionTrait>(db: &C, user_id: i32) -> Result<u64, ServiceError> {
    Ok(session::Entity::delete_many().filter(session::Column::UserId.eq(user_id)).exec(db).await?.rows_affected)
}

/// "Sign out everywhere": end every session of the user behind `token`. Returns that user's id
/// and how many sessions ended, or `None` when the token opens no live session (nothing is
/// deleted then: an expired or unknown token gives no say over anyone's sessions).
pub async fn destroy_all_for_token<C: ConnectionTrait>(db: &C, keys: &Keys, token: &str) -> Result<Option<(i32, u64)>, ServiceError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(sess) = session::Entity::find_by_id(keys.session_id(token)).one(db).await? else {
        return Ok(None);
    };
    if sess.expires_at <= Utc::now() {
        return Ok(None);
    }
    Ok(Some((sess.user_id, destroy_all_for(db, sess.user_id).await?)))
}

/// Delete expired sessions; returns how many.
pub async fn purge_expired<C: ConnectionTrait>(db: &C) -> Result<u64, ServiceError> {
    Ok(session::Entity::delete_many().filter(session::Column::ExpiresAt.lte(Utc::now())).exec(db).await?.rows_affected)
}
