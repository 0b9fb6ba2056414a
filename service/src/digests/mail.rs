//! Email through the operator's mail server (`SCENEBOARD_SMTP_URL`), with lettre.
//!
//! The URL says how to reach it: `smtp://user:password@host:587` speaks STARTTLS and refuses
//! to go on without it; `smtps://…:465` is TLS from the first byte. Plain text is allowed only
//! to this machine (`smtp://localhost:25?tls=none`, a local relay), as for a WeChat API base:
//! elsewhere the password and the digests would cross the network readable. Certificates are
//! checked against the Mozilla roots, or against `SCENEBOARD_SMTP_CA` for a relay with a
//! private CA.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Longest a whole SMTP conversation step may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// `smtp://`: STARTTLS, required.
    StartTls,
    /// `smtps://`: TLS from the start.
    Tls,
    /// `smtp://…?tls=none` to this machine only.
    Plain,
}

/// A configured mail server and sender.
#[derive(Clone)]
pub struct MailConfig {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, String)>,
    from: Mailbox,
    /// PEM of the extra CA to trust.
    ca: Option<Vec<u8>>,
}

/// `Debug` without the password.
impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// What went wrong sending a mail, in words for Settings and the log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

impl MailConfig {
    /// Reads `SCENEBOARD_SMTP_URL`, `SCENEBOARD_SMTP_FROM` and the CA file's content; the
    /// error says what to fix.
    pub fn parse(url: &str, from: &str, ca_pem: Option<Vec<u8>>) -> Result<Self, String> {
        let not_url = || format!("'{}' is not a URL like smtp://user:password@host:587 (STARTTLS) or smtps://host:465 (TLS)", redact(url));
        let url = url::Url::parse(url).map_err(|_| not_url())?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(not_url());
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or("the URL names no host")?.trim_matches(['[', ']']).to_owned();
        let plain_asked = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
        let security = match (url.scheme(), plain_asked) {
            ("smtp", false) => Security::StartTls,
            ("smtps", false) => Security::Tls,
            ("smtp", true) if is_loopback(&host) => Security::Plain,
            ("smtp", true) => return Err("tls=none is allowed only to this machine (localhost, 127.0.0.1, ::1)".into()),
            _ => return Err("tls=none cannot go with smtps:// (TLS from the start)".into()),
        };
        if let Some((k, _)) = url.query_pairs().find(|(k, _)| k != "tls") {
            return Err(format!("unknown parameter {k} (only tls=none is understood)"));
        }
        let port = url.port().unwrap_or(if security == Security::Tls { 465 } else { 587 });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "the user or password is not valid percent-encoding".to_owned())
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some((decode(user)?, decode(password.unwrap_or(""))?)),
        };
        let from: Mailbox = from
            .trim()
            .parse()
            .map_err(|_| format!("SCENEBOARD_SMTP_FROM '{from}' is not an address like 'Sceneboard <digest@example.com>'"))?;
        if let Some(pem) = &ca_pem {
            // lettre reads a file without any certificate as an empty list: refuse it here.
            let has_cert = pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----");
            let parsed = Certificate::from_pem(pem).map_err(|e| e.to_string());
            if let (false, _) | (_, Err(_)) = (has_cert, &parsed) {
                let why = parsed.err().unwrap_or_else(|| "no BEGIN CERTIFICATE block".into());
                return Err(format!("SCENEBOARD_SMTP_CA holds no usable PEM certificate: {why}"));
            }
        }
        Ok(MailConfig { host, port, security, credentials, from, ca: ca_pem })
    }

    /// Where mail goes and as whom, without the password: for Settings and the log.
    pub fn describe(&self) -> String {
        let how = match self.security {
            Security::StartTls => "STARTTLS",
            Security::Tls => "TLS",
            Security::Plain => "plain, this machine",
        };
        format!("{}:{} ({how}), from {}", self.host, self.port, self.from)
    }

    pub fn security(&self) -> Security {
        self.security
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
        let tls_failed = |e: lettre::transport::smtp::Error| MailError(format!("TLS setup failed: {e}"));
        let params = || {
            let mut b = TlsParameters::builder(self.host.clone());
            if let Some(pem) = &self.ca {
                b = b.add_root_certificate(Certificate::from_pem(pem).map_err(tls_failed)?);
            }
            b.build_rustls().map_err(tls_failed)
        };
        let tls = match self.security {
            Security::StartTls => Tls::Required(params()?),
            Security::Tls => Tls::Wrapper(params()?),
            Security::Plain => Tls::None,
        };
        let mut b =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str()).port(self.port).tls(tls).timeout(Some(TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            b = b.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(b.build())
    }

    /// Sends one message to every address of `to`: the plain text, and the same text as a
    /// simple HTML part (mail clients on phones wrap it instead of showing fixed lines).
    pub async fn send(&self, to: &[String], subject: &str, text: &str) -> Result<(), MailError> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject);
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|_| MailError(format!("'{address}' is not an email address")))?;
            message = message.to(mailbox);
        }
        let html = format!(
            "<!doctype html><html><body><pre style=\"font-family:inherit;white-space:pre-wrap\">{}</pre></body></html>",
            escape(text)
        );
        let body = MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text.to_owned()))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html));
        let message = message.multipart(body).map_err(|e| MailError(format!("the message could not be built: {e}")))?;
        self.transport()?.send(message).await.map_err(|e| MailError(format!("{}: {e}", self.describe())))?;
        Ok(())
    }
}

/// The URL with its password replaced, for an error message.
fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((before, after)) if before.contains("://") => {
            let (scheme, _) = before.split_once("://").unwrap_or((before, ""));
            format!("{scheme}://***@{after}")
        }
        _ => url.to_owned(),
    }
}

/// The loopback rule of `accounts::is_loopback`, on a host string: `smtp:` is not a scheme the
/// URL standard knows, so its host stays text (`127.0.0.1` is not parsed as an address).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_says_how_to_reach_the_server() {
        let m = MailConfig::parse("smtp://digest%40example.com:p%40ss@smtp.example.com", "Sceneboard <digest@example.com>", None).unwrap();
        assert_eq!((m.host.as_str(), m.port, m.security), ("smtp.example.com", 587, Security::StartTls));
        assert_eq!(m.credentials, Some(("digest@example.com".into(), "p@ss".into())));
        assert_eq!(m.describe(), "smtp.example.com:587 (STARTTLS), from Sceneboard <digest@example.com>");
        assert!(!format!("{m:?}").contains("p@ss"));
        let m = MailConfig::parse("smtps://smtp.exmail.qq.com", "digest@example.com", None).unwrap();
        assert_eq!((m.port, m.security, m.credentials), (465, Security::Tls, None));
        let m = MailConfig::parse("smtp://127.0.0.1:2525?tls=none", "digest@example.com", None).unwrap();
        assert_eq!((m.port, m.security), (2525, Security::Plain));
    }

    #[test]
    fn a_bad_setting_is_explained_without_the_password() {
        for (url, from, says) in [
            ("smtp://mail.example.com?tls=none", "a@example.com", "only to this machine"),
            ("http://mail.example.com", "a@example.com", "is not a URL like smtp://"),
            ("smtp://mail.example.com?starttls=yes", "a@example.com", "unknown parameter starttls"),
            ("smtp://mail.example.com", "not an address", "SCENEBOARD_SMTP_FROM"),
            ("mail.example.com:587", "a@example.com", "is not a URL"),
            ("smtp://u:p%FF@mail.example.com", "a@example.com", "percent-encoding"),
        ] {
            let err = MailConfig::parse(url, from, None).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
        let err = MailConfig::parse("smtp://u:hunter2@", "a@example.com", None).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = MailConfig::parse("smtp://mail.example.com", "a@example.com", Some(b"not pem".to_vec())).unwrap_err();
        assert!(err.contains("SCENEBOARD_SMTP_CA"), "{err}");
    }
}
