//! A local SMTP server for the digest tests: it speaks enough ESMTP for a real client
//! (lettre) to deliver through it — EHLO, STARTTLS with a real TLS handshake (the certificate
//! in `tests/fixtures/smtp`), AUTH PLAIN, MAIL, RCPT, DATA — and keeps what it received. It can
//! refuse recipients, as a server does for an unknown mailbox.

use base64::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp");

/// The CA that signed the sink's certificate, as `SCENEBOARD_SMTP_CA` would hand it over.
pub fn ca_pem() -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/ca.pem")).unwrap()
}

/// One message as the sink received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The connection was TLS when the message was sent.
    pub tls: bool,
    /// The user and password of AUTH PLAIN.
    pub auth: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: Vec<u8>,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    refuse_recipients: Arc<AtomicBool>,
}

impl SmtpSink {
    /// A sink on a free port of 127.0.0.1 that offers STARTTLS and asks for it before AUTH.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink =
            SmtpSink { port: listener.local_addr().unwrap().port(), received: Default::default(), refuse_recipients: Default::default() };
        let acceptor = acceptor();
        let shared = sink.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (sink, acceptor) = (shared.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let mut plain = BufReader::new(socket);
                    if write(&mut plain, "220 localhost ESMTP test sink\r\n").await.is_err() {
                        return;
                    }
                    if let Some(Upgrade) = sink.session(&mut plain, false).await {
                        let Ok(tls) = acceptor.accept(plain.into_inner()).await else { return };
                        sink.session(&mut BufReader::new(tls), true).await;
                    }
                });
            }
        });
        sink
    }

    /// `smtp://user:password@localhost:PORT`: STARTTLS, as the server would be configured.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("smtp://{user}:{password}@localhost:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// From now on, answer every RCPT with 550 (`true`) or accept it again (`false`).
    pub fn refuse_recipients(&self, refuse: bool) {
        self.refuse_recipients.store(refuse, Ordering::SeqCst);
    }

    /// Serves one connection's commands until QUIT, EOF, or STARTTLS (`Some(Upgrade)`).
    async fn session<S: AsyncRead + AsyncWrite + Unpin>(&self, io: &mut BufReader<S>, tls: bool) -> Option<Upgrade> {
        let (mut auth, mut from, mut to) = (None, String::new(), Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if io.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let command = line.trim_end().to_owned();
            let verb = command.split(' ').next().unwrap_or_default().to_ascii_uppercase();
            let reply = match verb.as_str() {
                "EHLO" if tls => "250-localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n".to_owned(),
                "EHLO" => "250-localhost\r\n250-STARTTLS\r\n250 8BITMIME\r\n".to_owned(),
                "STARTTLS" if !tls => {
                    write(io, "220 go ahead\r\n").await.ok()?;
                    return Some(Upgrade);
                }
                "AUTH" if tls => match command.splitn(3, ' ').nth(2).and_then(decode_plain) {
                    Some(pair) => {
                        auth = Some(pair);
                        "235 2.7.0 accepted\r\n".to_owned()
                    }
                    None => "535 5.7.8 bad credentials\r\n".to_owned(),
                },
                "AUTH" => "538 5.7.11 encryption required\r\n".to_owned(),
                "MAIL" => {
                    from = address(&command);
                    "250 ok\r\n".to_owned()
                }
                "RCPT" if self.refuse_recipients.load(Ordering::SeqCst) => "550 5.1.1 mailbox unavailable\r\n".to_owned(),
                "RCPT" => {
                    to.push(address(&command));
                    "250 ok\r\n".to_owned()
                }
                "DATA" => {
                    write(io, "354 end with <CRLF>.<CRLF>\r\n").await.ok()?;
                    let data = read_data(io).await?;
                    let message = Received { tls, auth: auth.clone(), from: std::mem::take(&mut from), to: std::mem::take(&mut to), data };
                    self.received.lock().unwrap().push(message);
                    "250 queued\r\n".to_owned()
                }
                "RSET" | "NOOP" => "250 ok\r\n".to_owned(),
                "QUIT" => {
                    write(io, "221 bye\r\n").await.ok()?;
                    return None;
                }
                _ => "502 not implemented\r\n".to_owned(),
            };
            write(io, &reply).await.ok()?;
        }
    }
}

/// The client asked for STARTTLS.
struct Upgrade;

async fn write<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, text: &str) -> std::io::Result<()> {
    io.get_mut().write_all(text.as_bytes()).await?;
    io.get_mut().flush().await
}

/// The lines up to the lone `.`, with the leading dot of a stuffed line removed.
async fn read_data<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if io.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" {
            return Some(data);
        }
        data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
    }
}

/// `MAIL FROM:<a@b>` → `a@b`.
fn address(command: &str) -> String {
    command.split('<').nth(1).and_then(|s| s.split('>').next()).unwrap_or_default().to_owned()
}

/// AUTH PLAIN's initial response: base64 of `authzid \0 user \0 password`.
fn decode_plain(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split('\0').skip(1);
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}

fn acceptor() -> TlsAcceptor {
    let certs = CertificateDer::pem_file_iter(format!("{FIXTURES}/localhost.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/localhost.key")).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}
