//! Text that came from outside, on its way to the log or a terminal: escaped, never as it is.
//!
//! A client's text may hold line breaks (a forged log line), terminal escapes (a rewritten
//! screen), right-to-left overrides (a line that reads otherwise than it is). Log fields are
//! Debug-formatted by the subscriber; the two places below are the ones that were not.

use std::any::Any;
use std::borrow::Cow;

/// Sends panics to the log as one event with the message Debug-escaped. The default hook
/// prints a panic's message as it is, and a message may quote what a client sent: a string
/// cut inside a character shows the whole string.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        log_panic(panic_message(info.payload()), &location);
    }));
}

/// The text a panic was given, if any.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn log_panic(message: &str, location: &str) {
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        tracing::error!(thread, location, panic = ?message, backtrace = ?backtrace.to_string(), "panic");
    } else {
        tracing::error!(thread, location, panic = ?message, "panic");
    }
}

/// `text` for a terminal line: control characters (line breaks, escapes, NUL) and the
/// bidirectional overrides escaped as `\n`, `\u{1b}`, …; every other character as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars().map(|c| if unsafe_char(c) { c.escape_default().to_string() } else { c.to_string() }).collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const HOSTILE: &str = "AC€\n2026-01-01T00:00:00Z  INFO forged line\u{1b}[2J\u{202E}\u{0}end";

    #[test]
    fn a_panic_message_is_logged_on_one_line_escaped() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        // The message a string cut inside a character panics with quotes the whole string.
        let payload = std::panic::catch_unwind(|| {
            let text = String::from(HOSTILE);
            text.get(..3).map(str::len).unwrap_or_else(|| panic!("byte index 3 is not a char boundary of `{text}`"))
        })
        .expect_err("it panics");
        tracing::subscriber::with_default(subscriber, || log_panic(panic_message(payload.as_ref()), "src/x.rs:1"));
        let log = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("UTF-8");
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(!log.contains('\u{1b}') && !log.contains('\u{0}') && !log.contains('\u{202E}'), "{log:?}");
        assert!(log.contains(r"AC€\n2026-01-01T00:00:00Z  INFO forged line\u{1b}[2J\u{202e}\0end"), "{log}");
        assert!(log.contains("src/x.rs:1"));
    }

    #[test]
    fn panic_messages_are_read_from_either_payload() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&17), "(no message)");
    }

    #[test]
    fn printable_text_escapes_controls_and_overrides_only() {
        assert!(matches!(printable("Your Acme code is: 123456. é€😀"), Cow::Borrowed(_)));
        assert_eq!(printable(HOSTILE), r"AC€\n2026-01-01T00:00:00Z  INFO forged line\u{1b}[2J\u{202e}\u{0}end");
        assert_eq!(printable("a\tb\r\nc\u{85}"), r"a\tb\r\nc\u{85}");
    }
}
