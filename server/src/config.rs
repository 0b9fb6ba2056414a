//! Configuration: one typed struct read at boot from the environment (docs/contract.md), with an
//! optional `sceneboard.toml` in the working directory that may set the same keys. The
//! environment wins over the file. Each secret may instead name a file that holds it
//! (`DATABASE_URL_FILE`, …), as systemd credentials and container secrets are handed over.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything the server needs to start.
#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite://PATH?mode=rwc` or `postgres://...`.
    pub database_url: String,
    /// `SCENEBOARD_ADDR`: where the HTTP server listens.
    pub addr: SocketAddr,
    /// `SCENEBOARD_DATA_DIR`: SQLite file, spool of unstored events, generated secret key.
    pub data_dir: PathBuf,
    /// `SCENEBOARD_SECRET_KEY`: base64 of 32 bytes; generated into the data dir when unset.
    pub secret_key: Option<String>,
    /// `SCENEBOARD_PUBLIC_URL`: base URL shown to admins for WeChat's server configuration.
    pub public_url: String,
    /// `SCENEBOARD_TIMEZONE`: default IANA time zone of charts and exports.
    pub timezone: String,
    /// `SCENEBOARD_METRICS_TOKEN`: the bearer token `/metrics` requires; open when unset.
    pub metrics_token: Option<String>,
    /// `SCENEBOARD_CALLBACK_MAX_SKEW`: seconds a push's `timestamp` may be from our clock
    /// (0 turns the window off).
    pub callback_max_skew: u64,
    /// `SCENEBOARD_SPOOL_MAX_MB`: most MiB of pushes the spool holds during an outage.
    pub spool_max_bytes: u64,
    /// `SCENEBOARD_TRUSTED_PROXIES`: comma-separated addresses or CIDR blocks of the reverse
    /// proxies whose `X-Forwarded-For` names the client; empty when unset.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `LEPTOS_SITE_ROOT`: a folder to serve the compiled site (`pkg/`, the favicon) from
    /// instead of the copy built into the binary (development); `None` when unset.
    pub site_root: Option<String>,
    /// `SCENEBOARD_FONT_DIR`: a folder of fonts for PNG charts, besides the system's.
    pub font_dir: Option<PathBuf>,
    /// `SCENEBOARD_ADMIN_PASSWORD_FILE`'s content: the password of the user `admin` that
    /// `serve` creates when the database has no users yet.
    pub admin_password: Option<String>,
    /// `SCENEBOARD_SMTP_URL` (or `_FILE`), `SCENEBOARD_SMTP_FROM` and `SCENEBOARD_SMTP_CA`: the
    /// mail server digests are sent through; `None` when no URL is set.
    pub mail: Option<service::digests::MailConfig>,
}

/// `Debug` that never prints the secret key.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<set>"))
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<set>"))
            .field("public_url", &self.public_url)
            .field("timezone", &self.timezone)
            .field("callback_max_skew", &self.callback_max_skew)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("site_root", &self.site_root)
            .field("font_dir", &self.font_dir)
            .field("admin_password", &self.admin_password.as_ref().map(|_| "<set>"))
            .field("mail", &self.mail)
            .finish()
    }
}

/// A setting that cannot be used, named so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key} is invalid: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("cannot read sceneboard.toml: {0}")]
    File(String),
}

/// The recognised keys, in the environment and in `sceneboard.toml`.
pub const KEYS: &[&str] = &[
    "DATABASE_URL",
    "SCENEBOARD_ADDR",
    "SCENEBOARD_DATA_DIR",
    "SCENEBOARD_SECRET_KEY",
    "SCENEBOARD_PUBLIC_URL",
    "SCENEBOARD_TIMEZONE",
    "SCENEBOARD_METRICS_TOKEN",
    "SCENEBOARD_CALLBACK_MAX_SKEW",
    "SCENEBOARD_SPOOL_MAX_MB",
    "SCENEBOARD_TRUSTED_PROXIES",
    "LEPTOS_SITE_ROOT",
    "SCENEBOARD_FONT_DIR",
    "SCENEBOARD_SMTP_URL",
    "SCENEBOARD_SMTP_FROM",
    "SCENEBOARD_SMTP_CA",
    "DATABASE_URL_FILE",
    "SCENEBOARD_SECRET_KEY_FILE",
    "SCENEBOARD_METRICS_TOKEN_FILE",
    "SCENEBOARD_ADMIN_PASSWORD_FILE",
    "SCENEBOARD_SMTP_URL_FILE",
];

/// The secrets that may come from a file instead: `(KEY, KEY_FILE)`. The admin password has
/// only the file form, so it never sits in an environment that `/proc` or a crash dump shows.
const FROM_FILE: &[(&str, &str)] = &[
    ("DATABASE_URL", "DATABASE_URL_FILE"),
    ("SCENEBOARD_SECRET_KEY", "SCENEBOARD_SECRET_KEY_FILE"),
    ("SCENEBOARD_METRICS_TOKEN", "SCENEBOARD_METRICS_TOKEN_FILE"),
    ("SCENEBOARD_SMTP_URL", "SCENEBOARD_SMTP_URL_FILE"),
];

impl Config {
    /// Read the process environment and `./sceneboard.toml` (if present).
    pub fn load() -> Result<Self, ConfigError> {
        let file = read_file(Path::new("sceneboard.toml"))?;
        let env: HashMap<String, String> = KEYS.iter().filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v))).collect();
        Self::from_sources(&env, &file)
    }

    /// Build from explicit sources (environment first, then file); used by tests.
    pub fn from_sources(env: &HashMap<String, String>, file: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut secrets = HashMap::new();
        for &(key, file_key) in FROM_FILE {
            if let Some(value) = secret(env, file, key, file_key)? {
                secrets.insert(key, value);
            }
        }
        let admin_password = match setting(env, file, "SCENEBOARD_ADMIN_PASSWORD_FILE") {
            Some(path) => Some(read_secret_file("SCENEBOARD_ADMIN_PASSWORD_FILE", &path)?),
            None => None,
        };
        let get = |k: &str| secrets.get(k).cloned().or_else(|| setting(env, file, k));
        let addr_text = get("SCENEBOARD_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
        let addr: SocketAddr = addr_text.parse().map_err(|_| ConfigError::Invalid {
            key: "SCENEBOARD_ADDR",
            reason: format!("'{addr_text}' is not an address like 127.0.0.1:3000"),
        })?;
        let data_dir = PathBuf::from(get("SCENEBOARD_DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = get("DATABASE_URL").unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("sceneboard.db").display()));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid { key: "DATABASE_URL", reason: "must start with sqlite:// or postgres://".into() });
        }
        let public_url = get("SCENEBOARD_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}"));
        match url::Url::parse(&public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(ConfigError::Invalid { key: "SCENEBOARD_PUBLIC_URL", reason: format!("'{public_url}' is not an http(s) URL") });
            }
        }
        let timezone = get("SCENEBOARD_TIMEZONE").unwrap_or_else(|| "Asia/Shanghai".into());
        if timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::Invalid {
                key: "SCENEBOARD_TIMEZONE",
                reason: format!("'{timezone}' is not an IANA time zone such as Asia/Shanghai"),
            });
        }
        let callback_max_skew =
            number(&get, "SCENEBOARD_CALLBACK_MAX_SKEW", service::ingest::DEFAULT_MAX_SKEW, "seconds, 0 to turn the window off")?;
        let spool_mb = number(&get, "SCENEBOARD_SPOOL_MAX_MB", service::ingest::DEFAULT_SPOOL_MAX_BYTES >> 20, "MiB, at least 1")?;
        if spool_mb == 0 {
            return Err(ConfigError::Invalid { key: "SCENEBOARD_SPOOL_MAX_MB", reason: "must be at least 1 (MiB)".into() });
        }
        let trusted_proxies = crate::login_limit::client::parse_proxies(&get("SCENEBOARD_TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|reason| ConfigError::Invalid { key: "SCENEBOARD_TRUSTED_PROXIES", reason })?;
        let mail = mail(&get)?;
        Ok(Config {
            mail,
            callback_max_skew,
            spool_max_bytes: spool_mb.saturating_mul(1 << 20),
            database_url,
            addr,
            data_dir,
            secret_key: get("SCENEBOARD_SECRET_KEY"),
            metrics_token: get("SCENEBOARD_METRICS_TOKEN"),
            public_url: public_url.trim_end_matches('/').to_owned(),
            timezone,
            trusted_proxies,
            site_root: get("LEPTOS_SITE_ROOT"),
            font_dir: get("SCENEBOARD_FONT_DIR").map(PathBuf::from),
            admin_password,
        })
    }

    /// Cookies get `Secure` when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The mail server, when `SCENEBOARD_SMTP_URL` is set: it then needs a sender, and the CA
/// file, when named, must hold a certificate.
fn mail(get: &impl Fn(&str) -> Option<String>) -> Result<Option<service::digests::MailConfig>, ConfigError> {
    let Some(url) = get("SCENEBOARD_SMTP_URL") else { return Ok(None) };
    let invalid = |key, reason| ConfigError::Invalid { key, reason };
    let from = get("SCENEBOARD_SMTP_FROM").ok_or_else(|| {
        invalid("SCENEBOARD_SMTP_FROM", "must be set with SCENEBOARD_SMTP_URL: the sender, as 'Sceneboard <digest@example.com>'".into())
    })?;
    let ca = match get("SCENEBOARD_SMTP_CA") {
        Some(path) => Some(std::fs::read(&path).map_err(|e| invalid("SCENEBOARD_SMTP_CA", format!("cannot read {path}: {e}")))?),
        None => None,
    };
    service::digests::MailConfig::parse(&url, &from, ca).map(Some).map_err(|reason| invalid("SCENEBOARD_SMTP_URL", reason))
}

/// `key` as one source gives it, trimmed; blank counts as unset.
fn given(source: &HashMap<String, String>, key: &str) -> Option<String> {
    source.get(key).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `key` from the environment, else from the file.
fn setting(env: &HashMap<String, String>, file: &HashMap<String, String>, key: &str) -> Option<String> {
    given(env, key).or_else(|| given(file, key))
}

/// A secret given as `key` or as `file_key` (the path of a file that holds it). The source
/// that names either wins whole (the environment over the file), so `DATABASE_URL_FILE` in
/// the environment overrides a `DATABASE_URL` in `sceneboard.toml`; both in one source is a
/// mistake worth stopping for.
fn secret(
    env: &HashMap<String, String>,
    file: &HashMap<String, String>,
    key: &'static str,
    file_key: &'static str,
) -> Result<Option<String>, ConfigError> {
    for source in [env, file] {
        match (given(source, key), given(source, file_key)) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid { key: file_key, reason: format!("set {key} or {file_key}, not both") });
            }
            (Some(value), None) => return Ok(Some(value)),
            (None, Some(path)) => return read_secret_file(file_key, &path).map(Some),
            (None, None) => {}
        }
    }
    Ok(None)
}

/// The secret in the file at `path`, without surrounding whitespace (the trailing newline an
/// editor or `echo` adds); a file that cannot be read or holds nothing is named.
fn read_secret_file(key: &'static str, path: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid { key, reason: format!("cannot read {path}: {e}") })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(ConfigError::Invalid { key, reason: format!("{path} is empty") });
    }
    Ok(value.to_owned())
}

/// A whole number setting, `default` when unset.
fn number(get: &impl Fn(&str) -> Option<String>, key: &'static str, default: u64, what: &str) -> Result<u64, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| ConfigError::Invalid { key, reason: format!("'{text}' is not a whole number ({what})") }),
    }
}

fn read_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(ConfigError::File(e.to_string())),
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::File(e.message().to_owned()))?;
    let mut out = HashMap::new();
    for (k, v) in table {
        if !KEYS.contains(&k.as_str()) {
            return Err(ConfigError::File(format!("unknown key {k} (known: {})", KEYS.join(", "))));
        }
        let v = match v {
            toml::Value::String(s) => s,
            other => other.to_string(),
        };
        out.insert(k, v);
    }
    Ok(out)
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::from_sources(&HashMap::new(), &HashMap::new()).unwrap();
        assert_eq!(c.database_url, "sqlite://data/sceneboard.db?mode=rwc");
        assert_eq!(c.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.public_url, "http://127.0.0.1:3000");
        assert_eq!(c.timezone, "Asia/Shanghai");
        assert!(!c.secure_cookies());
        assert_eq!((c.callback_max_skew, c.spool_max_bytes), (300, 1 << 30));
        let c = Config::from_sources(&env(&[("SCENEBOARD_CALLBACK_MAX_SKEW", "0"), ("SCENEBOARD_SPOOL_MAX_MB", "2")]), &HashMap::new())
            .unwrap();
        assert_eq!((c.callback_max_skew, c.spool_max_bytes), (0, 2 << 20));
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn environment_wins_over_file() {
        let file = env(&[("SCENEBOARD_ADDR", "0.0.0.0:8080"), ("SCENEBOARD_TIMEZONE", "Europe/Berlin")]);
        let c = Config::from_sources(&env(&[("SCENEBOARD_ADDR", "127.0.0.1:9000")]), &file).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:9000");
        assert_eq!(c.timezone, "Europe/Berlin");
    }

    #[test]
    fn the_site_and_the_fonts_come_from_either_source() {
        let c = Config::from_sources(&HashMap::new(), &HashMap::new()).unwrap();
        assert_eq!((c.site_root, c.font_dir), (None, None));
        let file = env(&[("LEPTOS_SITE_ROOT", "/srv/site"), ("SCENEBOARD_FONT_DIR", "/srv/fonts")]);
        let c = Config::from_sources(&HashMap::new(), &file).unwrap();
        assert_eq!((c.site_root.as_deref(), c.font_dir), (Some("/srv/site"), Some(PathBuf::from("/srv/fonts"))));
        let c = Config::from_sources(&env(&[("LEPTOS_SITE_ROOT", "/opt/site")]), &file).unwrap();
        assert_eq!(c.site_root.as_deref(), Some("/opt/site"));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (k, v) in [
            ("SCENEBOARD_ADDR", "nowhere"),
            ("SCENEBOARD_TIMEZONE", "Mars/Olympus"),
            ("DATABASE_URL", "mysql://x"),
            ("SCENEBOARD_PUBLIC_URL", "ftp://x"),
            ("SCENEBOARD_CALLBACK_MAX_SKEW", "-1"),
            ("SCENEBOARD_CALLBACK_MAX_SKEW", "5 minutes"),
            ("SCENEBOARD_SPOOL_MAX_MB", "0"),
            ("SCENEBOARD_SPOOL_MAX_MB", "1G"),
            ("SCENEBOARD_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/33"),
        ] {
            let err = Config::from_sources(&env(&[(k, v)]), &HashMap::new()).unwrap_err().to_string();
            assert!(err.starts_with(k), "{err}");
        }
    }

    #[test]
    fn trusted_proxies_are_blocks_or_addresses_and_a_bad_one_is_named() {
        let c = Config::from_sources(&env(&[("SCENEBOARD_TRUSTED_PROXIES", " 10.0.0.0/8,192.0.2.7 , ::1")]), &HashMap::new()).unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]);
        let err = Config::from_sources(&env(&[("SCENEBOARD_TRUSTED_PROXIES", "10.0.0.0/8,nginx")]), &HashMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SCENEBOARD_TRUSTED_PROXIES is invalid: 'nginx' is not an address or a CIDR block such as 10.0.0.0/8 or fd00::/8"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Config::from_sources(
            &env(&[("SCENEBOARD_SECRET_KEY", "c2VjcmV0"), ("DATABASE_URL", "postgres://u:hunter2@h/db")]),
            &HashMap::new(),
        )
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && !d.contains("c2VjcmV0"), "{d}");
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str, content: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, content).unwrap();
            p.display().to_string()
        };
        let url = path("db", "postgres://u:pw@db.internal/sb\n");
        let key = path("key", "  c2VjcmV0  \n");
        let token = path("token", "metrics-token");
        let admin = path("admin", "a-long-password\n");
        let c = Config::from_sources(
            &env(&[
                ("DATABASE_URL_FILE", url.as_str()),
                ("SCENEBOARD_SECRET_KEY_FILE", key.as_str()),
                ("SCENEBOARD_METRICS_TOKEN_FILE", token.as_str()),
                ("SCENEBOARD_ADMIN_PASSWORD_FILE", admin.as_str()),
            ]),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(c.database_url, "postgres://u:pw@db.internal/sb");
        assert_eq!(c.secret_key.as_deref(), Some("c2VjcmV0"));
        assert_eq!(c.metrics_token.as_deref(), Some("metrics-token"));
        assert_eq!(c.admin_password.as_deref(), Some("a-long-password"));
        assert!(!format!("{c:?}").contains("a-long-password"));

        // The environment's file beats the toml file's value, and the other way round.
        let file = env(&[("DATABASE_URL", "sqlite://other.db")]);
        assert_eq!(
            Config::from_sources(&env(&[("DATABASE_URL_FILE", url.as_str())]), &file).unwrap().database_url,
            "postgres://u:pw@db.internal/sb"
        );
        let file = env(&[("DATABASE_URL_FILE", url.as_str())]);
        assert_eq!(Config::from_sources(&env(&[("DATABASE_URL", "sqlite://x.db")]), &file).unwrap().database_url, "sqlite://x.db");
        assert_eq!(Config::from_sources(&HashMap::new(), &file).unwrap().database_url, "postgres://u:pw@db.internal/sb");
    }

    #[test]
    fn a_secret_file_that_cannot_be_used_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let empty = empty.display().to_string();
        let missing = dir.path().join("missing").display().to_string();
        for (pairs, expect) in [
            (
                vec![("SCENEBOARD_SECRET_KEY_FILE", missing.as_str())],
                format!("SCENEBOARD_SECRET_KEY_FILE is invalid: cannot read {missing}"),
            ),
            (
                vec![("SCENEBOARD_ADMIN_PASSWORD_FILE", empty.as_str())],
                format!("SCENEBOARD_ADMIN_PASSWORD_FILE is invalid: {empty} is empty"),
            ),
            (
                vec![("DATABASE_URL", "sqlite://x.db"), ("DATABASE_URL_FILE", empty.as_str())],
                "DATABASE_URL_FILE is invalid: set DATABASE_URL or DATABASE_URL_FILE, not both".to_owned(),
            ),
        ] {
            let err = Config::from_sources(&env(&pairs), &HashMap::new()).unwrap_err().to_string();
            assert!(err.starts_with(&expect), "{err}");
        }
    }

    #[test]
    fn a_mail_server_needs_a_sender_and_is_shown_without_its_password() {
        assert!(Config::from_sources(&HashMap::new(), &HashMap::new()).unwrap().mail.is_none());
        let url = ("SCENEBOARD_SMTP_URL", "smtp://digest:hunter2@smtp.example.com");
        let err = Config::from_sources(&env(&[url]), &HashMap::new()).unwrap_err().to_string();
        assert!(err.starts_with("SCENEBOARD_SMTP_FROM is invalid: must be set"), "{err}");
        let c = Config::from_sources(&env(&[url, ("SCENEBOARD_SMTP_FROM", "Sceneboard <digest@example.com>")]), &HashMap::new()).unwrap();
        assert_eq!(c.mail.as_ref().unwrap().describe(), "smtp.example.com:587 (STARTTLS), from Sceneboard <digest@example.com>");
        assert!(!format!("{c:?}").contains("hunter2"));
        let err = Config::from_sources(
            &env(&[("SCENEBOARD_SMTP_URL", "smtp://smtp.example.com?tls=none"), ("SCENEBOARD_SMTP_FROM", "a@example.com")]),
            &HashMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("SCENEBOARD_SMTP_URL is invalid: tls=none is allowed only to this machine"), "{err}");
        let err = Config::from_sources(
            &env(&[url, ("SCENEBOARD_SMTP_FROM", "a@example.com"), ("SCENEBOARD_SMTP_CA", "/nonexistent/ca.pem")]),
            &HashMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("SCENEBOARD_SMTP_CA is invalid: cannot read /nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn toml_file_is_read_and_unknown_keys_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sceneboard.toml");
        std::fs::write(&p, "SCENEBOARD_TIMEZONE = \"UTC\"\n").unwrap();
        assert_eq!(read_file(&p).unwrap()["SCENEBOARD_TIMEZONE"], "UTC");
        std::fs::write(&p, "TIMEZONE = \"UTC\"\n").unwrap();
        assert!(read_file(&p).unwrap_err().to_string().contains("unknown key TIMEZONE"));
    }
}
