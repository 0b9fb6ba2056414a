//! The campaign and welcome reply of journaled pushes: read without a transaction, and
//! remembered for a second (`ReplyCache`).

use super::Meaning;
use super::sql::{Db, canonical_scene};
use crate::ingest::{Push, welcome_reply};
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::{BTreeSet, HashMap};
use wechat::Reply;

/// The campaign each push names and the reply it gets, read without a transaction: for pushes
/// acknowledged from the spool while the database is busy with another batch (the reply
/// depends on the campaign alone, see [`Plan::effects`]).
async fn replies_of<C: ConnectionTrait>(
    db: &C,
    pushes: &[&Push],
    meanings: &[Meaning],
) -> Result<Vec<(Option<i32>, Option<Reply>)>, DbErr> {
    if meanings.iter().all(|m| m.scene().is_none()) {
        return Ok(vec![(None, None); pushes.len()]);
    }
    let campaigns = Db { txn: db, backend: db.get_database_backend() }.campaigns(pushes, meanings).await?;
    Ok(campaigns.into_iter().map(|c| c.map_or((None, None), |c| (Some(c.id), c.welcome.as_deref().and_then(welcome_reply)))).collect())
}

/// What decides a journaled push's reply: its account, canonical scene and ticket.
type ReplyKey = (i32, String, Option<String>);

/// [`replies`] with a short memory: under a burst the writer journals a batch every few
/// milliseconds, and each one used to read the campaigns of its scenes on the shared pool
/// while its requests waited (a query, a statement prepared anew for each length of its `IN`
/// list, and hand-offs to the database's thread, all inside the writer's cycle). The answers
/// are kept for [`ReplyCache::TTL`] at most, so an edited welcome message or scene reaches the
/// replies of journaled pushes within that time on every instance; stored pushes (the
/// transaction's own lookup) are never served from here.
#[derive(Default)]
pub(crate) struct ReplyCache {
    since: Option<std::time::Instant>,
    map: HashMap<ReplyKey, (Option<i32>, Option<Reply>)>,
}

impl ReplyCache {
    pub(crate) const TTL: std::time::Duration = std::time::Duration::from_secs(1);

    pub(crate) async fn replies<C: ConnectionTrait>(
        &mut self,
        db: &C,
        pushes: &[&Push],
    ) -> Result<Vec<(Option<i32>, Option<Reply>)>, DbErr> {
        if self.since.is_none_or(|at| at.elapsed() >= Self::TTL) {
            self.map.clear();
            self.since = Some(std::time::Instant::now());
        }
        let keys: Vec<Option<ReplyKey>> =
            pushes.iter().map(|p| Meaning::of(p).scene().map(|s| (p.account_id, canonical_scene(s), p.ticket.clone()))).collect();
        // Look up only the pushes whose key is new (one of each).
        let mut missing: Vec<usize> = Vec::new();
        let mut asked: BTreeSet<&ReplyKey> = BTreeSet::new();
        for (i, key) in keys.iter().enumerate() {
            if let Some(key) = key
                && !self.map.contains_key(key)
                && asked.insert(key)
            {
                missing.push(i);
            }
        }
        if !missing.is_empty() {
            let found = {
                let asked: Vec<&Push> = missing.iter().map(|&i| pushes[i]).collect();
                let meanings: Vec<Meaning> = asked.iter().map(|p| Meaning::of(p)).collect();
                replies_of(db, &asked, &meanings).await?
            };
            for (i, reply) in missing.into_iter().zip(found) {
                if let Some(key) = &keys[i] {
                    self.map.insert(key.clone(), reply);
                }
            }
        }
        Ok(keys.iter().map(|k| k.as_ref().and_then(|k| self.map.get(k).cloned()).unwrap_or_default()).collect())
    }
}
