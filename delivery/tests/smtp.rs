//! The SMTP provider against a real SMTP server: aiosmtpd, run by the Python that
//! `VERIFYD_TEST_PYTHON` names (`cargo xtask test` sets it to a venv with aiosmtpd). Without
//! it, the tests that need the server say they skipped and pass.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use verifyd_delivery::{Provider, RenderedMessage, SendFailure, SmtpProvider};
use verifyd_models::VerificationChannel;

const PYTHON: &str = "VERIFYD_TEST_PYTHON";
const FROM: &str = "Acme Verify <verify@acme.example>";

/// A running `tests/smtp_server.py`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The server, or `None` (having said so) when no Python is configured.
fn server(test: &str) -> Option<Server> {
    let Some(python) = std::env::var_os(PYTHON).filter(|p| !p.is_empty()) else {
        println!("{test}: skipped: {PYTHON} is not set (a Python with aiosmtpd; `cargo xtask test` sets it)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("smtp_server.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the SMTP server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let server = Server { child, port, dir };
    assert_eq!(line.trim(), "ready", "the SMTP server did not start");
    Some(server)
}

fn email(to: &str, html: bool) -> verifyd_delivery::Outgoing {
    let mut message = common::outgoing(VerificationChannel::Email, to);
    message.message = RenderedMessage {
        text: "Your Acme verification code is: 007123.".to_owned(),
        subject: Some("Your Acme verification code".to_owned()),
        html: html.then(|| "<p>Your Acme verification code is: <b>007123</b>.</p>".to_owned()),
    };
    message
}

fn provider(port: u16) -> SmtpProvider {
    SmtpProvider::new(&format!("smtp://127.0.0.1:{port}"), FROM).unwrap().with_timeout(Duration::from_secs(10))
}

/// The stored message `n`, with its folded header lines unfolded.
fn stored(dir: &Path, n: u32) -> String {
    let raw = std::fs::read_to_string(dir.join(format!("{n}.eml"))).unwrap();
    raw.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ")
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let headers = message.split("\n\n").next().unwrap_or_default();
    headers.lines().find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn sends_text_then_html_with_the_attempt_header() {
    let Some(server) = server("sends_text_then_html_with_the_attempt_header") else { return };
    let provider = provider(server.port);
    assert_eq!(provider.name(), "smtp");
    let message = email("someone@example.com", true);
    let accepted = provider.send(&message).await.unwrap();
    assert_eq!(accepted.message_id.as_deref(), Some("Q1"));

    let stored = stored(server.dir.path(), 1);
    assert_eq!(header(&stored, "From"), Some(r#""Acme Verify" <verify@acme.example>"#));
    assert_eq!(header(&stored, "To"), Some("someone@example.com"));
    assert_eq!(header(&stored, "Subject"), Some("Your Acme verification code"));
    assert_eq!(header(&stored, "X-Verifyd-Attempt"), Some(message.attempt_sid.as_str()));
    let message_id = format!("<{}@acme.example>", message.attempt_sid);
    assert_eq!(header(&stored, "Message-ID"), Some(message_id.as_str()));
    let content_type = header(&stored, "Content-Type").unwrap();
    assert!(content_type.starts_with("multipart/alternative;"), "{content_type}");
    let text = stored.find("Content-Type: text/plain").expect("a text part");
    let html = stored.find("Content-Type: text/html").expect("an HTML part");
    assert!(text < html, "the text part comes first:\n{stored}");
    assert!(stored[text..html].contains("Your Acme verification code is: 007123."), "{stored}");
    assert!(stored[html..].contains("<b>007123</b>"), "{stored}");
}

#[tokio::test]
async fn without_html_the_body_is_plain_text() {
    let Some(server) = server("without_html_the_body_is_plain_text") else { return };
    provider(server.port).send(&email("someone@example.com", false)).await.unwrap();
    let stored = stored(server.dir.path(), 1);
    let content_type = header(&stored, "Content-Type").unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(!stored.contains("multipart"), "{stored}");
    assert!(stored.contains("Your Acme verification code is: 007123."), "{stored}");
}

#[tokio::test]
async fn a_refused_recipient_is_permanent_and_a_busy_one_transient() {
    let Some(server) = server("a_refused_recipient_is_permanent_and_a_busy_one_transient") else { return };
    let provider = provider(server.port);
    let failure = provider.send(&email("nobody@refused.example", true)).await.unwrap_err();
    let SendFailure::Permanent(reason) = failure else { panic!("{failure:?}") };
    assert!(reason.contains("550"), "{reason}");
    let failure = provider.send(&email("someone@busy.example", true)).await.unwrap_err();
    let SendFailure::Transient(reason) = failure else { panic!("{failure:?}") };
    assert!(reason.contains("451"), "{reason}");
    // The connection is still good for the next message.
    provider.send(&email("someone@example.com", false)).await.unwrap();
    assert!(server.dir.path().join("1.eml").is_file());
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let failure = provider(free_port()).send(&email("someone@example.com", true)).await.unwrap_err();
    assert!(matches!(failure, SendFailure::Transient(_)), "{failure:?}");
}

#[tokio::test]
async fn other_channels_and_bad_addresses_are_permanent() {
    let provider = provider(free_port());
    let failure = provider.send(&common::outgoing(VerificationChannel::Sms, "+15005550006")).await.unwrap_err();
    assert!(matches!(failure, SendFailure::Permanent(_)), "{failure:?}");
    let failure = provider.send(&email("not an address", true)).await.unwrap_err();
    assert!(matches!(failure, SendFailure::Permanent(_)), "{failure:?}");
}
