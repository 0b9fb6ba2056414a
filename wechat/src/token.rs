//! The shared access token: one per account, reused until shortly before it expires.
//!
//! WeChat limits token fetches per day, and with `cgi-bin/token` every fetch invalidates the
//! previous token after a grace period, so every caller in every instance must share one.
//! Within a process a [`TokenManager`] makes concurrent callers wait for one in-flight fetch;
//! across processes a [`TokenStore`] (the app implements it on its database) holds the token
//! and a lease so that one instance fetches while the others wait and read.
//!
//! A token WeChat refuses is replaced with a forced refresh (`stable_token` may keep handing
//! out a revoked token until it expires), at most once per [`TokenPolicy::force_every`] per
//! account across instances: [`TokenManager::replace_refused`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use crate::error::WechatError;

/// Seconds since the Unix epoch, the time unit of the store (portable across SQLite and
/// PostgreSQL).
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// A token and when WeChat says it stops working.
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// The access token (never printed).
    pub token: SecretString,
    /// Unix seconds at which WeChat stops accepting it (fetch time + `expires_in`).
    pub expires_at: i64,
}

impl StoredToken {
    /// True while the token is usable with `margin_secs` to spare.
    pub fn is_fresh(&self, now: i64, margin_secs: i64) -> bool {
        now < self.expires_at.saturating_sub(margin_secs)
    }
}

/// Where tokens are shared between instances, with a lease for who fetches the next one.
///
/// Implementations must make [`TokenStore::try_lease`] a compare-and-set (e.g.
/// `UPDATE ... SET lease_until = $new, lease_holder = $me WHERE app_id = $a AND
/// (lease_until IS NULL OR lease_until < $now)`), so exactly one instance wins.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The token currently stored for `app_id`, if any.
    async fn load(&self, app_id: &str) -> Result<Option<StoredToken>, WechatError>;

    /// Takes the refresh lease until `until` (unix seconds) unless another holder has an
    /// unexpired one; returns whether `holder` now has it.
    async fn try_lease(&self, app_id: &str, holder: &str, now: i64, until: i64) -> Result<bool, WechatError>;

    /// Stores a freshly fetched token.
    async fn save(&self, app_id: &str, token: &StoredToken) -> Result<(), WechatError>;

    /// Gives the lease back (no-op when `holder` does not hold it).
    async fn release(&self, app_id: &str, holder: &str) -> Result<(), WechatError>;

    /// Records a forced refresh at `now` (unix seconds) unless one was recorded after `since`;
    /// returns whether the caller may force. A compare-and-set like [`TokenStore::try_lease`],
    /// so across instances at most one caller forces per window.
    async fn try_claim_force(&self, app_id: &str, now: i64, since: i64) -> Result<bool, WechatError>;
}

#[derive(Debug, Default)]
struct MemoryEntry {
    token: Option<StoredToken>,
    lease_holder: Option<String>,
    lease_until: i64,
    forced_at: Option<i64>,
}

/// A [`TokenStore`] in process memory: enough for one instance, tests and the simulator demo.
#[derive(Debug, Default, Clone)]
pub struct MemoryTokenStore {
    entries: Arc<StdMutex<HashMap<String, MemoryEntry>>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, app_id: &str, f: impl FnOnce(&mut MemoryEntry) -> R) -> R {
        let mut map = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(map.entry(app_id.to_owned()).or_default())
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, app_id: &str) -> Result<Option<StoredToken>, WechatError> {
        Ok(self.with(app_id, |e| e.token.clone()))
    }

    async fn try_lease(&self, app_id: &str, holder: &str, now: i64, until: i64) -> Result<bool, WechatError> {
        Ok(self.with(app_id, |e| {
            let free = e.lease_holder.is_none() || e.lease_until < now || e.lease_holder.as_deref() == Some(holder);
            if free {
                e.lease_holder = Some(holder.to_owned());
                e.lease_until = until;
            }
            free
        }))
    }

    async fn save(&self, app_id: &str, token: &StoredToken) -> Result<(), WechatError> {
        self.with(app_id, |e| e.token = Some(token.clone()));
        Ok(())
    }

    async fn release(&self, app_id: &str, holder: &str) -> Result<(), WechatError> {
        self.with(app_id, |e| {
            if e.lease_holder.as_deref() == Some(holder) {
                e.lease_holder = None;
                e.lease_until = 0;
            }
        });
        Ok(())
    }

    async fn try_claim_force(&self, app_id: &str, now: i64, since: i64) -> Result<bool, WechatError> {
        Ok(self.with(app_id, |e| {
            let free = e.forced_at.is_none_or(|at| at <= since);
            if free {
                e.forced_at = Some(now);
            }
            free
        }))
    }
}

/// What a fetch from WeChat returns.
#[derive(Debug, Clone)]
pub struct FetchedToken {
    /// The access token.
    pub token: SecretString,
    /// Seconds it stays valid, as WeChat said (normally 7200).
    pub expires_in: i64,
}

/// Timing of the [`TokenManager`].
#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy {
    /// Stop using a token this long before WeChat's expiry (capped at half its lifetime).
    pub margin: Duration,
    /// How long a refresh lease lasts if its holder dies mid-fetch.
    pub lease: Duration,
    /// How often a waiting instance re-reads the store.
    pub poll: Duration,
    /// Shortest time between two forced refreshes of one account, across instances (WeChat
    /// limits them; a token refused again sooner makes the call fail instead).
    pub force_every: Duration,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(200),
            force_every: Duration::from_secs(60),
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A token held in process, with the moment this process stops using it.
#[derive(Debug, Clone)]
struct Cached {
    token: SecretString,
    fresh_until: i64,
}

/// One account's token cache: in-process single flight on top of a shared [`TokenStore`].
///
/// It never refreshes on its own: a new token is fetched only when none is stored, the stored
/// one is about to expire, or WeChat refused it ([`TokenManager::replace_refused`]).
pub struct TokenManager {
    app_id: String,
    store: Arc<dyn TokenStore>,
    policy: TokenPolicy,
    holder: String,
    /// Held across the whole lookup-or-fetch, so concurrent callers queue behind one fetch.
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager").field("app_id", &self.app_id).field("holder", &self.holder).finish_non_exhaustive()
    }
}

impl TokenManager {
    /// A manager for `app_id` sharing tokens through `store`.
    pub fn new(app_id: impl Into<String>, store: Arc<dyn TokenStore>, policy: TokenPolicy) -> Self {
        let holder = format!("{:016x}", rand::thread_rng().r#gen::<u64>());
        Self { app_id: app_id.into(), store, policy, holder, cached: tokio::sync::Mutex::new(None) }
    }

    /// The account this manager serves.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// A usable token: the cached one, the stored one, or a new one from `fetch` (called at
    /// most once per call, and only by the instance holding the lease when possible).
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<SecretString, WechatError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, WechatError>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| unix_now() < c.fresh_until) {
            return Ok(c.token.clone());
        }
        let fresh = match self.load_fresh().await? {
            Some(c) => c,
            None => self.fetch_under_lease(fetch).await?,
        };
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Takes the lease and fetches, or waits for the instance that has it and reads its token.
    async fn fetch_under_lease<F, Fut>(&self, fetch: F) -> Result<Cached, WechatError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, WechatError>>,
    {
        let give_up_at = tokio::time::Instant::now() + self.policy.lease + self.policy.lease / 2;
        loop {
            let now = unix_now();
            let until = now.saturating_add(secs(self.policy.lease).max(1));
            if self.store.try_lease(&self.app_id, &self.holder, now, until).await? {
                let result = self.fetch_and_save(fetch).await;
                // Release even when the fetch failed, so another instance may try.
                let released = self.store.release(&self.app_id, &self.holder).await;
                let fresh = result?;
                released?;
                return Ok(fresh);
            }
            tokio::time::sleep(self.policy.poll).await;
            if let Some(c) = self.load_fresh().await? {
                return Ok(c);
            }
            if tokio::time::Instant::now() >= give_up_at {
                // The holder vanished and its lease outlived our patience: fetch anyway
                // (stable_token answers with the same token, so this is harmless).
                tracing::warn!(app_id = %self.app_id, "token lease not released in time; fetching anyway");
                return self.fetch_and_save(fetch).await;
            }
        }
    }

    /// Re-reads the store; another instance may have saved a token meanwhile.
    async fn load_fresh(&self) -> Result<Option<Cached>, WechatError> {
        let margin = secs(self.policy.margin);
        let now = unix_now();
        Ok(self
            .store
            .load(&self.app_id)
            .await?
            .filter(|t| t.is_fresh(now, margin))
            .map(|t| Cached { token: t.token, fresh_until: t.expires_at.saturating_sub(margin) }))
    }

    async fn fetch_and_save<F, Fut>(&self, fetch: F) -> Result<Cached, WechatError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, WechatError>>,
    {
        if let Some(c) = self.load_fresh().await? {
            return Ok(c);
        }
        self.save_fetched(fetch().await?, "fetched a new access token").await
    }

    /// Stores what WeChat handed out and gives it with the moment this process stops using it.
    async fn save_fetched(&self, fetched: FetchedToken, what: &'static str) -> Result<Cached, WechatError> {
        let now = unix_now();
        let expires_in = fetched.expires_in.max(0);
        let stored = StoredToken { token: fetched.token, expires_at: now.saturating_add(expires_in) };
        self.store.save(&self.app_id, &stored).await?;
        tracing::info!(app_id = %self.app_id, expires_in, "{what}");
        // A token living less than twice the margin would never be fresh: use half its life.
        let margin = secs(self.policy.margin).min(expires_in / 2);
        Ok(Cached { token: stored.token, fresh_until: stored.expires_at.saturating_sub(margin) })
    }

    /// WeChat refused `stale` (40001/40014/42001): gives the token to retry with, or `None`
    /// when the account was force-refreshed less than [`TokenPolicy::force_every`] ago and the
    /// refused token is still the newest (the call then fails with WeChat's error).
    ///
    /// `force` fetches with `force_refresh` (a plain `stable_token` call may answer the
    /// revoked token again). It runs under the refresh lease and only after the store granted
    /// the window's one forced refresh, so refusals on every instance at once cost one fetch;
    /// the others find the token it stored.
    pub async fn replace_refused<F, Fut>(&self, stale: &SecretString, force: F) -> Result<Option<SecretString>, WechatError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, WechatError>>,
    {
        let mut cached = self.cached.lock().await;
        let newer = |c: &Cached| c.token.expose_secret() != stale.expose_secret();
        // Another caller of this process already replaced it.
        if let Some(c) = cached.as_ref().filter(|c| newer(c) && unix_now() < c.fresh_until) {
            return Ok(Some(c.token.clone()));
        }
        let give_up_at = tokio::time::Instant::now() + self.policy.lease + self.policy.lease / 2;
        let replaced = loop {
            if let Some(c) = self.load_fresh().await?.filter(newer) {
                break Some(c);
            }
            let now = unix_now();
            let until = now.saturating_add(secs(self.policy.lease).max(1));
            if self.store.try_lease(&self.app_id, &self.holder, now, until).await? {
                let result = self.force_once(stale, force).await;
                let released = self.store.release(&self.app_id, &self.holder).await;
                let replaced = result?;
                released?;
                break replaced;
            }
            if tokio::time::Instant::now() >= give_up_at {
                // The holder vanished with its lease: the store's claim still bounds the forcing.
                tracing::warn!(app_id = %self.app_id, "token lease not released in time; replacing the refused token anyway");
                break self.force_once(stale, force).await?;
            }
            tokio::time::sleep(self.policy.poll).await;
        };
        if let Some(c) = &replaced {
            *cached = Some(c.clone());
        }
        Ok(replaced.map(|c| c.token))
    }

    /// Forces a new token unless the store now holds a newer one or the window's forced
    /// refresh was already spent.
    async fn force_once<F, Fut>(&self, stale: &SecretString, force: F) -> Result<Option<Cached>, WechatError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, WechatError>>,
    {
        // Re-read under the lease: the previous holder may have replaced it.
        if let Some(c) = self.load_fresh().await?.filter(|c| c.token.expose_secret() != stale.expose_secret()) {
            return Ok(Some(c));
        }
        let now = unix_now();
        if !self.store.try_claim_force(&self.app_id, now, now.saturating_sub(secs(self.policy.force_every))).await? {
            tracing::warn!(app_id = %self.app_id, "access token refused again soon after a forced refresh; not forcing again yet");
            return Ok(None);
        }
        self.save_fetched(force().await?, "force-refreshed the access token WeChat refused").await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fast() -> TokenPolicy {
        TokenPolicy { lease: Duration::from_secs(2), poll: Duration::from_millis(10), ..TokenPolicy::default() }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        let manager = Arc::new(TokenManager::new("wx1", store, fast()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let manager = manager.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                manager
                    .get(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(FetchedToken { token: SecretString::from("T1"), expires_in: 7200 })
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().expose_secret(), "T1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn two_instances_share_through_the_store() {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        let a = Arc::new(TokenManager::new("wx1", store.clone(), fast()));
        let b = Arc::new(TokenManager::new("wx1", store.clone(), fast()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let run = |m: Arc<TokenManager>, fetches: Arc<AtomicUsize>| async move {
            m.get(|| async {
                fetches.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(FetchedToken { token: SecretString::from("shared"), expires_in: 7200 })
            })
            .await
        };
        let (ra, rb) = tokio::join!(run(a, fetches.clone()), run(b, fetches.clone()));
        assert_eq!(ra.unwrap().expose_secret(), "shared");
        assert_eq!(rb.unwrap().expose_secret(), "shared");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expiring_tokens_are_refetched() {
        let store = Arc::new(MemoryTokenStore::new());
        store.save("wx1", &StoredToken { token: SecretString::from("almost"), expires_at: unix_now() + 100 }).await.unwrap();
        let m = TokenManager::new("wx1", store, fast());
        let t = m.get(|| async { Ok(FetchedToken { token: SecretString::from("fresh"), expires_in: 7200 }) }).await.unwrap();
        assert_eq!(t.expose_secret(), "fresh");
    }

    #[tokio::test]
    async fn short_lived_tokens_are_still_usable() {
        let m = TokenManager::new("wx1", Arc::new(MemoryTokenStore::new()), fast());
        m.get(|| async { Ok(FetchedToken { token: SecretString::from("short"), expires_in: 120 }) }).await.unwrap();
        let t = m.get(|| async { panic!("must use the cache") }).await.unwrap();
        assert_eq!(t.expose_secret(), "short");
    }

    #[tokio::test]
    async fn failed_fetch_releases_the_lease() {
        let store = Arc::new(MemoryTokenStore::new());
        let m = TokenManager::new("wx1", store.clone(), fast());
        let err = m.get(|| async { Err(WechatError::Http("down".into())) }).await.unwrap_err();
        assert_eq!(err, WechatError::Http("down".into()));
        assert!(store.try_lease("wx1", "other", unix_now(), unix_now() + 10).await.unwrap());
    }

    #[tokio::test]
    async fn a_dead_lease_holder_does_not_block_forever() {
        let store = Arc::new(MemoryTokenStore::new());
        assert!(store.try_lease("wx1", "dead", unix_now(), unix_now() + 1).await.unwrap());
        let m = TokenManager::new("wx1", store, fast());
        let t = m.get(|| async { Ok(FetchedToken { token: SecretString::from("x"), expires_in: 7200 }) }).await.unwrap();
        assert_eq!(t.expose_secret(), "x");
    }

    #[test]
    fn stored_token_debug_hides_the_secret() {
        let t = StoredToken { token: SecretString::from("supersecret"), expires_at: 1 };
        assert!(!format!("{t:?}").contains("supersecret"));
    }
}
