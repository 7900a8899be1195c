//! Filling a template in: placeholders, the call's digit rule, the do-not-share warning and
//! the e-mail's parts.

use std::collections::BTreeMap;

use verifyd_models::VerificationChannel;

use super::{Template, bundled};
use crate::provider::RenderedMessage;

/// The placeholders every template may use; a custom substitution of the same name is
/// ignored (a request cannot replace the code).
pub const BUILT_IN: [&str; 4] = ["friendly_name", "code", "ttl", "warning"];

/// What one message says besides its template.
#[derive(Clone, Copy)]
pub struct RenderInput<'a> {
    pub channel: VerificationChannel,
    /// A supported locale (see [`super::resolve_locale`]); a template without it falls back to
    /// its default translation.
    pub locale: &'a str,
    /// `{{friendly_name}}`: `CustomFriendlyName`, or the service's friendly name.
    pub friendly_name: &'a str,
    /// `{{code}}`, as generated (a call speaks it digit by digit).
    pub code: &'a str,
    /// `{{ttl}}`: the minutes the code stays valid.
    pub ttl_minutes: u32,
    /// Adds the locale's do-not-share sentence (or fills `{{warning}}` with it).
    pub do_not_share_warning: bool,
    /// `TemplateCustomSubstitutions`: the values of the template's own placeholders.
    pub custom: &'a BTreeMap<String, String>,
}

impl std::fmt::Debug for RenderInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The code stays out of logs.
        f.debug_struct("RenderInput")
            .field("channel", &self.channel)
            .field("locale", &self.locale)
            .finish_non_exhaustive()
    }
}

/// Why a template could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template uses `{{name}}` and nothing gives it a value.
    #[error("the template's placeholder {{{{{0}}}}} has no value")]
    MissingSubstitution(String),
    /// The template does not list the channel.
    #[error("the template does not support the {0} channel")]
    UnsupportedChannel(VerificationChannel),
}

/// A piece of template text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment<'t> {
    Literal(&'t str),
    Placeholder(&'t str),
}

/// Whether `name` may be a placeholder's name: ASCII letters, digits and `_`.
pub(super) fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `text` as literals and `{{name}}` placeholders (spaces inside the braces allowed). A `{{`
/// that opens no well-formed placeholder is literal text; loading refuses templates that
/// have one (see [`problems`]), so only a bundled text could, and its tests forbid it.
pub(super) fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut literal_from = 0;
    let mut consumed = 0;
    while let Some(open) = rest.find("{{") {
        let after_open = rest.get(open + 2..).unwrap_or_default();
        let placeholder = after_open.find("}}").and_then(|close| {
            let name = after_open.get(..close)?.trim();
            is_placeholder_name(name).then_some((name, close))
        });
        match placeholder {
            Some((name, close)) => {
                let start = consumed + open;
                if let Some(literal) = text.get(literal_from..start).filter(|l| !l.is_empty()) {
                    out.push(Segment::Literal(literal));
                }
                out.push(Segment::Placeholder(name));
                let end = open + 2 + close + 2;
                consumed += end;
                literal_from = consumed;
                rest = rest.get(end..).unwrap_or_default();
            }
            None => {
                // This `{` stays literal; the next may open a placeholder (`{{{code}}}`).
                consumed += open + 1;
                rest = rest.get(open + 1..).unwrap_or_default();
            }
        }
    }
    if let Some(literal) = text.get(literal_from..).filter(|l| !l.is_empty()) {
        out.push(Segment::Literal(literal));
    }
    out
}

/// What is wrong with a template text: a `{{` that opens no well-formed placeholder, or no
/// `{{code}}` when `needs_code`.
pub(super) fn problems(text: &str, needs_code: bool) -> Option<String> {
    let parts = segments(text);
    if parts.iter().any(|s| matches!(s, Segment::Literal(l) if l.contains("{{"))) {
        return Some("a `{{` opens no placeholder (write `{{name}}`: letters, digits, `_`)".to_owned());
    }
    if needs_code && !parts.contains(&Segment::Placeholder("code")) {
        return Some("it has no {{code}}".to_owned());
    }
    None
}

/// How substituted values are written into a part.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// As they are.
    Text,
    /// A call's script: the code digit by digit, no digit before it.
    Spoken,
    /// HTML-escaped.
    Html,
    /// An e-mail subject: control characters (line breaks) become spaces.
    Subject,
}

/// `template` filled in for `input`: the text of its channel (the default translation
/// when it lacks the locale), and for e-mail its subject and HTML part.
pub fn render(template: &Template, input: &RenderInput<'_>) -> Result<RenderedMessage, RenderError> {
    if !template.channels.contains(&input.channel) {
        return Err(RenderError::UnsupportedChannel(input.channel));
    }
    let (locale, translation) = template.translation(input.locale);
    let warning = input.do_not_share_warning.then(|| bundled::warning(locale));
    let source = match input.channel {
        VerificationChannel::Call => translation.call_text.as_deref(),
        VerificationChannel::Whatsapp => translation.whatsapp_text.as_deref(),
        VerificationChannel::Email => translation.email_text.as_deref(),
        _ => None,
    }
    .unwrap_or(&translation.text);
    let part = if input.channel == VerificationChannel::Call { Part::Spoken } else { Part::Text };
    let (mut text, placed) = fill(source, input, warning, part)?;
    if let Some(warning) = warning.filter(|_| !placed) {
        append_sentence(&mut text, warning);
    }
    let (subject, html) = if input.channel == VerificationChannel::Email {
        let subject = match &translation.subject {
            Some(subject) => Some(fill(subject, input, None, Part::Subject)?.0),
            None => None,
        };
        let html = match &translation.html {
            Some(html) => {
                let (mut html, placed) = fill(html, input, warning, Part::Html)?;
                if let Some(warning) = warning.filter(|_| !placed) {
                    insert_paragraph(&mut html, &escape_html(warning));
                }
                Some(html)
            }
            None => None,
        };
        (subject, html)
    } else {
        (None, None)
    };
    Ok(RenderedMessage { text, subject, html })
}

/// `source` with its placeholders filled in, and whether it placed the warning itself.
fn fill(
    source: &str,
    input: &RenderInput<'_>,
    warning: Option<&str>,
    part: Part,
) -> Result<(String, bool), RenderError> {
    let mut out = String::with_capacity(source.len() + 32);
    let mut placed_warning = false;
    // Where the code first starts in `out`, for a call's digit rule.
    let mut code_at = None;
    let ttl = input.ttl_minutes.to_string();
    for segment in segments(source) {
        let value = match segment {
            Segment::Literal(literal) => {
                out.push_str(literal);
                continue;
            }
            Segment::Placeholder("code") => {
                code_at.get_or_insert(out.len());
                if part == Part::Spoken {
                    out.push_str(&spoken(input.code));
                    continue;
                }
                input.code
            }
            Segment::Placeholder("friendly_name") => input.friendly_name,
            Segment::Placeholder("ttl") => &ttl,
            Segment::Placeholder("warning") => {
                placed_warning = true;
                warning.unwrap_or_default()
            }
            Segment::Placeholder(name) => {
                input.custom.get(name).ok_or_else(|| RenderError::MissingSubstitution(name.to_owned()))?
            }
        };
        match part {
            Part::Html => out.push_str(&escape_html(value)),
            Part::Subject => out.extend(value.chars().map(|c| if c.is_control() { ' ' } else { c })),
            Part::Text | Part::Spoken => out.push_str(value),
        }
    }
    if part == Part::Spoken
        && let Some(at) = code_at
        && let (Some(prefix), Some(rest)) = (out.get(..at), out.get(at..))
    {
        out = format!("{}{rest}", without_digits(prefix));
    }
    Ok((out, placed_warning))
}

/// The code as a call speaks it: `123` → `1, 2, 3`.
fn spoken(code: &str) -> String {
    code.chars().map(String::from).collect::<Vec<_>>().join(", ")
}

/// `prefix` without its digits, and without the doubled spaces their removal leaves, so a
/// call speaks no number before the code (`Acme 24 code is: ` → `Acme code is: `).
fn without_digits(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars().filter(|c| !c.is_numeric()) {
        if c.is_whitespace() && out.ends_with(char::is_whitespace) {
            continue;
        }
        out.push(c);
    }
    if out.trim().is_empty() { String::new() } else { out }
}

/// Adds a sentence after `text`: after a space, except after an ideographic full stop.
pub(super) fn append_sentence(text: &mut String, sentence: &str) {
    if !text.is_empty() && !text.ends_with(['。', '\n', ' ']) {
        text.push(' ');
    }
    text.push_str(sentence);
}

/// Adds `<p>escaped</p>` before the HTML's closing `</body>`, or at its end.
fn insert_paragraph(html: &mut String, escaped: &str) {
    let paragraph = format!("<p>{escaped}</p>\n");
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(at) if html.is_char_boundary(at) => html.insert_str(at, &paragraph),
        _ => html.push_str(&paragraph),
    }
}

/// `text` safe inside HTML text and attribute values.
pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_text_and_placeholders() {
        use Segment::*;
        assert_eq!(
            segments("Hi {{ name }}, {{code}}!"),
            vec![Literal("Hi "), Placeholder("name"), Literal(", "), Placeholder("code"), Literal("!")]
        );
        assert_eq!(segments("{{code}}"), vec![Placeholder("code")]);
        assert_eq!(segments("a {{not a name}} {{code}}"), vec![Literal("a {{not a name}} "), Placeholder("code")]);
        assert_eq!(segments("open {{ only"), vec![Literal("open {{ only")]);
        assert_eq!(segments("{{{code}}}"), vec![Literal("{"), Placeholder("code"), Literal("}")]);
        assert_eq!(segments("é{{code}}ü"), vec![Literal("é"), Placeholder("code"), Literal("ü")]);
        assert!(segments("").is_empty());
    }

    #[test]
    fn problems_name_broken_braces_and_a_missing_code() {
        assert_eq!(problems("Your code: {{code}}", true), None);
        assert!(problems("Your code: {{ code", true).unwrap().contains("opens no placeholder"));
        assert!(problems("Your {{bad name}}: {{code}}", true).unwrap().contains("opens no placeholder"));
        assert!(problems("No code here", true).unwrap().contains("{{code}}"));
        assert_eq!(problems("Your Acme code", false), None);
    }

    #[test]
    fn digits_before_the_code_are_dropped() {
        assert_eq!(without_digits("Your Acme 24 code is: "), "Your Acme code is: ");
        assert_eq!(without_digits("24/7 Shop: "), "/ Shop: ");
        assert_eq!(without_digits("123 "), "");
        assert_eq!(without_digits("Code ٣ is: "), "Code is: ");
    }

    #[test]
    fn the_warning_follows_a_sentence() {
        let mut text = "Code: 1.".to_owned();
        append_sentence(&mut text, "Keep it.");
        assert_eq!(text, "Code: 1. Keep it.");
        let mut text = "コードは 1 です。".to_owned();
        append_sentence(&mut text, "教えないで。");
        assert_eq!(text, "コードは 1 です。教えないで。");
    }

    #[test]
    fn a_paragraph_goes_before_the_body_closes() {
        let mut html = "<html><BODY><p>x</p></BODY></html>".to_owned();
        insert_paragraph(&mut html, "w");
        assert_eq!(html, "<html><BODY><p>x</p><p>w</p>\n</BODY></html>");
        let mut fragment = "<p>x</p>".to_owned();
        insert_paragraph(&mut fragment, "w");
        assert_eq!(fragment, "<p>x</p><p>w</p>\n");
    }
}
