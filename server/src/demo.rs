//! `sceneboard demo`: the app with something to look at, in one command.
//!
//! Starts the WeChat simulator in-process, binds the sandbox account to it (created on the
//! first run, pointed at the simulator's new port on later runs), seeds campaigns and 90 days
//! of events once, makes sure someone can sign in, then serves. Scans made on the simulator's
//! page are pushed to this server's callback like WeChat would, so they show up live.

use crate::cli::DemoArgs;
use crate::config::Config;
use crate::startup;
use anyhow::Context;
use service::accounts::{self, AccountInput};
use service::demo::{self, SeedOptions};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use wechat::EncryptMode;
use wechat::sim::{SimApp, SimConfig};

/// The callback Token of a newly created sandbox account.
const SANDBOX_TOKEN: &str = "sandboxtoken";

/// A service error as one line for the command line.
fn words(e: service::ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Where the simulator reaches this server: loopback when listening on every interface.
fn local_base(addr: SocketAddr) -> String {
    let ip: IpAddr = if addr.ip().is_unspecified() {
        if addr.is_ipv4() { std::net::Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() }
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Runs `sceneboard demo`.
pub async fn run(cfg: Config, args: DemoArgs) -> anyhow::Result<()> {
    let app = startup::app_state(&cfg).await?;
    // Bound first: a taken port fails now, not after the seeding.
    let listener = startup::bind(&cfg).await?;
    let base = local_base(listener.local_addr().context("cannot read the listening address")?);

    // The simulator signs pushes the way the stored account expects (its Token and mode may
    // have been changed in Settings since the first run).
    let sandbox = SimApp::sandbox();
    let existing = accounts::find_by_app_id(&app.db, &sandbox.app_id).await.map_err(words)?;
    let token = match &existing {
        Some(m) => accounts::callback_token(&app.keys, m).map_err(words)?,
        None => SANDBOX_TOKEN.to_owned(),
    };
    let mut sim_app = sandbox.clone().with_callback(format!("{base}/wechat/callback/{}", sandbox.app_id), token.clone());
    if let Some(m) = &existing {
        let mode = m.message_mode.parse::<EncryptMode>().unwrap_or(EncryptMode::Plain);
        if mode != EncryptMode::Plain
            && let Some(key) = accounts::aes_key(&app, m).map_err(words)?
        {
            sim_app = sim_app.with_encryption(key, mode);
        }
    }
    let sim = wechat::sim::spawn(SimConfig::with_apps(vec![sim_app])).await.context("cannot start the WeChat simulator")?;

    let account_id = match existing {
        None => {
            let input = AccountInput {
                name: sandbox.name.clone(),
                app_id: sandbox.app_id.clone(),
                app_secret: Some(sandbox.secret.clone()),
                token,
                aes_key: None,
                message_mode: "plain".into(),
                api_base_url: Some(sim.base_url()),
                timezone: None,
            };
            accounts::create(&app, input, None).await.map_err(words)?.id
        }
        Some(m) => {
            // The simulator's port changes per run, and a new API base takes the AppSecret
            // again: the simulator's own (the only one it accepts). A blank AES key keeps the stored one.
            let input = AccountInput {
                name: m.name.clone(),
                app_id: m.app_id.clone(),
                app_secret: Some(sandbox.secret.clone()),
                token,
                aes_key: None,
                message_mode: m.message_mode.clone(),
                api_base_url: Some(sim.base_url()),
                timezone: Some(m.timezone.clone()),
            };
            accounts::update(&app, m.id, input, None).await.map_err(words)?.id
        }
    };
    let model = accounts::model(&app.db, account_id).await.map_err(words)?;
    let api = accounts::api_client(&app, &model).map_err(words)?;

    if demo::has_campaigns(&app.db, account_id).await.map_err(words)? {
        // Seeded on an earlier run; the new simulator only needs the codes, for its page.
        demo::reissue_in_simulator(&app, api.as_ref(), account_id).await.map_err(words)?;
        println!("Demo data already present; not seeding again.");
    } else {
        let mut opts = SeedOptions { days: args.days.max(1), campaigns: args.campaigns.max(1), ..SeedOptions::default() };
        if let Some(events) = args.events {
            opts.events_per_day = demo::events_per_day_for(events, opts.days);
        }
        println!("Seeding demo data: {} campaigns, {} days of events…", opts.campaigns, opts.days);
        let started = Instant::now();
        let report = demo::seed(&app, api.as_ref(), account_id, opts).await.map_err(words).context("seeding the demo failed")?;
        println!("Seeded {} campaigns and {} events in {:.1} s.", report.campaigns, report.events, started.elapsed().as_secs_f64());
    }

    let password = demo::ensure_admin(&app.db).await.map_err(words)?;
    if args.seed_only {
        if let Some(password) = password {
            println!("Sign in as admin, password {password}");
        }
        return Ok(());
    }
    println!();
    println!("Sceneboard demo: open {}", cfg.public_url);
    if let Some(password) = password {
        // Shown once, here only: it is never logged.
        println!("  sign in as admin, password {password}");
    }
    println!("  WeChat simulator (scan the campaigns' codes): {}/", sim.base_url());
    println!("Press Ctrl-C to stop.");
    // `sim` lives until the server stops (dropping the handle stops the simulator).
    let served = startup::serve_with(&cfg, app, startup::Schema::Current, listener).await;
    drop(sim);
    served
}
