//! Dashboard users: creation, credentials (argon2id), roles.

use crate::entity::user;
use crate::{Msg, ServiceError, audit};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a user may do. Admins also manage WeChat accounts and users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Staff,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "staff" => Ok(Role::Staff),
            _ => Err(ServiceError::invalid("role", Msg::RoleInvalid)),
        }
    }
}

/// A user as the rest of the system sees it: no password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i32,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
}

impl TryFrom<user::Model> for User {
    type Error = ServiceError;
    fn try_from(m: user::Model) -> Result<Self, ServiceError> {
        Ok(User { id: m.id, username: m.username, role: m.role.parse()?, disabled: m.disabled })
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Check a username: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_username(name: &str) -> Result<(), ServiceError> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ServiceError::invalid("username", Msg::UsernameLength));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
        return Err(ServiceError::invalid("username", Msg::UsernameChars));
    }
    Ok(())
}

/// Check a new password's length (at least 8, at most 1024 characters).
pub fn validate_password(password: &str) -> Result<(), ServiceError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(ServiceError::invalid("password", Msg::PasswordTooShort { min: MIN_PASSWORD_LEN }));
    }
    if n > 1024 {
        return Err(ServiceError::invalid("password", Msg::PasswordTooLong));
    }
    Ok(())
}

/// At most this many argon2 computations run at once, process-wide. Each takes about 19 MiB
/// and a core for a fraction of a second: a flood of sign-ins (right or wrong) then waits its
/// turn here instead of taking memory without bound and the blocking threads the rest of the
/// server uses (images, the spool's imports).
pub const MAX_CONCURRENT_HASHES: usize = 2;

static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| tokio::sync::Semaphore::new(MAX_CONCURRENT_HASHES));
static HASHING_NOW: AtomicUsize = AtomicUsize::new(0);
static HASHING_PEAK: AtomicUsize = AtomicUsize::new(0);

/// Most argon2 computations that have run at once in this process (tests check the bound).
pub fn hashing_peak() -> usize {
    HASHING_PEAK.load(Ordering::Relaxed)
}

/// Runs `work` (an argon2 computation) on the blocking pool, within [`MAX_CONCURRENT_HASHES`].
async fn with_hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ServiceError> {
    let _turn = HASHING.acquire().await.map_err(|e| ServiceError::Internal(e.to_string()))?;
    let now = HASHING_NOW.fetch_add(1, Ordering::SeqCst) + 1;
    HASHING_PEAK.fetch_max(now, Ordering::SeqCst);
    let done = tokio::task::spawn_blocking(work).await;
    HASHING_NOW.fetch_sub(1, Ordering::SeqCst);
    done.map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Hash a password with argon2id (the crate's defaults: 19 MiB, 2 passes), off the async threads.
pub async fn hash_password(password: &str) -> Result<String, ServiceError> {
    let password = password.to_owned();
    with_hashing(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::Internal(format!("hashing failed: {e}")))
    })
    .await?
}

/// Whether `password` matches an argon2 `hash` (on the bounded hashing pool).
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    with_hashing(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, verified against when the username is unknown so that a
/// wrong username costs as long as a wrong password (no user enumeration by timing).
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(b"no such user, no such password", &salt).map(|h| h.to_string()).unwrap_or_default()
});

/// Create a user. Fails with a field error on a bad or taken username or a short password.
/// The user and its audit row are written in one transaction: both or neither.
pub async fn create(
    db: &sea_orm::DatabaseConnection,
    username: &str,
    password: &str,
    role: Role,
    actor: Option<i32>,
) -> Result<User, ServiceError> {
    let username = username.trim();
    validate_username(username)?;
    validate_password(password)?;
    if user::Entity::find().filter(user::Column::Username.eq(username)).one(db).await?.is_some() {
        return Err(ServiceError::conflict("username", Msg::UsernameTaken { username: username.to_owned() }));
    }
    let hash = hash_password(password).await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let model = user::ActiveModel {
        username: Set(username.to_owned()),
        password_hash: Set(hash),
        role: Set(role.as_str().to_owned()),
        disabled: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        // Lost a race with another creator of the same name.
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            ServiceError::conflict("username", Msg::UsernameTaken { username: username.to_owned() })
        }
        _ => ServiceError::Db(e),
    })?;
    audit::record(
        &txn,
        actor,
        "user.create",
        "user",
        Some(model.id.to_string()),
        serde_json::json!({"username": username, "role": role.as_str()}),
    )
    .await?;
    txn.commit().await?;
    User::try_from(model)
}

/// Check a username and password. Unknown user, wrong password and disabled user all give
/// [`ServiceError::Unauthorized`], and take the same time.
pub async fn authenticate<C: ConnectionTrait>(db: &C, username: &str, password: &str) -> Result<User, ServiceError> {
    let found = user::Entity::find().filter(user::Column::Username.eq(username.trim())).one(db).await?;
    let Some(model) = found else {
        verify_password(password, &DUMMY_HASH).await;
        return Err(ServiceError::Unauthorized);
    };
    if !verify_password(password, &model.password_hash).await || model.disabled {
        return Err(ServiceError::Unauthorized);
    }
    let mut active: user::ActiveModel = model.clone().into();
    active.last_login_at = Set(Some(Utc::now()));
    active.update(db).await?;
    User::try_from(model)
}

/// Find one user by id.
pub async fn get<C: ConnectionTrait>(db: &C, id: i32) -> Result<User, ServiceError> {
    user::Entity::find_by_id(id).one(db).await?.ok_or(ServiceError::NotFound)?.try_into()
}

/// Every user, by username.
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<User>, ServiceError> {
    user::Entity::find().order_by_asc(user::Column::Username).all(db).await?.into_iter().map(User::try_from).collect()
}

/// How many users exist (the login page explains how to create the first admin when zero).
pub async fn count<C: ConnectionTrait>(db: &C) -> Result<u64, ServiceError> {
    Ok(user::Entity::find().count(db).await?)
}

/// A change an admin makes to a user on the Users page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserChange {
    /// Block sign-in and end every session of the user.
    Disable,
    /// Allow sign-in again.
    Enable,
    /// Give the user another role.
    SetRole(Role),
}

/// Apply `change` to user `id`. The last active admin can be neither disabled nor demoted:
/// the rule is part of the single UPDATE (an EXISTS sub-select looks for another active admin), so
/// two admins demoting each other at once cannot both succeed on the same snapshot.
pub async fn change(db: &sea_orm::DatabaseConnection, id: i32, change: UserChange, actor: Option<i32>) -> Result<User, ServiceError> {
    use sea_orm::ExprTrait;
    use sea_orm::sea_query::{Expr, Query};
    let target = get(db, id).await?;
    let txn = db.begin().await?;
    let mut update = user::Entity::update_many().col_expr(user::Column::UpdatedAt, Expr::value(Utc::now())).filter(user::Column::Id.eq(id));
    let (action, removes_admin) = match change {
        UserChange::Disable => {
            update = update.col_expr(user::Column::Disabled, Expr::value(true));
            ("user.disable", target.role == Role::Admin && !target.disabled)
        }
        UserChange::Enable => {
            update = update.col_expr(user::Column::Disabled, Expr::value(false));
            ("user.enable", false)
        }
        UserChange::SetRole(role) => {
            update = update.col_expr(user::Column::Role, Expr::value(role.as_str()));
            ("user.role", target.role == Role::Admin && role != Role::Admin && !target.disabled)
        }
    };
    if removes_admin {
        let other_admins = Query::select()
            .expr(Expr::val(1))
            .from(user::Entity)
            .and_where(Expr::col(user::Column::Role).eq(Role::Admin.as_str()))
            .and_where(Expr::col(user::Column::Disabled).eq(false))
            .and_where(Expr::col(user::Column::Id).ne(id))
            .to_owned();
        update = update.filter(Expr::exists(other_admins));
    }
    let changed = update.exec(&txn).await?.rows_affected;
    if changed == 0 {
        return Err(ServiceError::conflict("user", Msg::LastAdmin));
    }
    if change == UserChange::Disable {
        crate::sessions::destroy_all_for(&txn, id).await?;
    }
    let detail = match change {
        UserChange::SetRole(role) => serde_json::json!({"username": target.username, "role": role.as_str()}),
        _ => serde_json::json!({"username": target.username}),
    };
    audit::record(&txn, actor, action, "user", Some(id.to_string()), detail).await?;
    txn.commit().await?;
    get(db, id).await
}

/// Set a new password for user `id` and end their sessions (whoever had the old one is out).
pub async fn reset_password(db: &sea_orm::DatabaseConnection, id: i32, password: &str, actor: Option<i32>) -> Result<(), ServiceError> {
    validate_password(password)?;
    let target = get(db, id).await?;
    let hash = hash_password(password).await?;
    let txn = db.begin().await?;
    let model = user::Entity::find_by_id(id).one(&txn).await?.ok_or(ServiceError::NotFound)?;
    let mut active: user::ActiveModel = model.into();
    active.password_hash = Set(hash);
    active.updated_at = Set(Utc::now());
    active.update(&txn).await?;
    crate::sessions::destroy_all_for(&txn, id).await?;
    audit::record(&txn, actor, "user.password", "user", Some(id.to_string()), serde_json::json!({"username": target.username})).await?;
    txn.commit().await?;
    Ok(())
}
