//! A webhook and its newest deliveries: status, attempts and the last error of each.

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use verifyd_core::Store;
use verifyd_models::FetchWebhookRequest;
use verifyd_server::WebhooksApi as _;

use super::layout::{badge, html, object, page, segment, text};
use super::services::sid_of;
use super::{State, answer};

/// Deliveries shown at most.
const SHOWN: u32 = 100;

pub async fn show<S: Store>(
    axum::extract::State(console): State<S>,
    headers: HeaderMap,
    Path((service, webhook)): Path<(String, String)>,
) -> Response {
    answer(async {
        let operator = console.operator(&headers).await?;
        let sid = sid_of(&console, &operator, &service)?;
        let webhook_sid = sid_of(&console, &operator, &webhook)?;
        let fail = |e: verifyd_core::CoreError| console.failed(&operator, &e);
        // Fetched through the API first: a webhook of another account or service is not found.
        let request = FetchWebhookRequest::new(sid.clone(), webhook_sid.clone());
        let webhook = object(&console.core.fetch_webhook(&operator.principal, request).await.map_err(fail)?.body);
        let account = operator.principal.account_sid();
        let deliveries = console.core.webhook_deliveries(account, &webhook_sid, SHOWN).await.map_err(fail)?;
        let chrome = console.chrome(Some(&operator));
        let body = html! {
            p { a href=(console.url(&format!("/services/{}", segment(sid.as_str())))) { "← Service" } }
            table.settings {
                tr { th { "Status" } td { (badge(&text(&webhook, "status"))) } }
                tr { th { "URL" } td.url { (text(&webhook, "webhook_url")) } }
                tr { th { "Method" } td { (text(&webhook, "webhook_method")) } }
                tr { th { "SID" } td.sid { (text(&webhook, "sid")) } }
            }
            h2 { "Deliveries" }
            table.list #deliveries {
                thead { tr { th { "Event" } th { "Status" } th { "Attempts" } th { "Last error" } th { "Created" } th { "Done" } } }
                tbody {
                    @for d in &deliveries {
                        tr data-uuid=(d.uuid) {
                            td { (d.event_type.as_str()) }
                            td.status { (badge(d.status.as_str())) }
                            td.attempts { (d.attempts) }
                            td."last-error" { (d.last_error.as_deref().unwrap_or("—")) }
                            td { (d.date_created.to_string()) }
                            td { (d.date_done.map(|t| t.to_string()).unwrap_or_else(|| "—".to_owned())) }
                        }
                    }
                }
            }
            @if deliveries.is_empty() { p.empty { "No deliveries yet." } }
        };
        Ok(html(page(&chrome, &text(&webhook, "friendly_name"), body)))
    }
    .await)
}
