//! Sending: `connections` tasks share one planner and one pooled HTTP client; task `k` posts
//! to URL `k mod n`, so connections are spread round-robin over several instances. Each task
//! keeps its own tally; they are merged at the end.

use crate::plan::{PlanCounts, Planner};
use crate::push::Signer;
use crate::report::{Answer, Tally};
use rand::Rng;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// After this many requests (first tries and retries).
    Requests(u64),
    /// After this long.
    Duration(Duration),
}

/// How to send.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Full callback URLs (`.../wechat/callback/{app_id}`), used round-robin by connection.
    pub urls: Vec<String>,
    /// Concurrent connections (each one request at a time).
    pub connections: usize,
    /// When to stop.
    pub limit: Limit,
    /// Per-request timeout (WeChat waits 5 s).
    pub timeout: Duration,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// Every request's answer and latency.
    pub tally: Tally,
    /// What the planner handed out.
    pub counts: PlanCounts,
    /// The CreateTime window of the distinct pushes.
    pub window: Option<(i64, i64)>,
    /// Wall time of the sending phase.
    pub elapsed: Duration,
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Sends until the limit; fails only if the client cannot be built or a push cannot be signed.
pub async fn run(cfg: &RunConfig, signer: Arc<Signer>, planner: Planner) -> anyhow::Result<Outcome> {
    anyhow::ensure!(!cfg.urls.is_empty(), "no URL to send to");
    let connections = cfg.connections.max(1);
    let http = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .user_agent("Mozilla/4.0")
        .build()?;
    let planner = Arc::new(Mutex::new(planner));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..connections {
        let (http, planner, signer) = (http.clone(), planner.clone(), signer.clone());
        let url = cfg.urls[k % cfg.urls.len()].clone();
        let limit = cfg.limit;
        tasks.spawn(async move {
            let mut tally = Tally::new();
            loop {
                let send = {
                    let mut p = planner.lock().unwrap_or_else(PoisonError::into_inner);
                    let done = match limit {
                        Limit::Requests(n) => p.counts().sends() >= n,
                        Limit::Duration(d) => started.elapsed() >= d,
                    };
                    if done {
                        break;
                    }
                    p.next_send()
                };
                let nonce = rand::thread_rng().gen_range(100_000_000u32..2_000_000_000);
                let req = signer.request(&send.push, unix_now(), nonce)?;
                let t0 = Instant::now();
                let sent = http.post(&url).query(&req.query).header(reqwest::header::CONTENT_TYPE, "text/xml").body(req.body).send().await;
                let answer = match sent {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        // Read the answer to the end so the connection goes back to the pool.
                        match res.bytes().await {
                            Ok(_) => Answer::Status(status),
                            Err(e) if e.is_timeout() => Answer::Timeout,
                            Err(_) => Answer::Transport,
                        }
                    }
                    Err(e) if e.is_timeout() => Answer::Timeout,
                    Err(e) if e.is_connect() => Answer::Connect,
                    Err(_) => Answer::Transport,
                };
                tally.record(send.push.index, answer, t0.elapsed());
            }
            anyhow::Ok(tally)
        });
    }
    let mut tally = Tally::new();
    while let Some(done) = tasks.join_next().await {
        tally.merge(done??);
    }
    let elapsed = started.elapsed();
    let p = planner.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(Outcome { tally, counts: p.counts().clone(), window: p.window(), elapsed })
}
