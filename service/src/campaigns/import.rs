//! CSV import: a file is checked as a whole first ([`plan_import`]: every problem, with its
//! line), then every code is issued and all campaigns stored at once, or none ([`import`]).

use super::lifecycle::{insert_new, issue};
use super::store::is_unique_violation;
use super::types::{Kind, kind_message};
use super::validate::{
    NewCampaign, ShortText, account_exists, clean_days, clean_name, clean_optional, clean_scene, name_taken_message, scene_conflict,
    scene_taken_message,
};
use super::{IMPORT_CONCURRENCY, MAX_GROUP, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, PERMANENT_QUOTA};
use crate::db::query_in_chunks;
use crate::{AppState, Msg, ServiceError, audit, scenes};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use wechat::{Scene, WechatApi};

/// A good row of an import file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// Physical line of the file (1-based, the header counted).
    pub line: u64,
    pub name: String,
    /// Canonical scene; rows that left it blank get the next free numbers.
    pub scene: Option<String>,
    /// `permanent` or `temporary`.
    pub kind: String,
    pub group: Option<String>,
    pub expire_days: Option<i32>,
}

/// What is wrong with one line of an import file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: Msg,
}

/// The outcome of checking an import file: the rows as they would be created, and every
/// problem found (all of them, not just the first).
#[derive(Clone, Debug, Default)]
pub struct ImportPlan {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<RowError>,
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailed {
    /// Some rows are bad (or WeChat refused one); each says its line.
    #[error("{} rows of the file have problems", .0.len())]
    Rows(Vec<RowError>),
    /// The file as a whole, or the system, failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Rows of the checks that look at the database, per query (well under every backend's
/// parameter limit).
const IMPORT_CHUNK: usize = 500;

struct Draft {
    line: u64,
    name: Option<String>,
    scene: Option<Scene>,
    scene_blank: bool,
    kind: Option<Kind>,
    group: Option<String>,
    expire_days: Option<i32>,
    problems: Vec<Msg>,
}

/// Checks an import file for `account_id`: `name,scene,kind[,group,expire_days]` rows, an
/// optional header (first cell "name"), UTF-8 BOM, CRLF and blank lines tolerated. Problems of
/// single rows come back in [`ImportPlan::errors`] with their line numbers; a file that cannot
/// be taken at all (too large, too many rows, unknown account) is an `Err`.
pub async fn plan_import<C: ConnectionTrait>(db: &C, account_id: i32, csv_text: &str) -> Result<ImportPlan, ServiceError> {
    plan_import_at(db, account_id, csv_text, Utc::now()).await
}

/// [`plan_import`] at `now` (the state's clock): which deleted campaigns' temporary codes
/// still hold their scenes.
pub async fn plan_import_at<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    csv_text: &str,
    now: DateTime<Utc>,
) -> Result<ImportPlan, ServiceError> {
    if csv_text.len() > MAX_IMPORT_BYTES {
        return Err(ServiceError::invalid("csv", Msg::CsvTooLarge { kib: csv_text.len() / 1024 }));
    }
    if !account_exists(db, account_id).await? {
        return Err(ServiceError::invalid("account_id", Msg::AccountRequired));
    }
    let text = csv_text.strip_prefix('\u{feff}').unwrap_or(csv_text);
    let (mut drafts, mut errors) = read_drafts(text)?;

    if drafts.is_empty() && errors.is_empty() {
        return Err(ServiceError::invalid("csv", Msg::CsvNoRows));
    }

    let (scene_lines, name_lines) = mark_repeated(&mut drafts);
    mark_taken(db, account_id, &mut drafts, &scene_lines, &name_lines, now).await?;

    // Permanent codes beyond the account's quota.
    let used = scenes::permanent_issued(db, account_id).await?;
    let mut left = PERMANENT_QUOTA.saturating_sub(used);
    for d in drafts.iter_mut().filter(|d| d.kind == Some(Kind::Permanent)) {
        if left == 0 {
            d.problems.push(Msg::CsvRowOverQuota { used });
        } else {
            left -= 1;
        }
    }

    // Blank scenes: the smallest free numbers, skipping the numbers typed in the file.
    let typed: BTreeSet<u32> = drafts
        .iter()
        .filter_map(|d| match &d.scene {
            Some(Scene::Id(n)) => Some(*n),
            _ => None,
        })
        .collect();
    let auto_count = drafts.iter().filter(|d| d.scene_blank).count();
    if auto_count > 0 {
        let ranges = scenes::free_ranges(db, account_id, (auto_count + typed.len() + 1) as u64, now).await?;
        let mut free = scenes::take_free(&ranges, auto_count, &typed).into_iter();
        for d in drafts.iter_mut().filter(|d| d.scene_blank) {
            match free.next() {
                Some(n) => d.scene = Some(Scene::Id(n)),
                None => d.problems.push(Msg::CsvNoSceneLeft),
            }
        }
    }

    let mut rows = Vec::with_capacity(drafts.len());
    for mut d in drafts {
        if !d.problems.is_empty() {
            let message = if d.problems.len() == 1 { d.problems.remove(0) } else { Msg::Several(d.problems) };
            errors.push(RowError { line: d.line, message });
            continue;
        }
        if let (Some(name), Some(scene), Some(kind)) = (d.name, d.scene, d.kind) {
            rows.push(ImportRow {
                line: d.line,
                name,
                scene: Some(scene.to_string()),
                kind: kind.as_str().to_owned(),
                group: d.group,
                expire_days: d.expire_days,
            });
        }
    }
    errors.sort_by_key(|e| e.line);
    Ok(ImportPlan { rows, errors })
}

/// Reads the rows of `text` (its BOM removed), each checked on its own ([`parse_row`]): blank
/// lines and a header are skipped, records the csv crate cannot read become errors. More than
/// [`MAX_IMPORT_ROWS`] rows is an `Err`.
fn read_drafts(text: &str) -> Result<(Vec<Draft>, Vec<RowError>), ServiceError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut drafts: Vec<Draft> = Vec::new();
    let mut errors: Vec<RowError> = Vec::new();
    let mut first = true;
    let mut lines = LineCounter::new(text);
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte() as usize));
                errors.push(RowError { line, message: Msg::CsvUnreadable { detail: e.to_string() } });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.line_at(p.byte() as usize));
        let cells: Vec<&str> = record.iter().map(str::trim).collect();
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        if std::mem::take(&mut first) && cells[0].eq_ignore_ascii_case("name") {
            continue;
        }
        if drafts.len() >= MAX_IMPORT_ROWS {
            return Err(ServiceError::invalid("csv", Msg::CsvTooManyRows { max: MAX_IMPORT_ROWS }));
        }
        drafts.push(parse_row(line, &cells));
    }
    Ok((drafts, errors))
}

/// Duplicates inside the file, against the earliest line; returns the first line of each
/// scene and of each name typed.
fn mark_repeated(drafts: &mut [Draft]) -> (HashMap<String, u64>, HashMap<String, u64>) {
    let mut scene_lines: HashMap<String, u64> = HashMap::new();
    let mut name_lines: HashMap<String, u64> = HashMap::new();
    for d in drafts.iter_mut() {
        if let Some(s) = &d.scene {
            let s = s.to_string();
            match scene_lines.get(&s) {
                Some(earlier) => d.problems.push(Msg::CsvSceneRepeated { scene: s.clone(), line: *earlier }),
                None => {
                    scene_lines.insert(s, d.line);
                }
            }
        }
        if let Some(n) = &d.name {
            match name_lines.get(n) {
                Some(earlier) => d.problems.push(Msg::CsvNameRepeated { name: n.clone(), line: *earlier }),
                None => {
                    name_lines.insert(n.clone(), d.line);
                }
            }
        }
    }
    (scene_lines, name_lines)
}

/// Scenes and names already used in the account (`scene_lines` and `name_lines` hold those
/// of the file).
async fn mark_taken<C: ConnectionTrait>(
    db: &C,
    account_id: i32,
    drafts: &mut [Draft],
    scene_lines: &HashMap<String, u64>,
    name_lines: &HashMap<String, u64>,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let typed_scenes: Vec<String> = scene_lines.keys().cloned().collect();
    let mut holders: HashMap<String, (String, bool)> = HashMap::new();
    let sql = "SELECT scene, name, archived_at FROM campaigns WHERE account_id = ? AND scene IN ({in})";
    for r in query_in_chunks(db, sql, &[account_id.into()], &typed_scenes, IMPORT_CHUNK).await? {
        let archived: Option<DateTime<Utc>> = r.try_get("", "archived_at")?;
        holders.insert(r.try_get("", "scene")?, (r.try_get("", "name")?, archived.is_some()));
    }
    // Scenes no campaign has, but a deleted campaign's ticket still holds.
    let unheld: Vec<String> = typed_scenes.iter().filter(|s| !holders.contains_key(*s)).cloned().collect();
    let ticketed = scenes::held_by_tickets(db, account_id, &unheld, now).await?;
    let names: Vec<String> = name_lines.keys().cloned().collect();
    let mut taken_names: HashSet<String> = HashSet::new();
    let sql = "SELECT name FROM campaigns WHERE account_id = ? AND archived_at IS NULL AND name IN ({in})";
    for r in query_in_chunks(db, sql, &[account_id.into()], &names, IMPORT_CHUNK).await? {
        taken_names.insert(r.try_get("", "name")?);
    }
    for d in drafts.iter_mut() {
        if let Some(s) = &d.scene
            && let Some((holder, archived)) = holders.get(&s.to_string())
        {
            d.problems.push(scene_taken_message(&s.to_string(), holder, *archived));
        }
        if let Some(s) = &d.scene
            && let Some(until) = ticketed.get(&s.to_string())
        {
            d.problems.push(scenes::held_message(&s.to_string(), *until));
        }
        if let Some(n) = &d.name
            && taken_names.contains(n)
        {
            d.problems.push(name_taken_message(n));
        }
    }
    Ok(())
}

/// Physical line numbers of CSV records.
///
/// The csv crate's own line numbers skip blank lines and count CRLF wrongly, and its byte
/// offset of a record may point at the line ends before it; so the offset is moved past line
/// ends and the lines before it are counted here (CRLF, LF or a lone CR each end one line).
struct LineCounter<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self { bytes: text.as_bytes(), pos: 0, line: 1 }
    }

    /// The line of the record reported at `offset`; offsets must not decrease.
    fn line_at(&mut self, offset: usize) -> u64 {
        let mut start = offset.min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        while self.pos < start {
            match self.bytes[self.pos] {
                b'\n' => self.line += 1,
                b'\r' if self.bytes.get(self.pos + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
            self.pos += 1;
        }
        self.line
    }
}

/// Checks one row on its own.
fn parse_row(line: u64, cells: &[&str]) -> Draft {
    let mut d =
        Draft { line, name: None, scene: None, scene_blank: false, kind: None, group: None, expire_days: None, problems: Vec::new() };
    if !(3..=5).contains(&cells.len()) {
        d.problems.push(Msg::CsvColumns { found: cells.len() });
        return d;
    }
    match clean_name(cells[0]) {
        Ok(n) => d.name = Some(n),
        Err(m) => d.problems.push(m),
    }
    match clean_scene(Some(cells[1])) {
        Ok(Some(s)) => d.scene = Some(s),
        Ok(None) => d.scene_blank = true,
        Err(m) => d.problems.push(m),
    }
    match cells[2].parse::<Kind>() {
        Ok(k) => d.kind = Some(k),
        Err(_) => d.problems.push(kind_message(cells[2])),
    }
    match clean_optional(cells.get(3).copied(), ShortText::Group, MAX_GROUP) {
        Ok(g) => d.group = g,
        Err(m) => d.problems.push(m),
    }
    if let Some(kind) = d.kind {
        let days = match cells.get(4).copied().filter(|c| !c.is_empty()) {
            None => Ok(None),
            Some(text) => text.parse::<i32>().map(Some).map_err(|_| Msg::DaysNotNumber { value: text.to_owned() }),
        };
        match days.and_then(|days| clean_days(kind, days)) {
            Ok(days) => d.expire_days = days,
            Err(m) => d.problems.push(m),
        }
    }
    d
}

/// Creates every campaign of an import file, or none.
///
/// The file is checked first ([`plan_import`]); then every code is issued, and only when all
/// were, the campaigns, codes and one `campaign.import` audit row are stored in one
/// transaction. A WeChat refusal is reported on the line of the row it refused.
pub async fn import(
    st: &AppState,
    api: &dyn WechatApi,
    account_id: i32,
    csv_text: &str,
    actor: Option<i32>,
) -> Result<Vec<i32>, ImportFailed> {
    let db = &st.db;
    let now = st.clock.now();
    let plan = plan_import_at(db, account_id, csv_text, now).await?;
    if !plan.errors.is_empty() {
        return Err(ImportFailed::Rows(plan.errors));
    }
    let mut campaigns = Vec::with_capacity(plan.rows.len());
    for r in &plan.rows {
        let kind: Kind = r.kind.parse()?;
        let scene = Scene::parse(r.scene.as_deref().unwrap_or_default())
            .map_err(|e| ServiceError::Internal(format!("planned scene on line {}: {e}", r.line)))?;
        campaigns.push((
            r.line,
            NewCampaign {
                account_id,
                name: r.name.clone(),
                group: r.group.clone(),
                kind,
                scene,
                expire_days: r.expire_days,
                auto_renew: false,
                welcome: None,
                tag_name: None,
            },
        ));
    }
    // Ordered, so the first refusal reported is the earliest line that was refused.
    // The futures are built by a plain iterator over owned values: a stream `map` closure
    // borrowing each row makes the future not provably `Send` (a rustc higher-ranked
    // lifetime limitation), which server functions require.
    let issuing: Vec<_> = campaigns
        .iter()
        .map(|(line, c)| {
            let (line, scene, kind, days) = (*line, c.scene.clone(), c.kind, c.expire_days);
            async move { issue(api, &scene, kind, days).await.map_err(|message| RowError { line, message }) }
        })
        .collect();
    let codes: Vec<wechat::QrCode> =
        futures::stream::iter(issuing).buffered(IMPORT_CONCURRENCY).try_collect().await.map_err(|e| ImportFailed::Rows(vec![e]))?;

    let txn = db.begin().await.map_err(ServiceError::from)?;
    let mut ids = Vec::with_capacity(campaigns.len());
    for ((line, c), code) in campaigns.iter().zip(&codes) {
        match insert_new(&txn, c, code, actor, now).await {
            Ok(id) => ids.push(id),
            Err(e) => {
                txn.rollback().await.ok();
                // A scene taken by someone else after the file was checked.
                if is_unique_violation(&e)
                    && let ServiceError::Conflict { message, .. } = scene_conflict(db, account_id, &c.scene.to_string()).await
                {
                    return Err(ImportFailed::Rows(vec![RowError { line: *line, message }]));
                }
                return Err(ServiceError::from(e).into());
            }
        }
    }
    audit::record(&txn, actor, "campaign.import", "campaign", None, json!({ "account_id": account_id, "count": ids.len() }))
        .await
        .map_err(ServiceError::from)?;
    txn.commit().await.map_err(ServiceError::from)?;
    Ok(ids)
}
