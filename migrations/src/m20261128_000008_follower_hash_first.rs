//! The follower index of `subscriptions` leads with the OpenID hash:
//! `(openid_hash, account_id, unsubscribed_at)` instead of
//! `(account_id, openid_hash, unsubscribed_at)`.
//!
//! Why: each stored batch asks for its followers' open subscriptions
//! (`account_id = ? AND openid_hash IN (…) AND unsubscribed_at IS NULL`). With the account
//! first, PostgreSQL had a second way to answer: walk the account's whole range of open
//! subscriptions and filter the hashes. It took that way whenever it believed the range was
//! tiny — on a table never analyzed, its default guesses put one row there — and then read
//! every open subscription of the account for every batch: 44–128 ms a batch at 100 000
//! followers, growing with the table (BENCHMARKS.md, "PostgreSQL as the tables grow").
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

const OLD: &str = "idx_subscriptions_follower";
const NEW: &str = "idx_subscriptions_follower_hash";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(NEW)
                .table(Subscriptions::Table)
                .col(Subscriptions::OpenidHash)
                .col(Subscriptions::AccountId)
                .col(Subscriptions::UnsubscribedAt)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name(OLD).table(Subscriptions::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(OLD)
                .table(Subscriptions::Table)
                .col(Subscriptions::AccountId)
                .col(Subscriptions::OpenidHash)
                .col(Subscriptions::UnsubscribedAt)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name(NEW).table(Subscriptions::Table).to_owned()).await
    }
}
