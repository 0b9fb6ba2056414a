//! The initial schema: the whole Sceneboard domain, designed at once so later features add
//! behaviour rather than tables in a hurry.
//!
//! Conventions that hold on SQLite and PostgreSQL alike:
//! - timestamps are `timestamp with time zone` (UTC);
//! - hour buckets are `bigint` Unix seconds of the UTC hour start, so range scans are plain
//!   integer comparisons on both backends;
//! - columns that take part in a unique key are `NOT NULL` (both backends treat NULLs as
//!   distinct in unique indexes, which would silently defeat de-duplication).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000001_initial"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    Disabled,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
    UserAgent,
}

#[derive(DeriveIden, Clone, Copy)]
enum WechatAccounts {
    Table,
    Id,
    Name,
    AppId,
    AppSecretEnc,
    Token,
    AesKeyEnc,
    MessageMode,
    ApiBaseUrl,
    TokenEndpoint,
    Timezone,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AccessTokens {
    Table,
    AccountId,
    TokenEnc,
    ExpiresAt,
    LeaseUntil,
    LeaseHolder,
    FetchedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Campaigns {
    Table,
    Id,
    AccountId,
    Name,
    GroupName,
    Kind,
    Scene,
    ExpireDays,
    AutoRenew,
    WelcomeMessage,
    TagName,
    TagId,
    ArchivedAt,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum QrCodes {
    Table,
    Id,
    CampaignId,
    Ticket,
    Url,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Events {
    Table,
    Id,
    AccountId,
    OpenidHash,
    Openid,
    CreateTime,
    MsgType,
    Event,
    EventKey,
    Ticket,
    Scene,
    Kind,
    CampaignId,
    RawXml,
    ReceivedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Subscriptions {
    Table,
    Id,
    AccountId,
    OpenidHash,
    Openid,
    CampaignId,
    Scene,
    SubscribedAt,
    UnsubscribedAt,
    SubscribeEventId,
    UnsubscribeEventId,
}

#[derive(DeriveIden, Clone, Copy)]
enum FollowerProfiles {
    Table,
    AccountId,
    OpenidHash,
    Openid,
    InfoJson,
    FetchedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CampaignHourly {
    Table,
    CampaignId,
    Hour,
    Scans,
    NewFollowers,
    Unsubscribes,
}

#[derive(DeriveIden, Clone, Copy)]
enum AccountHourly {
    Table,
    AccountId,
    Hour,
    Scans,
    NewFollowers,
    OrganicFollowers,
    Unsubscribes,
    UnknownSceneEvents,
}

#[derive(DeriveIden, Clone, Copy)]
enum ScannerHours {
    Table,
    CampaignId,
    Hour,
    OpenidHash,
}

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Id,
    Kind,
    Payload,
    DedupeKey,
    Status,
    Attempts,
    RunAt,
    LockedUntil,
    LockedBy,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    UserId,
    Action,
    TargetType,
    TargetId,
    Detail,
    CreatedAt,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn ts_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}

fn id_pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).integer().not_null().auto_increment().primary_key().to_owned()
}

fn big_id_pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().auto_increment().primary_key().to_owned()
}

/// A foreign key from `(table, column)` to `(table, column)`.
fn fk(from: (impl IntoIden, impl IntoIden), to: (impl IntoIden, impl IntoIden), on_delete: ForeignKeyAction) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from.0, from.1).to(to.0, to.1).on_delete(on_delete).to_owned()
}

fn counter(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().default(0).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Users and their sessions.
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(id_pk(Users::Id))
                .col(ColumnDef::new(Users::Username).string_len(64).not_null().unique_key())
                .col(ColumnDef::new(Users::PasswordHash).text().not_null())
                .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                .col(ColumnDef::new(Users::Disabled).boolean().not_null().default(false))
                .col(ts(Users::CreatedAt))
                .col(ts(Users::UpdatedAt))
                .col(ts_null(Users::LastLoginAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                // Keyed hash of the cookie's token: a copy of this table opens no session.
                .col(ColumnDef::new(Sessions::Id).string_len(64).not_null().primary_key())
                .col(ColumnDef::new(Sessions::UserId).integer().not_null())
                .col(ts(Sessions::CreatedAt))
                .col(ts(Sessions::ExpiresAt))
                .col(ts(Sessions::LastSeenAt))
                .col(ColumnDef::new(Sessions::UserAgent).string_len(255).null())
                .foreign_key(&mut fk((Sessions::Table, Sessions::UserId), (Users::Table, Users::Id), ForeignKeyAction::Cascade))
                .to_owned(),
        )
        .await?;
        index(m, "idx_sessions_user", Sessions::Table, &[Sessions::UserId]).await?;
        index(m, "idx_sessions_expires", Sessions::Table, &[Sessions::ExpiresAt]).await?;

        // WeChat accounts: secrets are ciphertexts (see service::secrets).
        m.create_table(
            Table::create()
                .table(WechatAccounts::Table)
                .col(id_pk(WechatAccounts::Id))
                .col(ColumnDef::new(WechatAccounts::Name).string_len(100).not_null())
                .col(ColumnDef::new(WechatAccounts::AppId).string_len(32).not_null().unique_key())
                .col(ColumnDef::new(WechatAccounts::AppSecretEnc).text().not_null())
                .col(ColumnDef::new(WechatAccounts::Token).string_len(64).not_null())
                .col(ColumnDef::new(WechatAccounts::AesKeyEnc).text().null())
                .col(ColumnDef::new(WechatAccounts::MessageMode).string_len(8).not_null())
                .col(ColumnDef::new(WechatAccounts::ApiBaseUrl).string_len(255).not_null())
                .col(ColumnDef::new(WechatAccounts::TokenEndpoint).string_len(8).not_null())
                .col(ColumnDef::new(WechatAccounts::Timezone).string_len(64).not_null())
                .col(ts(WechatAccounts::CreatedAt))
                .col(ts(WechatAccounts::UpdatedAt))
                .to_owned(),
        )
        .await?;

        // One access token per account, shared by every instance; the lease columns make a
        // compare-and-set so exactly one instance refreshes while the others wait and read.
        m.create_table(
            Table::create()
                .table(AccessTokens::Table)
                .col(ColumnDef::new(AccessTokens::AccountId).integer().not_null().primary_key())
                .col(ColumnDef::new(AccessTokens::TokenEnc).text().null())
                .col(ts_null(AccessTokens::ExpiresAt))
                .col(ts_null(AccessTokens::LeaseUntil))
                .col(ColumnDef::new(AccessTokens::LeaseHolder).string_len(64).null())
                .col(ts_null(AccessTokens::FetchedAt))
                .foreign_key(&mut fk(
                    (AccessTokens::Table, AccessTokens::AccountId),
                    (WechatAccounts::Table, WechatAccounts::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        // Campaigns: the scene is stored as its canonical text ("123" or "spring-poster"),
        // because WeChat reports both kinds the same way (`qrscene_123`), so the text must be
        // unique per account whatever kind of scene made it.
        m.create_table(
            Table::create()
                .table(Campaigns::Table)
                .col(id_pk(Campaigns::Id))
                .col(ColumnDef::new(Campaigns::AccountId).integer().not_null())
                .col(ColumnDef::new(Campaigns::Name).string_len(100).not_null())
                .col(ColumnDef::new(Campaigns::GroupName).string_len(64).null())
                .col(ColumnDef::new(Campaigns::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Campaigns::Scene).string_len(64).not_null())
                .col(ColumnDef::new(Campaigns::ExpireDays).integer().null())
                .col(ColumnDef::new(Campaigns::AutoRenew).boolean().not_null().default(false))
                .col(ColumnDef::new(Campaigns::WelcomeMessage).text().null())
                .col(ColumnDef::new(Campaigns::TagName).string_len(30).null())
                .col(ColumnDef::new(Campaigns::TagId).big_integer().null())
                .col(ts_null(Campaigns::ArchivedAt))
                .col(ColumnDef::new(Campaigns::CreatedBy).integer().null())
                .col(ts(Campaigns::CreatedAt))
                .col(ts(Campaigns::UpdatedAt))
                .foreign_key(&mut fk(
                    (Campaigns::Table, Campaigns::AccountId),
                    (WechatAccounts::Table, WechatAccounts::Id),
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk((Campaigns::Table, Campaigns::CreatedBy), (Users::Table, Users::Id), ForeignKeyAction::SetNull))
                .to_owned(),
        )
        .await?;
        unique(m, "uq_campaigns_account_scene", Campaigns::Table, &[Campaigns::AccountId, Campaigns::Scene]).await?;
        index(m, "idx_campaigns_account_group", Campaigns::Table, &[Campaigns::AccountId, Campaigns::GroupName]).await?;
        index(m, "idx_campaigns_account_name", Campaigns::Table, &[Campaigns::AccountId, Campaigns::Name]).await?;

        // Issued codes (tickets); the newest row of a campaign is its current code.
        m.create_table(
            Table::create()
                .table(QrCodes::Table)
                .col(id_pk(QrCodes::Id))
                .col(ColumnDef::new(QrCodes::CampaignId).integer().not_null())
                .col(ColumnDef::new(QrCodes::Ticket).string_len(255).not_null())
                .col(ColumnDef::new(QrCodes::Url).text().not_null())
                .col(ts_null(QrCodes::ExpiresAt))
                .col(ts(QrCodes::CreatedAt))
                .foreign_key(&mut fk((QrCodes::Table, QrCodes::CampaignId), (Campaigns::Table, Campaigns::Id), ForeignKeyAction::Cascade))
                .to_owned(),
        )
        .await?;
        unique(m, "uq_qr_codes_ticket", QrCodes::Table, &[QrCodes::Ticket]).await?;
        index(m, "idx_qr_codes_campaign", QrCodes::Table, &[QrCodes::CampaignId, QrCodes::CreatedAt]).await?;
        index(m, "idx_qr_codes_expires", QrCodes::Table, &[QrCodes::ExpiresAt]).await?;

        // Every push as received. The unique key is docs/contract.md's "same push" rule; the
        // OpenID takes part as its keyed hash so it survives the erasure of the raw OpenID.
        // For plain messages (no Event), `event` holds the MsgType and `event_key` the MsgId.
        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(big_id_pk(Events::Id))
                .col(ColumnDef::new(Events::AccountId).integer().not_null())
                .col(ColumnDef::new(Events::OpenidHash).string_len(64).not_null())
                .col(ColumnDef::new(Events::Openid).string_len(64).null())
                .col(ColumnDef::new(Events::CreateTime).big_integer().not_null())
                .col(ColumnDef::new(Events::MsgType).string_len(32).not_null())
                .col(ColumnDef::new(Events::Event).string_len(64).not_null())
                .col(ColumnDef::new(Events::EventKey).string_len(128).not_null())
                .col(ColumnDef::new(Events::Ticket).string_len(255).null())
                .col(ColumnDef::new(Events::Scene).string_len(64).null())
                .col(ColumnDef::new(Events::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Events::CampaignId).integer().null())
                .col(ColumnDef::new(Events::RawXml).text().not_null())
                .col(ts(Events::ReceivedAt))
                .foreign_key(&mut fk(
                    (Events::Table, Events::AccountId),
                    (WechatAccounts::Table, WechatAccounts::Id),
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk((Events::Table, Events::CampaignId), (Campaigns::Table, Campaigns::Id), ForeignKeyAction::SetNull))
                .to_owned(),
        )
        .await?;
        unique(
            m,
            "uq_events_dedupe",
            Events::Table,
            &[Events::AccountId, Events::OpenidHash, Events::CreateTime, Events::Event, Events::EventKey],
        )
        .await?;
        index(m, "idx_events_account_time", Events::Table, &[Events::AccountId, Events::CreateTime]).await?;
        index(m, "idx_events_campaign_time", Events::Table, &[Events::CampaignId, Events::CreateTime]).await?;

        // Follower → campaign attribution; an open subscription has no `unsubscribed_at`.
        m.create_table(
            Table::create()
                .table(Subscriptions::Table)
                .col(big_id_pk(Subscriptions::Id))
                .col(ColumnDef::new(Subscriptions::AccountId).integer().not_null())
                .col(ColumnDef::new(Subscriptions::OpenidHash).string_len(64).not_null())
                .col(ColumnDef::new(Subscriptions::Openid).string_len(64).null())
                .col(ColumnDef::new(Subscriptions::CampaignId).integer().null())
                .col(ColumnDef::new(Subscriptions::Scene).string_len(64).null())
                .col(ts(Subscriptions::SubscribedAt))
                .col(ts_null(Subscriptions::UnsubscribedAt))
                .col(ColumnDef::new(Subscriptions::SubscribeEventId).big_integer().null())
                .col(ColumnDef::new(Subscriptions::UnsubscribeEventId).big_integer().null())
                .foreign_key(&mut fk(
                    (Subscriptions::Table, Subscriptions::AccountId),
                    (WechatAccounts::Table, WechatAccounts::Id),
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk(
                    (Subscriptions::Table, Subscriptions::CampaignId),
                    (Campaigns::Table, Campaigns::Id),
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_subscriptions_follower",
            Subscriptions::Table,
            &[Subscriptions::AccountId, Subscriptions::OpenidHash, Subscriptions::UnsubscribedAt],
        )
        .await?;
        index(m, "idx_subscriptions_campaign", Subscriptions::Table, &[Subscriptions::CampaignId, Subscriptions::SubscribedAt]).await?;

        // What `user/info` told us about a follower; erased on unsubscribe.
        m.create_table(
            Table::create()
                .table(FollowerProfiles::Table)
                .col(ColumnDef::new(FollowerProfiles::AccountId).integer().not_null())
                .col(ColumnDef::new(FollowerProfiles::OpenidHash).string_len(64).not_null())
                .col(ColumnDef::new(FollowerProfiles::Openid).string_len(64).not_null())
                .col(ColumnDef::new(FollowerProfiles::InfoJson).text().not_null())
                .col(ts(FollowerProfiles::FetchedAt))
                .primary_key(Index::create().col(FollowerProfiles::AccountId).col(FollowerProfiles::OpenidHash))
                .foreign_key(&mut fk(
                    (FollowerProfiles::Table, FollowerProfiles::AccountId),
                    (WechatAccounts::Table, WechatAccounts::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        // Hourly counters: charts read these, never raw events.
        m.create_table(
            Table::create()
                .table(CampaignHourly::Table)
                .col(ColumnDef::new(CampaignHourly::CampaignId).integer().not_null())
                .col(ColumnDef::new(CampaignHourly::Hour).big_integer().not_null())
                .col(counter(CampaignHourly::Scans))
                .col(counter(CampaignHourly::NewFollowers))
                .col(counter(CampaignHourly::Unsubscribes))
                .primary_key(Index::create().col(CampaignHourly::CampaignId).col(CampaignHourly::Hour))
                .foreign_key(&mut fk(
                    (CampaignHourly::Table, CampaignHourly::CampaignId),
                    (Campaigns::Table, Campaigns::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AccountHourly::Table)
                .col(ColumnDef::new(AccountHourly::AccountId).integer().not_null())
                .col(ColumnDef::new(AccountHourly::Hour).big_integer().not_null())
                .col(counter(AccountHourly::Scans))
                .col(counter(AccountHourly::NewFollowers))
                .col(counter(AccountHourly::OrganicFollowers))
                .col(counter(AccountHourly::Unsubscribes))
                .col(counter(AccountHourly::UnknownSceneEvents))
                .primary_key(Index::create().col(AccountHourly::AccountId).col(AccountHourly::Hour))
                .foreign_key(&mut fk(
                    (AccountHourly::Table, AccountHourly::AccountId),
                    (WechatAccounts::Table, WechatAccounts::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        // Unique scanners: one row per (campaign, hour, scanner), so a distinct count over
        // any hour range is exact (never a sum of per-bucket uniques).
        m.create_table(
            Table::create()
                .table(ScannerHours::Table)
                .col(ColumnDef::new(ScannerHours::CampaignId).integer().not_null())
                .col(ColumnDef::new(ScannerHours::Hour).big_integer().not_null())
                .col(ColumnDef::new(ScannerHours::OpenidHash).string_len(64).not_null())
                .primary_key(Index::create().col(ScannerHours::CampaignId).col(ScannerHours::Hour).col(ScannerHours::OpenidHash))
                .foreign_key(&mut fk(
                    (ScannerHours::Table, ScannerHours::CampaignId),
                    (Campaigns::Table, Campaigns::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        // Background jobs (tagging, code renewal), claimed with a lease like access tokens.
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(big_id_pk(Jobs::Id))
                .col(ColumnDef::new(Jobs::Kind).string_len(32).not_null())
                .col(ColumnDef::new(Jobs::Payload).text().not_null())
                .col(ColumnDef::new(Jobs::DedupeKey).string_len(128).null().unique_key())
                .col(ColumnDef::new(Jobs::Status).string_len(16).not_null())
                .col(ColumnDef::new(Jobs::Attempts).integer().not_null().default(0))
                .col(ts(Jobs::RunAt))
                .col(ts_null(Jobs::LockedUntil))
                .col(ColumnDef::new(Jobs::LockedBy).string_len(64).null())
                .col(ColumnDef::new(Jobs::LastError).text().null())
                .col(ts(Jobs::CreatedAt))
                .col(ts(Jobs::UpdatedAt))
                .to_owned(),
        )
        .await?;
        index(m, "idx_jobs_due", Jobs::Table, &[Jobs::Status, Jobs::RunAt]).await?;

        // Who did what, for admins.
        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(big_id_pk(AuditLog::Id))
                .col(ColumnDef::new(AuditLog::UserId).integer().null())
                .col(ColumnDef::new(AuditLog::Action).string_len(64).not_null())
                .col(ColumnDef::new(AuditLog::TargetType).string_len(32).not_null())
                .col(ColumnDef::new(AuditLog::TargetId).string_len(64).null())
                .col(ColumnDef::new(AuditLog::Detail).text().not_null())
                .col(ts(AuditLog::CreatedAt))
                .foreign_key(&mut fk((AuditLog::Table, AuditLog::UserId), (Users::Table, Users::Id), ForeignKeyAction::SetNull))
                .to_owned(),
        )
        .await?;
        index(m, "idx_audit_created", AuditLog::Table, &[AuditLog::CreatedAt]).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents, so foreign keys never block the drop.
        for table in [
            AuditLog::Table.into_iden(),
            Jobs::Table.into_iden(),
            ScannerHours::Table.into_iden(),
            AccountHourly::Table.into_iden(),
            CampaignHourly::Table.into_iden(),
            FollowerProfiles::Table.into_iden(),
            Subscriptions::Table.into_iden(),
            Events::Table.into_iden(),
            QrCodes::Table.into_iden(),
            Campaigns::Table.into_iden(),
            AccessTokens::Table.into_iden(),
            WechatAccounts::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

async fn index<T: IntoIden + Copy + 'static>(m: &SchemaManager<'_>, name: &str, table: T, cols: &[T]) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(*col);
    }
    m.create_index(stmt.to_owned()).await
}

async fn unique<T: IntoIden + Copy + 'static>(m: &SchemaManager<'_>, name: &str, table: T, cols: &[T]) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table).unique();
    for col in cols {
        stmt.col(*col);
    }
    m.create_index(stmt.to_owned()).await
}
