//! E-mail through SMTP to a real server: delivery/tests/smtp_server.py (aiosmtpd), run by the
//! Python that `VERIFYD_TEST_PYTHON` names (`cargo xtask test` sets it). Without it, these
//! tests say they skipped and pass. The code is read from the message the server received,
//! not from the outbox, and checked through the API.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use verifyd_core::domain::sending::SendStatus;
use verifyd_models::*;

use super::{attempt_sid, pairs};
use crate::common::*;

const PYTHON: &str = "VERIFYD_TEST_PYTHON";
const FROM: &str = "Acme <verify@example.com>";

/// A running smtp_server.py, killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// The server, or `None` (having said so) when no Python is configured.
    fn start(test: &str) -> Option<Self> {
        let Some(python) = std::env::var_os(PYTHON).filter(|p| !p.is_empty()) else {
            println!("{test}: skipped: {PYTHON} is not set (a Python with aiosmtpd; `cargo xtask test` sets it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../delivery/tests/smtp_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout")).read_line(&mut line).expect("its first line");
        let server = Self { child, port, dir };
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Some(server)
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("VERIFYD_EMAIL_PROVIDER", "smtp".to_owned()),
            ("VERIFYD_SMTP_URL", format!("smtp://127.0.0.1:{}", self.port)),
            ("VERIFYD_EMAIL_FROM", FROM.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn message_path(&self, n: u32) -> PathBuf {
        self.dir.path().join(format!("{n}.eml"))
    }

    /// Received message `n` (from 1), with folded header lines unfolded.
    fn message(&self, n: u32) -> String {
        let raw = std::fs::read_to_string(self.message_path(n)).expect("a received message");
        raw.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ")
    }

    fn received(&self) -> usize {
        std::fs::read_dir(self.dir.path()).map(|d| d.count()).unwrap_or(0)
    }
}

/// The value of a header of `message` (case-insensitive name), from its header block.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\n\n").next().unwrap_or_default();
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The text/plain part of `message` (the whole body when it is a single part), as sent.
fn text_part(message: &str) -> String {
    let content_type = header(message, "Content-Type").unwrap_or("text/plain");
    let (_, body) = message.split_once("\n\n").expect("a body");
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        assert!(content_type.to_ascii_lowercase().starts_with("text/plain"), "{content_type}");
        return decode(header(message, "Content-Transfer-Encoding"), body);
    }
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .expect("a boundary");
    body.split(&format!("--{boundary}"))
        .find(|part| header(part.trim_start_matches('\n'), "Content-Type").is_some_and(|t| t.starts_with("text/plain")))
        .map(|part| {
            let part = part.trim_start_matches('\n');
            let (_, text) = part.split_once("\n\n").expect("a part body");
            decode(header(part, "Content-Transfer-Encoding"), text)
        })
        .expect("a text/plain part")
}

/// A part's body, decoded from 7bit or quoted-printable (what a short ASCII text is sent as).
fn decode(encoding: Option<&str>, body: &str) -> String {
    match encoding.map(str::to_ascii_lowercase).as_deref() {
        None | Some("7bit" | "8bit") => body.to_owned(),
        Some("quoted-printable") => {
            let joined = body.replace("=\n", "");
            let mut out = Vec::new();
            let bytes = joined.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'='
                    && i + 2 < bytes.len()
                    && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
                {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8(out).expect("UTF-8 text")
        }
        Some(other) => panic!("a text part sent as {other}"),
    }
}

/// The first run of 4 to 10 digits in `text`.
fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| (4..=10).contains(&run.len()))
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned()
}

#[tokio::test]
async fn an_email_reaches_a_real_smtp_server_and_its_code_approves() {
    let Some(smtp) = SmtpServer::start("an_email_reaches_a_real_smtp_server_and_its_code_approves") else { return };
    let server = TestServer::start_with(&pairs(&smtp.env())).await;
    let service = server.service().await;
    let to = "alice@example.com";
    let v = server.try_send(&service.sid, to, VerificationChannel::Email).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    let sid = attempt_sid(&v, 0);

    // Accepted within the start's wait: the server had stored it before it answered.
    assert_eq!(smtp.received(), 1);
    let message = smtp.message(1);
    assert_eq!(header(&message, "To"), Some(to));
    assert_eq!(header(&message, "From"), Some(FROM));
    assert_eq!(header(&message, "X-Verifyd-Attempt"), Some(sid.as_str()));
    assert_eq!(header(&message, "Message-ID"), Some(format!("<{sid}@example.com>").as_str()));
    let code = code_in(&text_part(&message));

    let attempt = server.attempt(&sid).await;
    assert_eq!((attempt.status, attempt.provider.as_str()), (SendStatus::Sent, "smtp"));
    assert_eq!(attempt.message_id.as_deref(), Some("Q1"), "the server's queued-as id");
    assert_eq!(attempt.country, None);

    let checked = server.client.create_verification_check(&check_to(&service.sid, to, &code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    server.stop().await;
}

#[tokio::test]
async fn an_email_carries_a_subject() {
    // delivery/README.md: "Each message goes to the verification's address, with the
    // template's subject".
    let Some(smtp) = SmtpServer::start("an_email_carries_a_subject") else { return };
    let server = TestServer::start_with(&pairs(&smtp.env())).await;
    let service = server.service().await;
    server.try_send(&service.sid, "alice@example.com", VerificationChannel::Email).await.expect("a start");
    let message = smtp.message(1);
    let subject = header(&message, "Subject").unwrap_or_default();
    assert!(!subject.is_empty(), "no subject in:\n{message}");
    server.stop().await;
}

#[tokio::test]
async fn a_refused_recipient_fails_the_start() {
    let Some(smtp) = SmtpServer::start("a_refused_recipient_fails_the_start") else { return };
    let server = TestServer::start_with(&pairs(&smtp.env())).await;
    let service = server.service().await;
    let to = "bob@refused.example";
    let message = assert_error(server.try_send(&service.sid, to, VerificationChannel::Email).await, 503, 20503);
    assert!(message.starts_with("The email message could not be delivered by smtp: smtp: "), "{message}");
    assert!(message.contains("No such user here"), "{message}");
    let v = server.newest_verification(&service.sid, to).await.expect("kept");
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    assert_eq!(server.attempts_of(&v.sid).await[0].status, SendStatus::Failed);
    assert_eq!(smtp.received(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_busy_server_through_the_whole_wait_fails_the_start() {
    let Some(smtp) = SmtpServer::start("a_busy_server_through_the_whole_wait_fails_the_start") else { return };
    let mut env = smtp.env();
    env.push(("VERIFYD_DELIVERY_WAIT_MS".to_owned(), "600".to_owned()));
    let server = TestServer::start_with(&pairs(&env)).await;
    let service = server.service().await;
    let to = "carol@busy.example";
    let message = assert_error(server.try_send(&service.sid, to, VerificationChannel::Email).await, 503, 20503);
    assert!(message.contains("Try again later"), "{message}");
    let v = server.newest_verification(&service.sid, to).await.expect("kept");
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    server.stop().await;
}
