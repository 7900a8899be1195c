//! A rate limit and its buckets.

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use verifyd_core::Store;
use verifyd_models::{FetchRateLimitRequest, ListBucketsRequest};
use verifyd_server::RateLimitsApi as _;

use super::layout::{html, items, object, page, segment, text};
use super::services::sid_of;
use super::{State, answer};

pub async fn show<S: Store>(
    axum::extract::State(console): State<S>,
    headers: HeaderMap,
    Path((service, rate_limit)): Path<(String, String)>,
) -> Response {
    answer(
        async {
            let operator = console.operator(&headers).await?;
            let sid = sid_of(&console, &operator, &service)?;
            let rate_limit_sid = sid_of(&console, &operator, &rate_limit)?;
            let fail = |e: verifyd_core::CoreError| console.failed(&operator, &e);
            let core = &console.core;
            let request = FetchRateLimitRequest::new(sid.clone(), rate_limit_sid.clone());
            let limit = object(&core.fetch_rate_limit(&operator.principal, request).await.map_err(fail)?.body);
            let mut request = ListBucketsRequest::new(sid.clone(), rate_limit_sid);
            request.page_size = Some(100);
            let buckets = items(&core.list_buckets(&operator.principal, request).await.map_err(fail)?.body, "buckets");
            let chrome = console.chrome(Some(&operator));
            let body = html! {
                p { a href=(console.url(&format!("/services/{}", segment(sid.as_str())))) { "← Service" } }
                p { (text(&limit, "description")) }
                h2 { "Buckets" }
                table.list #buckets {
                    thead { tr { th { "Max" } th { "Interval (s)" } th { "SID" } th { "Created" } } }
                    tbody {
                        @for b in &buckets {
                            tr {
                                td { (text(b, "max")) }
                                td { (text(b, "interval")) }
                                td.sid { (text(b, "sid")) }
                                td { (text(b, "date_created")) }
                            }
                        }
                    }
                }
                @if buckets.is_empty() { p.empty { "No buckets: this limit counts nothing yet." } }
            };
            Ok(html(page(&chrome, &text(&limit, "unique_name"), body)))
        }
        .await,
    )
}
