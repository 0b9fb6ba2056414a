//! An index on `campaign_hourly (hour)`, for the questions asked across all of an account's
//! campaigns over recent hours (the dashboard's best campaigns of the week).
//!
//! Without it PostgreSQL answered "the account's campaigns over 7 days" with a sequential scan
//! of every counter row (124 ms on a year of 200 campaigns, 831 k rows; docs/benchmarks/analytics.md,
//! "Third round"), since the primary key leads with the campaign. With it, the range of recent
//! hours is read directly, and those rows sit together in the heap because they were written
//! together. The cost on ingest is small: an index entry is made when a campaign's hour gets
//! its first push (at most one per campaign per hour), never on the counter updates that follow
//! (the hour never changes, so PostgreSQL's updates stay HOT).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000005_counter_hour_index"
    }
}

#[derive(DeriveIden)]
enum CampaignHourly {
    Table,
    Hour,
}

const NAME: &str = "idx_campaign_hourly_hour";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(Index::create().name(NAME).table(CampaignHourly::Table).col(CampaignHourly::Hour).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(NAME).table(CampaignHourly::Table).to_owned()).await
    }
}
