//! Who is signed in, and the one-line guards every server function starts with.
//!
//! Sign-in and sign-out are plain form posts handled by the server crate (`POST /api/login`,
//! `POST /api/logout`), so they work before (or without) the wasm; this module reads the
//! session they create.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in user, as pages see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    pub id: i32,
    pub username: String,
    pub is_admin: bool,
}

/// A row of the Users page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i32,
    pub username: String,
    pub is_admin: bool,
    pub disabled: bool,
}

/// The signed-in user, or `None`.
#[server(endpoint = "current_user")]
pub async fn current_user() -> Result<Option<SignedInUser>, AppError> {
    Ok(ssr::session_user().await?.map(|u| SignedInUser { id: u.id, username: u.username, is_admin: u.role == service::users::Role::Admin }))
}

/// True when no user exists yet: the login page then explains how to create the first admin.
#[server(endpoint = "setup_needed")]
pub async fn setup_needed() -> Result<bool, AppError> {
    let st = ssr::state()?;
    Ok(service::users::count(&st.db).await? == 0)
}

/// Every user (admins only).
#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    ssr::require_admin().await?;
    let st = ssr::state()?;
    Ok(service::users::list(&st.db)
        .await?
        .into_iter()
        .map(|u| UserRow { id: u.id, username: u.username, is_admin: u.role == service::users::Role::Admin, disabled: u.disabled })
        .collect())
}

/// Create a user (admins only); back to the Users page.
#[server(endpoint = "create_user")]
pub async fn create_user(username: String, password: String, role: String) -> Result<i32, AppError> {
    let admin = ssr::require_admin().await?;
    let st = ssr::state()?;
    let role = role.parse()?;
    let user = service::users::create(&st.db, &username, &password, role, Some(admin.id)).await?;
    leptos_axum::redirect(&format!("/users?created={}", user.id));
    Ok(user.id)
}

/// Disable, enable, or change the role of a user (admins only). `change` is `disable`,
/// `enable`, `admin` or `staff`. The last active admin stays an admin.
#[server(endpoint = "change_user")]
pub async fn change_user(id: i32, change: String) -> Result<(), AppError> {
    use service::users::{Role, UserChange};
    let admin = ssr::require_admin().await?;
    let st = ssr::state()?;
    let change = match change.as_str() {
        "disable" => UserChange::Disable,
        "enable" => UserChange::Enable,
        "admin" => UserChange::SetRole(Role::Admin),
        "staff" => UserChange::SetRole(Role::Staff),
        _ => return Err(AppError::field("change", service::Msg::UnknownChange)),
    };
    service::users::change(&st.db, id, change, Some(admin.id)).await?;
    leptos_axum::redirect(&format!("/users?changed={id}"));
    Ok(())
}

/// Set a new password for a user and end their sessions (admins only).
#[server(endpoint = "reset_user_password")]
pub async fn reset_user_password(id: i32, password: String) -> Result<(), AppError> {
    let admin = ssr::require_admin().await?;
    let st = ssr::state()?;
    service::users::reset_password(&st.db, id, &password, Some(admin.id)).await?;
    leptos_axum::redirect(&format!("/users?reset={id}"));
    Ok(())
}

/// Server-side guards. Every server function starts with `require_user()` or
/// `require_admin()`: the browser's view of roles is a convenience, this is the rule.
#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::error::{AppError, set_status};
    use axum_extra::extract::CookieJar;
    use leptos::prelude::use_context;
    use service::users::{Role, User};
    use service::{AppState, sessions};

    /// The shared state provided to every request.
    pub fn state() -> Result<AppState, AppError> {
        use_context::<AppState>().ok_or_else(|| {
            // Seen only for fetches of resources whose page was already rendered and cleaned
            // up (nested Suspense instantiates a page twice during SSR; the late fetch finds
            // its owner's context cleared). The result is discarded, so this is not an error;
            // a real wiring mistake shows up as 500s in the route tests.
            tracing::debug!("AppState missing from the Leptos context");
            AppError::Internal
        })
    }

    /// The user of the request's session cookie, if it is live.
    pub async fn session_user() -> Result<Option<User>, AppError> {
        let jar: CookieJar = leptos_axum::extract().await.map_err(|e| {
            // Same late-fetch case as in `state()`.
            tracing::debug!(error = %e, "cannot read request cookies");
            AppError::Internal
        })?;
        let st = state()?;
        let Some(cookie) = jar.get(sessions::cookie_name(st.settings.secure_cookies)) else {
            return Ok(None);
        };
        Ok(sessions::lookup(&st.db, &st.keys, cookie.value()).await?)
    }

    /// The signed-in user, or 401.
    pub async fn require_user() -> Result<User, AppError> {
        match session_user().await? {
            Some(u) => Ok(u),
            None => {
                set_status(401);
                Err(AppError::Unauthorized)
            }
        }
    }

    /// The signed-in admin, or 401/403.
    pub async fn require_admin() -> Result<User, AppError> {
        let u = require_user().await?;
        if u.role == Role::Admin {
            Ok(u)
        } else {
            set_status(403);
            Err(AppError::Forbidden)
        }
    }
}
