//! An index on `campaign_hourly (hour)`, for the questions asked across all of an account's
//! campaigns over recent hours (the dashboard's best campaigns of the week).
//!
//! Without it a question across campaigns scanned every counter row, since the primary key
//! leads with the campaign; with it the recent hours are read directly, at one index entry per
//! campaign-hour on ingest (docs/design/schema.md, "The hour index").

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
