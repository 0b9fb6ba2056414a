//! What downloads need: safe, unique file names, ZIPs of several codes, the logo drawn into a
//! code, and the rows of the campaigns export.

use super::types::CampaignView;
use crate::ServiceError;
use crate::entity::{campaign, wechat_account};
use crate::series::{Totals, all_campaign_totals};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};
use std::io::Write;

/// The logo a code of campaign `c` is drawn with, as stored: the campaign's own, else its
/// account's, else none.
pub async fn logo<C: ConnectionTrait>(db: &C, c: &CampaignView) -> Result<Option<Vec<u8>>, ServiceError> {
    let own: Option<Option<Vec<u8>>> =
        campaign::Entity::find_by_id(c.id).select_only().column(campaign::Column::Logo).into_tuple().one(db).await?;
    if let Some(bytes) = own.flatten() {
        return Ok(Some(bytes));
    }
    let account: Option<Option<Vec<u8>>> =
        wechat_account::Entity::find_by_id(c.account_id).select_only().column(wechat_account::Column::Logo).into_tuple().one(db).await?;
    Ok(account.flatten())
}

/// One row of the campaigns export: every campaign of every account, archived ones included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRow {
    pub id: i32,
    pub name: String,
    pub kind: String,
    pub scene: String,
    /// All time.
    pub totals: Totals,
}

/// Every campaign (of `account`, or of all) with its all-time totals, by id.
pub async fn export_rows<C: ConnectionTrait>(db: &C, account: Option<i32>) -> Result<Vec<ExportRow>, ServiceError> {
    let mut query = campaign::Entity::find();
    if let Some(a) = account {
        query = query.filter(campaign::Column::AccountId.eq(a));
    }
    let list: Vec<(i32, String, String, String)> = query
        .select_only()
        .columns([campaign::Column::Id, campaign::Column::Name, campaign::Column::Kind, campaign::Column::Scene])
        .order_by_asc(campaign::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let totals: HashMap<i32, Totals> = all_campaign_totals(db, None).await?.into_iter().collect();
    Ok(list
        .into_iter()
        .map(|(id, name, kind, scene)| ExportRow { totals: totals.get(&id).copied().unwrap_or_default(), id, name, kind, scene })
        .collect())
}

/// A file name safe on every system: `/\:*?"<>|` and control characters become `_`, a
/// leading dot too (no hidden files, no `..`), at most 120 characters.
fn safe_file_name(name: &str) -> String {
    let mut out: String = name
        .trim()
        .chars()
        .map(|c| if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') { '_' } else { c })
        .take(120)
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.trim().is_empty() { "file".into() } else { out }
}

/// `name (2).ext` for the second file called `name.ext`.
fn numbered(name: &str, n: usize) -> String {
    match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => format!("{} ({n}){}", &name[..i], &name[i..]),
        None => format!("{name} ({n})"),
    }
}

/// The download name of a campaign's code: `{id}-{name}.{ext}`, made safe.
pub fn code_file_name(c: &CampaignView, ext: &str) -> String {
    safe_file_name(&format!("{}-{}.{}", c.id, c.name, ext))
}

/// A ZIP of `(file name, bytes)`: entries stored uncompressed (PNGs are compressed already),
/// names made safe and unique (case-insensitively, for Windows and macOS) with " (2)", " (3)"….
pub fn zip_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, ServiceError> {
    let zip_err = |e: zip::result::ZipError| ServiceError::Internal(format!("writing the ZIP failed: {e}"));
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).unix_permissions(0o644);
    let mut used: HashSet<String> = HashSet::new();
    for (name, bytes) in files {
        let base = safe_file_name(name);
        let mut unique = base.clone();
        let mut n = 1;
        while !used.insert(unique.to_lowercase()) {
            n += 1;
            unique = numbered(&base, n);
        }
        writer.start_file(unique, options).map_err(zip_err)?;
        writer.write_all(bytes).map_err(|e| ServiceError::Internal(format!("writing the ZIP failed: {e}")))?;
    }
    Ok(writer.finish().map_err(zip_err)?.into_inner())
}
