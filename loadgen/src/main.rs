//! `sceneboard-loadgen`: the command line. See the crate documentation and BENCHMARKS.md
//! ("Ingest ceiling (load generator)").
//!
//! Exit status: 0 when the run finished (and, with `--database-url`, nothing acknowledged was
//! lost and nothing doubled), 1 when the storage check failed, 2 on a usage or setup error.

use clap::Parser;
use loadgen::db::Counter;
use loadgen::plan::{Mix, PlanConfig, Planner};
use loadgen::push::Signer;
use loadgen::report::{StorageCheck, Summary};
use loadgen::run::{Limit, RunConfig, run};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Sends many distinct, signed WeChat event pushes to Sceneboard's callback and reports
/// throughput, latency and (with --database-url) lost and doubled events.
#[derive(Parser, Debug)]
#[command(name = "sceneboard-loadgen", version, about)]
struct Args {
    /// Server base URL (http://127.0.0.1:3000) or full callback URL; repeat to spread the
    /// connections round-robin over several instances.
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// The account's AppID.
    #[arg(long)]
    app_id: String,
    /// The account's callback Token.
    #[arg(long)]
    token: String,
    /// EncodingAESKey (43 characters): send in safe mode (AES, msg_signature).
    #[arg(long)]
    aes_key: Option<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Requests to send, retries included (default 10000 unless --duration).
    #[arg(long, conflicts_with = "duration")]
    requests: Option<u64>,
    /// Send for this long instead (seconds, e.g. 30 or 30s).
    #[arg(long, value_parser = parse_secs)]
    duration: Option<Duration>,
    /// Scenes the codes are spread over (numbers scene-base .. scene-base+scenes).
    #[arg(long, default_value_t = 300)]
    scenes: u32,
    /// First scene number.
    #[arg(long, default_value_t = 1)]
    scene_base: u32,
    /// Share of distinct pushes sent again, half at once (racing) and half later (0-1).
    #[arg(long, default_value_t = 0.1)]
    retry_share: f64,
    /// Seed of the plan (same seed, same pushes).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CreateTime of the first push (unix seconds); default 30 days ago, so the run's window
    /// never meets live traffic stamped now.
    #[arg(long)]
    time_base: Option<i64>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// The server's database (sqlite://... or postgres://...): after the run, count the
    /// stored events in the run's window against the distinct pushes sent.
    #[arg(long)]
    database_url: Option<String>,
    /// With --database-url: while acknowledged pushes are missing after the run, count again
    /// (every 250 ms) for up to this long (seconds) — e.g. pushes an instance spooled are
    /// still being replayed. The report says how long it took.
    #[arg(long, value_parser = parse_secs)]
    settle: Option<Duration>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let n = s.trim().trim_end_matches('s');
    n.parse::<f64>().ok().filter(|v| *v > 0.0).map(Duration::from_secs_f64).ok_or_else(|| format!("not a number of seconds: {s}"))
}

/// The callback URL for `url` (a base URL gets `/wechat/callback/{app_id}`).
fn callback_url(url: &str, app_id: &str) -> String {
    if url.contains("/wechat/callback/") { url.to_owned() } else { format!("{}/wechat/callback/{app_id}", url.trim_end_matches('/')) }
}

#[tokio::main]
async fn main() -> ExitCode {
    match real_main(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn real_main(a: Args) -> anyhow::Result<bool> {
    anyhow::ensure!(a.scenes > 0, "--scenes must be at least 1");
    anyhow::ensure!((0.0..=1.0).contains(&a.retry_share), "--retry-share must be between 0 and 1");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let time_base = a.time_base.unwrap_or(now - 30 * 86_400);
    let limit = match (a.requests, a.duration) {
        (_, Some(d)) => Limit::Duration(d),
        (n, None) => Limit::Requests(n.unwrap_or(10_000)),
    };
    let signer = Arc::new(Signer::new(&a.app_id, &a.token, a.aes_key.as_deref())?);
    let mode = if signer.is_safe_mode() { "safe" } else { "plain" };
    let urls: Vec<String> = a.urls.iter().map(|u| callback_url(u, &a.app_id)).collect();
    let plan = PlanConfig {
        seed: a.seed,
        scenes: a.scenes,
        scene_base: a.scene_base,
        mix: Mix::default(),
        retry_share: a.retry_share,
        time_base,
        // Twice the connections: a follower's later events leave after their subscribe.
        lag: (a.connections as u64 * 2).max(16),
    };
    // The window the storage check covers: the run's CreateTimes, never reaching the present.
    let check_hi = match limit {
        Limit::Requests(n) => (time_base + n as i64 - 1).min(now - 1),
        Limit::Duration(_) => now - 1,
    };
    let counter = match &a.database_url {
        Some(url) => {
            let c = Counter::connect(url, &a.app_id).await?;
            let before = c.stored((time_base, check_hi)).await?;
            Some((c, before))
        }
        None => None,
    };
    eprintln!(
        "sceneboard-loadgen: {} {mode}-mode pushes to {} URL(s) over {} connections; seed {}, {} scenes, retry share {}, CreateTime from {time_base}",
        match limit {
            Limit::Requests(n) => format!("{n} requests of"),
            Limit::Duration(d) => format!("{:.0} s of", d.as_secs_f64()),
        },
        urls.len(),
        a.connections,
        a.seed,
        a.scenes,
        a.retry_share
    );
    let cfg = RunConfig { urls, connections: a.connections, limit, timeout: Duration::from_secs_f64(a.timeout.max(0.1)) };
    let out = run(&cfg, signer, Planner::new(plan)).await?;
    let mut summary = Summary::new(mode, a.connections, &out.tally, &out.counts, out.elapsed);
    if let (Some((c, before)), Some((lo, hi))) = (&counter, out.window) {
        if hi > check_hi {
            eprintln!("warning: the run's CreateTimes reach {hi}, beyond the checked window's end {check_hi}: lost is overstated");
        }
        let settle_start = std::time::Instant::now();
        let settle = a.settle.unwrap_or(Duration::ZERO);
        loop {
            let after = c.stored((lo.min(time_base), check_hi)).await?;
            let check = StorageCheck::new(&out.counts, summary.distinct_acked, before, &after);
            let waiting = check.lost_acknowledged > 0 && settle_start.elapsed() < settle;
            summary.storage = Some(check);
            if !waiting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        summary.settle_s = settle_start.elapsed().as_secs_f64();
    }
    print!("{}", summary.render());
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(summary.ok())
}
