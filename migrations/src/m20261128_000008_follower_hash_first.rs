//! The follower index of `subscriptions` leads with the OpenID hash:
//! `(openid_hash, account_id, unsubscribed_at)` instead of
//! `(account_id, openid_hash, unsubscribed_at)`.
//!
//! Why: with the account first, PostgreSQL on stale statistics walked every open subscription
//! of the account for each stored batch; with the hash first the only path is one seek per hash,
//! whatever the statistics say (docs/design/schema.md, "The follower index").
//! The index is rebuilt once, in the migration's transaction.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000008_follower_hash_first"
    }
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    AccountId,
    OpenidHash,
    UnsubscribedAt,
}

use Subscriptions as S;

const OLD: &str = "idx_subscriptions_follower";
const NEW: &str = "idx_subscriptions_follower_hash";

/// The follower index called `name`, on `columns` in that order.
fn follower_index(name: &str, columns: [Subscriptions; 3]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Subscriptions::Table);
    for column in columns {
        index.col(column);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(follower_index(NEW, [S::OpenidHash, S::AccountId, S::UnsubscribedAt])).await?;
        m.drop_index(Index::drop().name(OLD).table(S::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(follower_index(OLD, [S::AccountId, S::OpenidHash, S::UnsubscribedAt])).await?;
        m.drop_index(Index::drop().name(NEW).table(S::Table).to_owned()).await
    }
}
