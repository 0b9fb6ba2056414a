//! The command line's arguments: the subcommands and their options as clap parses them (and
//! as `--help` shows them).

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Sceneboard: where a WeChat Official Account's followers come from.
#[derive(Parser, Debug)]
#[command(name = "sceneboard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run migrations, then serve the app and the callback route (the default).
    Serve,
    /// Run pending migrations and exit.
    Migrate,
    /// Seed a sandbox account bound to the built-in simulator, campaigns and 90 days of
    /// events, then serve.
    Demo(DemoArgs),
    /// Manage dashboard users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage WeChat accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Manage campaigns.
    Campaign {
        #[command(subcommand)]
        command: CampaignCommand,
    },
    /// Manage read-only API keys (`/api/v1` and the CSV exports).
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Re-encrypt every stored secret under a new secret key, all or nothing. Stop every
    /// instance first; everyone signs in again afterwards.
    RotateKey {
        /// The new key inline (base64 of 32 bytes): visible in `ps` and shell history, so it
        /// is warned about; `-` reads it from standard input. Prefer --new-key-file or
        /// SCENEBOARD_NEW_KEY. None of them: a random key is generated.
        #[arg(long, conflicts_with = "new_key_file")]
        new_key: Option<String>,
        /// A file holding the new key (`-`: the first line of standard input).
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
    /// Copy the SQLite database to FILE, consistently, while the server keeps serving
    /// (PostgreSQL: use pg_dump).
    Backup {
        /// The backup file to write.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the SQLite database (DATABASE_URL) with a backup. Stop the server first.
    Restore {
        /// The backup file to restore.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace the database if it exists.
        #[arg(long)]
        force: bool,
    },
    /// A local stand-in for api.weixin.qq.com that can also push signed events to a callback.
    WechatSim {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:3100")]
        addr: SocketAddr,
        /// Callback URL to push events to.
        #[arg(long)]
        callback: Option<String>,
        /// The callback Token inline (warned about: `ps` shows it); prefer --token-file or
        /// SCENEBOARD_ACCOUNT_TOKEN.
        #[arg(long, conflicts_with = "token_file")]
        token: Option<String>,
        /// A file holding the callback Token (`-`: a line of standard input).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// EncodingAESKey inline (43 characters; pushes are then encrypted, safe mode); prefer
        /// --aes-key-file or SCENEBOARD_ACCOUNT_AES_KEY.
        #[arg(long, conflicts_with = "aes_key_file")]
        aes_key: Option<String>,
        /// A file holding the EncodingAESKey (`-`: a line of standard input, after the Token's).
        #[arg(long, value_name = "FILE")]
        aes_key_file: Option<PathBuf>,
        /// The simulated account's AppID.
        #[arg(long)]
        app_id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key and print it, alone, on standard output: it is shown this once (only its
    /// hash is kept), so store it now.
    Add {
        #[arg(long)]
        name: String,
        /// Only this account (its AppID); omit for every account.
        #[arg(long)]
        app_id: Option<String>,
        /// Days until the key stops working (1-3650); omit for a key that does not expire.
        #[arg(long)]
        expires_days: Option<String>,
    },
    /// List every key (never a secret): id, name, hint, scope, created, expires, last used, state.
    List,
    /// Revoke key ID: its next request is refused.
    Revoke { id: i32 },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from the first line of standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["admin", "staff"])]
        role: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Add a WeChat account; the AppSecret is read from the first line of standard input.
    /// Prints the callback URL to enter in WeChat's server configuration. The Token (required)
    /// and the EncodingAESKey come from --token-file / --aes-key-file (`-`: the next lines of
    /// standard input, after the AppSecret) or SCENEBOARD_ACCOUNT_TOKEN /
    /// SCENEBOARD_ACCOUNT_AES_KEY.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        app_id: String,
        /// The callback Token (3-32 letters or digits) inline: warned about, `ps` shows it.
        #[arg(long, conflicts_with = "token_file")]
        token: Option<String>,
        /// A file holding the callback Token (`-`: the line after the AppSecret on stdin).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// EncodingAESKey (43 characters, needed for compat and safe modes) inline: warned about.
        #[arg(long, conflicts_with = "aes_key_file")]
        aes_key: Option<String>,
        /// A file holding the EncodingAESKey (`-`: the next line of stdin, after the Token's).
        #[arg(long, value_name = "FILE")]
        aes_key_file: Option<PathBuf>,
        #[arg(long, value_parser = ["plain", "compat", "safe"], default_value = "plain")]
        mode: String,
        /// API base URL (default: WeChat's); point it at `wechat-sim` for a sandbox.
        #[arg(long)]
        api_base: Option<String>,
        /// IANA time zone of the account's charts (default: SCENEBOARD_TIMEZONE).
        #[arg(long)]
        timezone: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CampaignCommand {
    /// Create a campaign and issue its code; prints the campaign id.
    Add {
        #[arg(long)]
        app_id: String,
        #[arg(long)]
        name: String,
        /// A number 1-100000 or a string of 1-64 characters; omit to assign a number.
        #[arg(long)]
        scene: Option<String>,
        #[arg(long, value_parser = ["permanent", "temporary"])]
        kind: String,
        /// Days a temporary code stays valid (1-30).
        #[arg(long)]
        expire_days: Option<i32>,
        #[arg(long)]
        group: Option<String>,
    },
    /// Create many campaigns from `name,scene,kind[,group,expire_days]` rows, all or none;
    /// prints the new ids, one per line.
    Import {
        #[arg(long)]
        app_id: String,
        /// The CSV file (UTF-8; a header row is optional).
        file: std::path::PathBuf,
    },
}

/// Size of the demo data (the defaults are what a new user sees; larger sizes are for
/// benchmarks, e.g. `--days 365 --campaigns 200 --events 10000000 --seed-only`).
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Days of history, ending now.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Campaigns to create.
    #[arg(long, default_value_t = 12)]
    pub campaigns: usize,
    /// About how many events to generate in all (sets the daily rate; the report says how
    /// many were stored). Default: about 300 scans and follows on a weekday.
    #[arg(long)]
    pub events: Option<u64>,
    /// Seed the data and exit instead of serving.
    #[arg(long)]
    pub seed_only: bool,
}
