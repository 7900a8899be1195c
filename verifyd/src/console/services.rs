//! Services: the list (and a form to create one), and a service's page: its settings, a form
//! to start a verification, its recent verifications (check a code, approve, cancel), its
//! entities (and TOTP enrolment), webhooks and rate limits.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use verifyd_core::Store;
use verifyd_models::{
    CreateServiceRequest, CreateVerificationCheckRequest, CreateVerificationRequest, FetchServiceRequest,
    ListEntitiesRequest, ListRateLimitsRequest, ListServicesRequest, ListWebhooksRequest, UpdateVerificationRequest,
    VerificationChannel, VerificationUpdateStatus,
};
use verifyd_runtime::{Sid, WireEnum as _};
use verifyd_server::{EntitiesApi as _, RateLimitsApi as _, ServicesApi as _, VerificationChecksApi as _};
use verifyd_server::{VerificationsApi as _, WebhooksApi as _};

use super::change::Change;
use super::layout::{badge, html, items, notice, object, page, segment, text};
use super::{Console, Refusal, State, answer};

/// Verifications a service's page lists.
const RECENT: u32 = 25;
/// The channels a verification can be started on from the console.
const CHANNELS: [&str; 4] = ["sms", "call", "email", "whatsapp"];
/// Settings not shown in a service's table: its identity and its links.
const NOT_SETTINGS: [&str; 5] = ["sid", "account_sid", "url", "links", "friendly_name"];

#[derive(Deserialize)]
pub struct Notice {
    pub(super) notice: Option<String>,
}

pub async fn list<S: Store>(
    axum::extract::State(console): State<S>,
    headers: HeaderMap,
    notice_key: Result<Query<Notice>, QueryRejection>,
) -> Response {
    answer(async {
        let operator = console.operator(&headers).await?;
        let mut request = ListServicesRequest::new();
        request.page_size = Some(100);
        let list = console.core.list_services(&operator.principal, request).await;
        let services = items(&list.map_err(|e| console.failed(&operator, &e))?.body, "services");
        let chrome = console.chrome(Some(&operator));
        let body = html! {
            (notice(notice_key.as_ref().ok().and_then(|Query(n)| n.notice.as_deref())))
            table.list #services {
                thead { tr { th { "Name" } th { "SID" } th { "Code length" } th { "Created" } } }
                tbody {
                    @for s in &services {
                        tr {
                            td { a href=(console.url(&format!("/services/{}", segment(&text(s, "sid"))))) { (text(s, "friendly_name")) } }
                            td.sid { (text(s, "sid")) }
                            td { (text(s, "code_length")) }
                            td { (text(s, "date_created")) }
                        }
                    }
                }
            }
            @if services.is_empty() { p.empty { "No services yet." } }
            h2 { "New service" }
            form.inline method="post" action=(console.url("/services")) {
                (chrome.csrf())
                label { "Friendly name" input #service-name name="friendly_name" required maxlength="32"; }
                button #create-service type="submit" { "Create" }
            }
        };
        Ok(html(page(&chrome, "Services", body)))
    }
    .await)
}

#[derive(Deserialize)]
pub struct NewService {
    friendly_name: String,
}

pub async fn create<S: Store>(
    axum::extract::State(console): State<S>,
    Change { operator, form }: Change<NewService>,
) -> Response {
    answer(
        async {
            let request = CreateServiceRequest::new(form.friendly_name.trim().to_owned());
            let created = console.core.create_service(&operator.principal, request).await;
            let service = object(&created.map_err(|e| console.failed(&operator, &e))?.body);
            let to = format!("/services/{}?notice=service-created", segment(&text(&service, "sid")));
            Ok(Redirect::to(&console.url(&to)).into_response())
        }
        .await,
    )
}

/// Back to a service's page, with a notice from the fixed set.
fn to_service<S: Store>(console: &Console<S>, service: &Sid, notice: &str) -> Response {
    Redirect::to(&console.url(&format!("/services/{}?notice={notice}", segment(service.as_str())))).into_response()
}

/// A SID from the path, or the page saying there is no such thing.
pub(super) fn sid_of<S: Store>(console: &Console<S>, operator: &super::Operator, text: &str) -> Result<Sid, Refusal> {
    Sid::parse(text).map_err(|_| console.refuse(Some(operator), StatusCode::NOT_FOUND, "There is no such resource."))
}

pub async fn show<S: Store>(
    axum::extract::State(console): State<S>,
    headers: HeaderMap,
    Path(service): Path<String>,
    notice_key: Result<Query<Notice>, QueryRejection>,
) -> Response {
    answer(async {
        let operator = console.operator(&headers).await?;
        let sid = sid_of(&console, &operator, &service)?;
        let principal = &operator.principal;
        let fail = |e: verifyd_core::CoreError| console.failed(&operator, &e);
        let core = &console.core;
        let service = object(&core.fetch_service(principal, FetchServiceRequest::new(sid.clone())).await.map_err(fail)?.body);
        let verifications =
            core.recent_verifications(principal.account_sid(), &sid, RECENT).await.map_err(fail)?;
        let entities = items(&core.list_entities(principal, ListEntitiesRequest::new(sid.clone())).await.map_err(fail)?.body, "entities");
        let webhooks = items(&core.list_webhooks(principal, ListWebhooksRequest::new(sid.clone())).await.map_err(fail)?.body, "webhooks");
        let rate_limits =
            items(&core.list_rate_limits(principal, ListRateLimitsRequest::new(sid.clone())).await.map_err(fail)?.body, "rate_limits");
        let chrome = console.chrome(Some(&operator));
        let here = format!("/services/{}", segment(sid.as_str()));
        let body = html! {
            (notice(notice_key.as_ref().ok().and_then(|Query(n)| n.notice.as_deref())))
            p.sid { (sid.as_str()) }
            section {
                h2 { "Start a verification" }
                form.inline method="post" action=(console.url(&format!("{here}/verifications"))) {
                    (chrome.csrf())
                    label { "To" input #verification-to name="to" required placeholder="+15551234567"; }
                    label { "Channel"
                        select #verification-channel name="channel" {
                            @for c in CHANNELS { option value=(c) { (c) } }
                        }
                    }
                    button #start-verification type="submit" { "Send" }
                }
            }
            section {
                h2 { "Verifications" }
                (verification_table(&console, &chrome, &here, &verifications))
            }
            section {
                h2 { "Entities" }
                ul.links #entities {
                    @for e in &entities {
                        li { a href=(console.url(&format!("{here}/entities/{}", segment(&text(e, "identity"))))) { (text(e, "identity")) } }
                    }
                }
                @if entities.is_empty() { p.empty { "No entities yet." } }
                h3 { "Enrol a TOTP factor" }
                form.inline method="post" action=(console.url(&format!("{here}/totp"))) {
                    (chrome.csrf())
                    label { "Identity" input #totp-identity name="identity" required placeholder="user-1"; }
                    label { "Name" input #totp-name name="friendly_name" required value="Authenticator app"; }
                    button #enrol-totp type="submit" { "Enrol" }
                }
            }
            section {
                h2 { "Webhooks" }
                table.list #webhooks {
                    thead { tr { th { "Name" } th { "Status" } th { "Events" } th { "URL" } } }
                    tbody {
                        @for w in &webhooks {
                            tr {
                                td { a href=(console.url(&format!("{here}/webhooks/{}", segment(&text(w, "sid"))))) { (text(w, "friendly_name")) } }
                                td { (badge(&text(w, "status"))) }
                                td { (events(w)) }
                                td.url { (text(w, "webhook_url")) }
                            }
                        }
                    }
                }
                @if webhooks.is_empty() { p.empty { "No webhooks." } }
            }
            section {
                h2 { "Rate limits" }
                ul.links #rate-limits {
                    @for r in &rate_limits {
                        li {
                            a href=(console.url(&format!("{here}/rate-limits/{}", segment(&text(r, "sid"))))) { (text(r, "unique_name")) }
                            " " span.hint { (text(r, "description")) }
                        }
                    }
                }
                @if rate_limits.is_empty() { p.empty { "No rate limits." } }
            }
            section {
                h2 { "Settings" }
                (settings(&service))
            }
        };
        Ok(html(page(&chrome, &text(&service, "friendly_name"), body)))
    }
    .await)
}

/// A webhook's event types, comma-separated.
fn events(webhook: &serde_json::Value) -> String {
    match webhook.get("event_types") {
        Some(serde_json::Value::Array(events)) => {
            events.iter().filter_map(serde_json::Value::as_str).collect::<Vec<_>>().join(", ")
        }
        _ => "—".to_owned(),
    }
}

/// Every setting of the service, nested objects as nested tables.
fn settings(value: &serde_json::Value) -> Markup {
    let serde_json::Value::Object(fields) = value else { return html! {} };
    html! {
        table.settings {
            @for (key, v) in fields.iter().filter(|(k, _)| !NOT_SETTINGS.contains(&k.as_str())) {
                tr {
                    th { (key) }
                    td {
                        @match v {
                            serde_json::Value::Object(_) => (settings(v)),
                            serde_json::Value::Null => "—",
                            serde_json::Value::String(s) => (s),
                            other => (other.to_string()),
                        }
                    }
                }
            }
        }
    }
}

fn verification_table<S: Store>(
    console: &Console<S>,
    chrome: &super::layout::Chrome<'_>,
    here: &str,
    verifications: &[verifyd_core::VerificationSummary],
) -> Markup {
    html! {
        @if verifications.is_empty() { p.empty { "No verifications yet." } }
        @else {
            table.list #verifications {
                thead { tr { th { "To" } th { "Channel" } th { "Status" } th { "Wrong checks" } th { "Sends" } th { "Created" } th { "" } } }
                tbody {
                    @for v in verifications {
                        tr data-verification=(v.sid.as_str()) {
                            td { (v.to) }
                            td { (v.channel.as_str()) }
                            td.status { (badge(v.status.as_str())) }
                            td { (v.check_attempts) }
                            td { (v.send_attempts) }
                            td { (v.date_created.to_string()) }
                            td.actions {
                                @if v.status == verifyd_models::VerificationStatus::Pending {
                                    @let at = format!("{here}/verifications/{}", segment(v.sid.as_str()));
                                    form.inline method="post" action=(console.url(&format!("{at}/check"))) {
                                        (chrome.csrf())
                                        input.code-input name="code" required inputmode="numeric" autocomplete="one-time-code" placeholder="Code" aria-label="Code";
                                        button.check type="submit" { "Check" }
                                    }
                                    form.inline method="post" action=(console.url(&format!("{at}/status"))) {
                                        (chrome.csrf())
                                        button.approve type="submit" name="status" value="approved" { "Approve" }
                                        button.cancel type="submit" name="status" value="canceled" { "Cancel" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Start {
    to: String,
    channel: String,
}

pub async fn start_verification<S: Store>(
    axum::extract::State(console): State<S>,
    Path(service): Path<String>,
    Change { operator, form }: Change<Start>,
) -> Response {
    answer(
        async {
            let sid = sid_of(&console, &operator, &service)?;
            let Some(channel) = VerificationChannel::from_known(form.channel.trim()) else {
                return Err(console.refuse(Some(&operator), StatusCode::BAD_REQUEST, "Choose a channel."));
            };
            let request = CreateVerificationRequest::new(sid.clone(), form.to.trim().to_owned(), channel);
            console
                .core
                .create_verification(&operator.principal, request)
                .await
                .map_err(|e| console.failed(&operator, &e))?;
            Ok(to_service(&console, &sid, "verification-started"))
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct Check {
    code: String,
}

pub async fn check<S: Store>(
    axum::extract::State(console): State<S>,
    Path((service, verification)): Path<(String, String)>,
    Change { operator, form }: Change<Check>,
) -> Response {
    answer(
        async {
            let sid = sid_of(&console, &operator, &service)?;
            let mut request = CreateVerificationCheckRequest::new(sid.clone());
            request.verification_sid = Some(sid_of(&console, &operator, &verification)?);
            request.code = Some(form.code.trim().to_owned());
            let checked = console.core.create_verification_check(&operator.principal, request).await;
            let checked = object(&checked.map_err(|e| console.failed(&operator, &e))?.body);
            let outcome = if text(&checked, "status") == "approved" { "approved" } else { "wrong-code" };
            Ok(to_service(&console, &sid, outcome))
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct SetStatus {
    status: String,
}

pub async fn set_status<S: Store>(
    axum::extract::State(console): State<S>,
    Path((service, verification)): Path<(String, String)>,
    Change { operator, form }: Change<SetStatus>,
) -> Response {
    answer(
        async {
            let sid = sid_of(&console, &operator, &service)?;
            let verification = sid_of(&console, &operator, &verification)?;
            let Some(status) = VerificationUpdateStatus::from_known(&form.status) else {
                return Err(console.refuse(Some(&operator), StatusCode::BAD_REQUEST, "Approve or cancel."));
            };
            let notice = if status == VerificationUpdateStatus::Approved { "approved" } else { "canceled" };
            let request = UpdateVerificationRequest::new(sid.clone(), verification, status);
            console
                .core
                .update_verification(&operator.principal, request)
                .await
                .map_err(|e| console.failed(&operator, &e))?;
            Ok(to_service(&console, &sid, notice))
        }
        .await,
    )
}
