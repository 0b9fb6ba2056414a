//! Demo data for `sceneboard demo`: a dozen campaigns with real codes from the account's WeChat
//! API (the built-in simulator) and months of believable events, so a new user sees full
//! charts at once.
//!
//! The events go through the real ingestion path ([`Ingestor`]), exactly as pushes from WeChat
//! would: counters, subscriptions and unique scanners come out consistent because the same code
//! computes them. Everything is derived from [`SeedOptions::seed`] and [`SeedOptions::end`], so
//! the same options give the same data (tests rely on it).

use crate::campaigns::{self, CampaignInput, Welcome};
use crate::entity::campaign;
use crate::ingest::{IngestOptions, Ingestor, Outcome, Push};
use crate::users::{self, Role};
use crate::{AppState, ServiceError, accounts};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use futures::StreamExt;
use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;
use wechat::{InboundMessage, QrCodeRequest, QrLifetime, Scene, WechatApi};

/// How much demo data to make.
#[derive(Clone, Debug)]
pub struct SeedOptions {
    /// Days of history, ending with the day of `end` (in the account's time zone).
    pub days: u32,
    /// Campaigns to create (names repeat with a number beyond the built-in dozen).
    pub campaigns: usize,
    /// Average scans and organic follows on a weekday; weekends, the trend and the launch
    /// spike vary it.
    pub events_per_day: u32,
    /// Seed of the random generator: the same seed gives the same events.
    pub seed: u64,
    /// The moment the history ends (no event after it); `now` for the demo, fixed in tests.
    pub end: DateTime<Utc>,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self { days: 90, campaigns: 12, events_per_day: 300, seed: 20_240_301, end: Utc::now() }
    }
}

/// The [`SeedOptions::events_per_day`] that makes about `events` events over `days` days. The
/// factor 0.88 is measured (docs/design/schema.md, "The demo's events-per-day factor"); the
/// seeding report gives the exact count.
pub fn events_per_day_for(events: u64, days: u32) -> u32 {
    let per_day = events as f64 / f64::from(days.max(1)) / 0.88;
    per_day.round().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// What [`seed`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedReport {
    /// Campaigns created.
    pub campaigns: usize,
    /// Events stored (pushes that were new to the database).
    pub events: u64,
}

/// The shape of a campaign's traffic over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Every day.
    Steady,
    /// Starts a third into the history with three days at four times its usual traffic.
    Launch,
    /// A trade fair: five busy days three fifths into the history, silence otherwise.
    Fair,
}

struct Spec {
    name: &'static str,
    group: &'static str,
    permanent: bool,
    /// Relative popularity.
    weight: f64,
    role: Shape,
    welcome: Option<&'static str>,
}

/// The built-in campaigns, groups interleaved so that a small demo still shows several groups
/// and the launch.
const SPECS: [Spec; 12] = [
    Spec { name: "春季海报·地铁站", group: "海报", permanent: true, weight: 1.4, role: Shape::Steady, welcome: None },
    Spec {
        name: "门店收银台·上海",
        group: "门店",
        permanent: true,
        weight: 1.2,
        role: Shape::Steady,
        welcome: Some("欢迎光临！回复“会员”领取新人礼券。"),
    },
    Spec {
        name: "新品发布会·扫码领券",
        group: "活动",
        permanent: true,
        weight: 0.9,
        role: Shape::Launch,
        welcome: Some("感谢关注新品发布会，优惠券已放入您的卡包。"),
    },
    Spec { name: "包装盒二维码", group: "包装", permanent: true, weight: 1.1, role: Shape::Steady, welcome: None },
    Spec { name: "公众号文章", group: "线上", permanent: true, weight: 0.9, role: Shape::Steady, welcome: None },
    Spec { name: "门店收银台·北京", group: "门店", permanent: true, weight: 1.0, role: Shape::Steady, welcome: None },
    Spec { name: "夏季海报·公交站", group: "海报", permanent: false, weight: 0.8, role: Shape::Steady, welcome: None },
    Spec { name: "外卖袋二维码", group: "包装", permanent: true, weight: 0.7, role: Shape::Steady, welcome: None },
    Spec { name: "小红书笔记", group: "线上", permanent: false, weight: 0.6, role: Shape::Steady, welcome: None },
    Spec { name: "展会易拉宝", group: "活动", permanent: false, weight: 0.5, role: Shape::Fair, welcome: None },
    Spec { name: "写字楼电梯海报", group: "海报", permanent: false, weight: 0.6, role: Shape::Steady, welcome: None },
    Spec { name: "门店桌贴·广州", group: "门店", permanent: false, weight: 0.5, role: Shape::Steady, welcome: None },
];

/// Relative traffic per local hour: quiet nights, a lunch peak at 12:00 and an evening peak
/// at 20:00.
const HOURS: [f64; 24] =
    [0.3, 0.15, 0.1, 0.05, 0.05, 0.1, 0.3, 0.8, 1.2, 1.0, 1.0, 1.5, 2.4, 1.8, 1.1, 1.0, 1.0, 1.3, 1.6, 2.0, 2.6, 2.0, 1.2, 0.6];

/// Share of campaign scans made by people who follow through the code (the rest are
/// followers scanning again: `SCAN`).
const NEW_FOLLOWER_SHARE: f64 = 0.6;
/// Share of each day's traffic that is organic follows (search, profile card).
const ORGANIC_SHARE: f64 = 0.15;
/// Share of new followers who unsubscribe later.
const UNSUBSCRIBE_SHARE: f64 = 0.08;

/// One planned push.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Planned {
    /// Unix seconds.
    at: i64,
    /// Follower number (its OpenID is [`openid`]).
    follower: u32,
    what: What,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    /// Follows through campaign `n`'s code.
    CodeSubscribe(usize),
    /// A follower scans campaign `n`'s code again.
    Scan(usize),
    /// Follows without a code.
    Organic,
    Unsubscribe,
}

/// A demo follower's OpenID: 28 characters, like WeChat's.
fn openid(n: u32) -> String {
    format!("o_demo_{n:021}")
}

/// The followers currently following, with O(1) pick and removal.
#[derive(Default)]
struct Pool {
    members: Vec<u32>,
    /// Position in `members` per follower number; `usize::MAX` when not following.
    slot: Vec<usize>,
}

impl Pool {
    /// Adds a new follower and returns its number.
    fn join(&mut self) -> u32 {
        let id = self.slot.len() as u32;
        self.slot.push(self.members.len());
        self.members.push(id);
        id
    }

    fn leave(&mut self, id: u32) {
        let at = std::mem::replace(&mut self.slot[id as usize], usize::MAX);
        if at == usize::MAX {
            return;
        }
        self.members.swap_remove(at);
        if let Some(&moved) = self.members.get(at) {
            self.slot[moved as usize] = at;
        }
    }

    fn pick(&self, rng: &mut StdRng) -> Option<u32> {
        (!self.members.is_empty()).then(|| self.members[rng.gen_range(0..self.members.len())])
    }
}

/// `x` rounded up with probability equal to its fraction: small expected counts still add up
/// right over many days.
fn stochastic_round(rng: &mut StdRng, x: f64) -> u32 {
    let x = x.max(0.0);
    let floor = x.floor();
    floor as u32 + u32::from(rng.gen_bool((x - floor).clamp(0.0, 1.0)))
}

/// A random moment of `date` (local), following [`HOURS`].
fn local_time(rng: &mut StdRng, tz: Tz, date: NaiveDate) -> i64 {
    let total: f64 = HOURS.iter().sum();
    let mut pick = rng.gen_range(0.0..total);
    let mut hour = 23;
    for (h, w) in HOURS.iter().enumerate() {
        if pick < *w {
            hour = h;
            break;
        }
        pick -= w;
    }
    let time = NaiveTime::from_hms_opt(hour as u32, rng.gen_range(0..60), rng.gen_range(0..60)).unwrap_or_default();
    let local = date.and_time(time);
    // A time inside a DST gap does not exist locally: read it as UTC (it is only demo data).
    tz.from_local_datetime(&local).earliest().map_or_else(|| local.and_utc().timestamp(), |t| t.timestamp())
}

/// How long until a follower who will leave does: 40 % within a day, the rest within a month.
fn unsubscribe_delay(rng: &mut StdRng) -> i64 {
    if rng.gen_bool(0.4) { rng.gen_range(600..86_400) } else { rng.gen_range(1..30) * 86_400 + rng.gen_range(0..86_400) }
}

/// A new follower at `at`; some of them will leave later.
fn new_follower(pool: &mut Pool, rng: &mut StdRng, leaving: &mut BinaryHeap<Reverse<(i64, u32)>>, at: i64) -> u32 {
    let id = pool.join();
    if rng.gen_bool(UNSUBSCRIBE_SHARE) {
        leaving.push(Reverse((at + unsubscribe_delay(rng), id)));
    }
    id
}

/// The events of the demo, in time order, all at or before `opts.end`. `campaigns` gives each
/// campaign's weight and traffic shape.
fn plan(campaigns: &[(f64, Shape)], opts: &SeedOptions, tz: Tz) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let end = opts.end.timestamp();
    let days = opts.days.max(1);
    let last = opts.end.with_timezone(&tz).date_naive();
    let first = last - Days::new(u64::from(days - 1));
    let launch = days / 3;
    let fair = days * 3 / 5;
    // Shares are of the weight of all campaigns, so a campaign going live adds traffic rather
    // than taking it from the others.
    let total_weight = campaigns.iter().map(|c| c.0).sum::<f64>().max(f64::EPSILON);
    let mut out = Vec::new();
    let mut leaving: BinaryHeap<Reverse<(i64, u32)>> = BinaryHeap::new();
    let mut pool = Pool::default();
    for d in 0..days {
        let date = first + Days::new(u64::from(d));
        let weekday = if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) { 0.6 } else { 1.0 };
        let trend = 0.85 + 0.3 * f64::from(d) / f64::from(days);
        let base = f64::from(opts.events_per_day) * weekday * trend * rng.gen_range(0.85..1.15);
        // (moment, campaign index or None for organic)
        let mut actions: Vec<(i64, Option<usize>)> = Vec::new();
        for (i, &(weight, role)) in campaigns.iter().enumerate() {
            let factor = match role {
                Shape::Steady => 1.0,
                Shape::Launch if d < launch => 0.0,
                Shape::Launch if d < launch + 3 => 4.0,
                Shape::Launch => 1.0,
                Shape::Fair if (fair..fair + 5).contains(&d) => 5.0,
                Shape::Fair => 0.0,
            };
            let n = stochastic_round(&mut rng, base * (1.0 - ORGANIC_SHARE) * weight / total_weight * factor);
            for _ in 0..n {
                actions.push((local_time(&mut rng, tz, date), Some(i)));
            }
        }
        for _ in 0..stochastic_round(&mut rng, base * ORGANIC_SHARE) {
            actions.push((local_time(&mut rng, tz, date), None));
        }
        // Stable: ties keep generation order, so the plan is the same every time.
        actions.sort_by_key(|a| a.0);
        for (at, campaign) in actions {
            if at > end {
                break;
            }
            while let Some(&Reverse((t, id))) = leaving.peek()
                && t <= at
            {
                leaving.pop();
                pool.leave(id);
                out.push(Planned { at: t, follower: id, what: What::Unsubscribe });
            }
            let planned = match campaign {
                Some(c) => match pool.pick(&mut rng).filter(|_| !rng.gen_bool(NEW_FOLLOWER_SHARE)) {
                    Some(id) => Planned { at, follower: id, what: What::Scan(c) },
                    None => Planned { at, follower: new_follower(&mut pool, &mut rng, &mut leaving, at), what: What::CodeSubscribe(c) },
                },
                None => Planned { at, follower: new_follower(&mut pool, &mut rng, &mut leaving, at), what: What::Organic },
            };
            out.push(planned);
        }
    }
    while let Some(Reverse((t, id))) = leaving.pop() {
        if t > end {
            break;
        }
        out.push(Planned { at: t, follower: id, what: What::Unsubscribe });
    }
    out
}

/// The push WeChat would send for `p`; `codes` are each campaign's (scene, ticket).
fn push_of(account_id: i32, to_user: &str, p: &Planned, codes: &[(String, String)]) -> Result<Push, ServiceError> {
    let (event, key, ticket) = match p.what {
        What::CodeSubscribe(c) => ("subscribe", format!("qrscene_{}", codes[c].0), Some(codes[c].1.as_str())),
        What::Scan(c) => ("SCAN", codes[c].0.clone(), Some(codes[c].1.as_str())),
        What::Organic => ("subscribe", String::new(), None),
        What::Unsubscribe => ("unsubscribe", String::new(), None),
    };
    let xml = wechat::xml::event_xml(to_user, &openid(p.follower), p.at, event, Some(&key), ticket);
    let message = InboundMessage::parse(&xml).map_err(|e| ServiceError::Internal(format!("a demo event is not valid XML: {e}")))?;
    let at = DateTime::from_timestamp(p.at, 0).unwrap_or_else(Utc::now);
    Ok(Push::new(account_id, &message, at))
}

/// The account's original id (`gh_…`) as the simulator derives it from the AppID.
fn original_id(app_id: &str) -> String {
    format!("gh_{}", app_id.trim_start_matches("wx").chars().take(12).collect::<String>())
}

/// Creates the demo campaigns of `account_id` (codes issued through `api`) and stores
/// `opts.days` days of events for them through the ingestion path.
///
/// Meant for an account without campaigns: a name that is already taken fails with
/// `Conflict`. The events are stored in time order, a few hundred per transaction.
pub async fn seed(st: &AppState, api: &dyn WechatApi, account_id: i32, opts: SeedOptions) -> Result<SeedReport, ServiceError> {
    let account = accounts::get(&st.db, account_id).await?;
    let tz: Tz = account.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let mut codes = Vec::with_capacity(opts.campaigns);
    let mut shapes = Vec::with_capacity(opts.campaigns);
    for i in 0..opts.campaigns {
        let spec = &SPECS[i % SPECS.len()];
        let round = i / SPECS.len();
        let name = if round == 0 { spec.name.to_owned() } else { format!("{} {}", spec.name, round + 1) };
        let input = CampaignInput {
            account_id,
            name,
            group: Some(spec.group.to_owned()),
            kind: if spec.permanent { "permanent" } else { "temporary" }.to_owned(),
            scene: None,
            expire_days: (!spec.permanent).then_some(campaigns::MAX_EXPIRE_DAYS),
            auto_renew: !spec.permanent,
            welcome: spec.welcome.map(|t| Welcome::Text { content: t.to_owned() }),
            // No tag: tagging would ask WeChat about followers it never saw.
            tag_name: None,
        };
        let view = campaigns::create(st, api, input, None).await?;
        let code = view.code.ok_or_else(|| ServiceError::Internal(format!("campaign {} has no code", view.id)))?;
        codes.push((view.scene, code.ticket));
        shapes.push((spec.weight, spec.role));
    }

    let to_user = original_id(&account.app_id);
    // Pushes are built as they are sent: at 10 M events their XML would not fit in memory.
    let planned = plan(&shapes, &opts, tz);
    // A writer of our own (no spool: the database is right here), patient with slow batches
    // since nobody waits on an answer within WeChat's 5 s. Submitting many at once lets it
    // store full batches, one transaction each; the bounded window keeps the order of sends,
    // so a follower's subscribe is always stored before their unsubscribe.
    // Larger transactions than the callback's: fewer commits (fsyncs) per event.
    let options = IngestOptions { store_timeout: Duration::from_secs(60), max_batch: 2048, ..IngestOptions::default() };
    let ingest =
        Ingestor::spawn(st.clone(), options).map_err(|e| ServiceError::Internal(format!("cannot start the ingest writer: {e}")))?;
    let mut stored = 0u64;
    let ingest = &ingest;
    let (to_user, codes) = (&to_user, &codes);
    let mut results = futures::stream::iter(planned.iter())
        .map(|p| async move {
            let push = push_of(account_id, to_user, p, codes)?;
            ingest.submit(push).await.map_err(|e| ServiceError::Internal(format!("a demo event could not be stored: {e}")))
        })
        .buffered(4096);
    while let Some(result) = results.next().await {
        let result = result?;
        if result.outcome == Outcome::Stored {
            stored += 1;
        }
    }
    Ok(SeedReport { campaigns: codes.len(), events: stored })
}

/// Whether the account has any campaign (the demo seeds only an empty account).
pub async fn has_campaigns(db: &DatabaseConnection, account_id: i32) -> Result<bool, ServiceError> {
    Ok(campaign::Entity::find().filter(campaign::Column::AccountId.eq(account_id)).count(db).await? > 0)
}

/// Issues a code for every live campaign of the account through `api`, without storing it.
///
/// For the demo's restarted simulator, which forgets its codes: its page can then scan the
/// campaigns again, and those scans resolve to the campaigns by scene. Returns how many codes
/// were issued.
pub async fn reissue_in_simulator(st: &AppState, api: &dyn WechatApi, account_id: i32) -> Result<usize, ServiceError> {
    let rows = campaign::Entity::find()
        .filter(campaign::Column::AccountId.eq(account_id))
        .filter(campaign::Column::ArchivedAt.is_null())
        .all(&st.db)
        .await?;
    let mut issued = 0;
    for c in rows {
        let scene = Scene::parse(&c.scene).map_err(|e| ServiceError::Internal(format!("stored scene of campaign {}: {e}", c.id)))?;
        let lifetime = if c.kind == "permanent" {
            QrLifetime::Permanent
        } else {
            let days = c.expire_days.unwrap_or(campaigns::MAX_EXPIRE_DAYS).clamp(1, campaigns::MAX_EXPIRE_DAYS) as u32;
            QrLifetime::Temporary { expire_seconds: days * 86_400 }
        };
        api.create_qr_code(&QrCodeRequest { scene, lifetime })
            .await
            .map_err(|e| ServiceError::invalid("wechat", crate::Msg::SimulatorNoCode { detail: e.to_string() }))?;
        issued += 1;
    }
    Ok(issued)
}

/// A random password of 16 letters and digits (from the operating system's generator).
pub fn random_password() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(16).map(char::from).collect()
}

/// Creates the user `admin` with a random password when there is no user at all; returns the
/// password, to be shown once.
pub async fn ensure_admin(db: &DatabaseConnection) -> Result<Option<String>, ServiceError> {
    if users::count(db).await? > 0 {
        return Ok(None);
    }
    let password = random_password();
    users::create(db, "admin", &password, Role::Admin, None).await?;
    Ok(Some(password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    fn opts(days: u32, per_day: u32) -> SeedOptions {
        SeedOptions { days, campaigns: 12, events_per_day: per_day, seed: 7, end: Utc.with_ymd_and_hms(2026, 3, 1, 15, 30, 0).unwrap() }
    }

    fn shapes() -> Vec<(f64, Shape)> {
        SPECS.iter().map(|s| (s.weight, s.role)).collect()
    }

    #[test]
    fn ordered_bounded_and_deterministic() {
        let o = opts(30, 200);
        let a = plan(&shapes(), &o, chrono_tz::Asia::Shanghai);
        assert_eq!(a, plan(&shapes(), &o, chrono_tz::Asia::Shanghai));
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at), "time order");
        assert!(a.iter().all(|p| p.at <= o.end.timestamp()));
        // Every unsubscribe follows its follower's subscribe; scans come from followers only.
        let mut following = std::collections::HashSet::new();
        for p in &a {
            match p.what {
                What::CodeSubscribe(_) | What::Organic => assert!(following.insert(p.follower)),
                What::Scan(_) => assert!(following.contains(&p.follower)),
                What::Unsubscribe => assert!(following.remove(&p.follower)),
            }
        }
        assert_ne!(a, plan(&shapes(), &SeedOptions { seed: 8, ..o }, chrono_tz::Asia::Shanghai));
    }

    #[test]
    fn rhythm_peaks_shares_and_launch() {
        let o = opts(90, 400);
        let tz = chrono_tz::Asia::Shanghai;
        let p = plan(&shapes(), &o, tz);
        let local = |t: i64| DateTime::from_timestamp(t, 0).unwrap().with_timezone(&tz);
        let arrivals: Vec<&Planned> = p.iter().filter(|e| e.what != What::Unsubscribe).collect();
        // Weekend days are lighter than weekdays.
        let mut per_day: std::collections::BTreeMap<NaiveDate, u32> = Default::default();
        for e in &arrivals {
            *per_day.entry(local(e.at).date_naive()).or_default() += 1;
        }
        let avg = |weekend: bool| {
            let v: Vec<u32> =
                per_day.iter().filter(|(d, _)| matches!(d.weekday(), Weekday::Sat | Weekday::Sun) == weekend).map(|(_, n)| *n).collect();
            f64::from(v.iter().sum::<u32>()) / v.len() as f64
        };
        assert!(avg(true) < avg(false) * 0.75, "weekends {} weekdays {}", avg(true), avg(false));
        // Lunch and evening are the busiest hours.
        let mut per_hour = [0u32; 24];
        for e in &arrivals {
            per_hour[local(e.at).hour() as usize] += 1;
        }
        let mut order: Vec<usize> = (0..24).collect();
        order.sort_by_key(|h| Reverse(per_hour[*h]));
        assert_eq!(
            {
                let mut top = order[..2].to_vec();
                top.sort();
                top
            },
            vec![12, 20],
            "{per_hour:?}"
        );
        // Shares: new followers through codes, organic follows, unsubscribes.
        let count = |f: &dyn Fn(&What) -> bool| p.iter().filter(|e| f(&e.what)).count() as f64;
        let code_subs = count(&|w| matches!(w, What::CodeSubscribe(_)));
        let scans = count(&|w| matches!(w, What::Scan(_))) + code_subs;
        let organic = count(&|w| *w == What::Organic);
        let unsubs = count(&|w| *w == What::Unsubscribe);
        assert!((0.55..0.7).contains(&(code_subs / scans)), "{code_subs} of {scans}");
        assert!((0.12..0.18).contains(&(organic / (scans + organic))));
        assert!((0.04..0.09).contains(&(unsubs / (code_subs + organic))), "{unsubs}");
        // The launch campaign (index 2) starts on day 30 with a spike.
        let launch_day = o.end.with_timezone(&tz).date_naive() - Days::new(89) + Days::new(30);
        let launch: Vec<NaiveDate> =
            p.iter().filter(|e| matches!(e.what, What::CodeSubscribe(2) | What::Scan(2))).map(|e| local(e.at).date_naive()).collect();
        assert_eq!(launch.iter().min(), Some(&launch_day));
        let on = |d: NaiveDate| launch.iter().filter(|x| **x == d).count();
        assert!(on(launch_day + Days::new(1)) > 2 * on(launch_day + Days::new(10)).max(on(launch_day + Days::new(11))));
    }
}
