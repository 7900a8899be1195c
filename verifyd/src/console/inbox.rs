//! The outbox as an inbox: every message the account's verifications sent, newest first, the
//! code large. The page's script reloads the list while it is open.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use verifyd_core::Store;

use super::layout::{html, page, segment};
use super::{State, answer};

/// Messages shown at most.
const SHOWN: u32 = 100;

#[derive(Deserialize)]
pub struct Filter {
    to: Option<String>,
}

pub async fn show<S: Store>(
    axum::extract::State(console): State<S>,
    headers: HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    answer(async {
        let operator = console.operator(&headers).await?;
        let to = filter.ok().and_then(|Query(f)| f.to).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let messages = console
            .core
            .outbox(Some(operator.principal.account_sid()), SHOWN)
            .await
            .map_err(|e| console.failed(&operator, &e))?;
        let messages: Vec<_> = messages.into_iter().filter(|m| to.as_deref().is_none_or(|to| m.to == to)).collect();
        let chrome = console.chrome(Some(&operator));
        let body = html! {
            form.filter method="get" action=(console.url("/inbox")) {
                label { "To" input name="to" value=(to.as_deref().unwrap_or_default()) placeholder="+15551234567 or name@example.com"; }
                button type="submit" { "Filter" }
            }
            p.hint { "Messages the outbox provider kept instead of sending (development mode, or a channel whose provider is the outbox). This list reloads itself." }
            section #messages data-refresh="3000" {
                @if messages.is_empty() { p.empty { "No messages yet. Start a verification from a service's page." } }
                @for m in &messages {
                    article.message data-to=(m.to) {
                        div.meta {
                            strong.to { (m.to) }
                            span.channel { (m.channel.as_string()) }
                            time { (m.date_created.to_string()) }
                        }
                        @if let Some(code) = &m.code { div.code aria-label="Code" { (code) } }
                        p.body { (m.body) }
                        p.links {
                            a href=(console.url(&format!("/services/{}", segment(m.service_sid.as_str())))) { "Service" }
                            @if let Some(v) = &m.verification_sid { " · " span.sid { (v.as_str()) } }
                        }
                    }
                }
            }
        };
        Ok(html(page(&chrome, "Inbox", body)))
    }
    .await)
}
