//! The follower index of `subscriptions` leads with the OpenID hash:
//! `(openid_hash, account_id, unsubscribed_at)` instead of
//! `(account_id, openid_hash, unsubscribed_at)`.
//!
//! Why: each stored batch asks for its followers' open subscriptions
//! (`account_id = ? AND openid_hash IN (…) AND unsubscribed_at IS NULL`). With the account
//! first, PostgreSQL had a second way to answer: walk the account's whole range of open
//! subscriptions and filter the hashes. It took that way whenever it believed the range was
//! tiny — on a table never analyzed, its default guesses put one row there — and then read
//! every open subscription of the account for every batch: 33.8 ms a batch on average and up
//! to 82 000 rows filtered at 100 000 followers, growing with the table (docs/benchmarks/ingest.md,
//! "PostgreSQL as the tables grow").
//! A new deployment, a restored backup or a fast-growing table runs on such guesses until
//! autovacuum's next analyze. With the hash first, there is no such range to walk: the only
//! index path is one seek per hash, whatever the statistics say. Nothing reads subscriptions
//! by account alone (the charts go through `idx_subscriptions_campaign`).
//!
//! The hash is a keyed HMAC, as selective as a key; SQLite seeks the same way with either
//! order. The index is rebuilt once, in the migration's transaction.

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
