//! The pages' frame (head, navigation, sign-out form) and the small helpers every page uses.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::Operator;

/// What the frame of a page needs: where the console is and who is signed in.
pub struct Chrome<'a> {
    pub base: &'a str,
    pub operator: Option<&'a Operator>,
}

impl Chrome<'_> {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The hidden CSRF field of a form that changes something.
    pub fn csrf(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.operator.map(|o| o.csrf.as_str()).unwrap_or_default()); }
    }
}

/// A whole page: `title`, and `body` inside the frame.
pub fn page(chrome: &Chrome<'_>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · verifyd console" }
                link rel="stylesheet" href=(chrome.url("/assets/console.css"));
                script src=(chrome.url("/assets/console.js")) defer {}
            }
            body {
                header.top {
                    a.brand href=(chrome.url("/")) { "verifyd" }
                    @if let Some(operator) = chrome.operator {
                        nav {
                            a href=(chrome.url("/inbox")) { "Inbox" }
                            a href=(chrome.url("/services")) { "Services" }
                        }
                        form.signout method="post" action=(chrome.url("/logout")) {
                            (chrome.csrf())
                            span.who title="Signed in as" { (operator.username) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A page as an HTML answer.
pub fn html(markup: Markup) -> axum::response::Response {
    axum::response::IntoResponse::into_response(axum::response::Html(markup.into_string()))
}

/// A page that says why a request was refused.
pub fn error_page(chrome: &Chrome<'_>, status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Refused");
    page(
        chrome,
        title,
        html! {
            p.error role="alert" { (message) }
            p { a href=(chrome.url("/")) { "Back to the console" } }
        },
    )
}

/// A notice after a change, from a fixed set (never text from the request).
pub fn notice(key: Option<&str>) -> Markup {
    let text = match key {
        Some("service-created") => "Service created.",
        Some("verification-started") => "Verification started: its code is in the inbox.",
        Some("approved") => "Approved.",
        Some("wrong-code") => "That code is not the verification's code.",
        Some("canceled") => "Verification canceled.",
        Some("factor-verified") => "Factor verified.",
        _ => return html! {},
    };
    html! { p.notice role="status" { (text) } }
}

/// A JSON field as text: a string as is, a number or boolean written out, nothing as a dash.
pub fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A value of any JSON model as its object (empty when it does not serialize as one).
pub fn object<T: serde::Serialize>(model: &T) -> Value {
    serde_json::to_value(model).unwrap_or(Value::Null)
}

/// The objects of a list answer's array field (`services`, `factors`, …).
pub fn items<T: serde::Serialize>(list: &T, key: &str) -> Vec<Value> {
    match object(list).get_mut(key).map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// A path segment, percent-encoded (an identity may hold any character).
pub use verifyd_runtime::form::encode_path_segment as segment;

/// A status as a badge whose colour says how it ended.
pub fn badge(status: &str) -> Markup {
    let tone = match status {
        "approved" | "verified" | "delivered" | "enabled" | "sent" => "good",
        "pending" | "unverified" | "retrying" | "queued" => "wait",
        _ => "bad",
    };
    html! { span class={ "badge " (tone) } { (status) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_writes_any_json_value() {
        let v = serde_json::json!({"s": "x", "n": 6, "b": true, "z": null});
        assert_eq!(text(&v, "s"), "x");
        assert_eq!(text(&v, "n"), "6");
        assert_eq!(text(&v, "b"), "true");
        assert_eq!(text(&v, "z"), "—");
        assert_eq!(text(&v, "missing"), "—");
    }

    #[test]
    fn markup_escapes_what_it_shows() {
        let chrome = Chrome { base: "/console", operator: None };
        let page = error_page(&chrome, StatusCode::BAD_REQUEST, "<script>alert(1)</script>").into_string();
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
    }
}
