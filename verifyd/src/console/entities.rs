//! An entity's factors, and TOTP enrolment: the new factor's `otpauth://` URI as a QR code for
//! an authenticator app, then a form for the app's first code, which verifies the factor.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use verifyd_core::Store;
use verifyd_models::{CreateFactorRequest, FactorType, ListFactorsRequest, UpdateFactorRequest};
use verifyd_server::FactorsApi as _;

use super::change::Change;
use super::layout::{Chrome, badge, html, items, notice, object, page, segment, text};
use super::services::{Notice, sid_of};
use super::{State, answer, qr};

pub async fn show<S: Store>(
    axum::extract::State(console): State<S>,
    headers: HeaderMap,
    Path((service, identity)): Path<(String, String)>,
    notice_key: Result<Query<Notice>, QueryRejection>,
) -> Response {
    answer(
        async {
            let operator = console.operator(&headers).await?;
            let sid = sid_of(&console, &operator, &service)?;
            let mut request = ListFactorsRequest::new(sid.clone(), identity.clone());
            request.page_size = Some(100);
            let factors = console.core.list_factors(&operator.principal, request).await;
            let factors = items(&factors.map_err(|e| console.failed(&operator, &e))?.body, "factors");
            let chrome = console.chrome(Some(&operator));
            let here = format!("/services/{}/entities/{}", segment(sid.as_str()), segment(&identity));
            let body = html! {
                (notice(notice_key.as_ref().ok().and_then(|Query(n)| n.notice.as_deref())))
                p { a href=(console.url(&format!("/services/{}", segment(sid.as_str())))) { "← Service" } }
                table.list #factors {
                    thead { tr { th { "Name" } th { "Type" } th { "Status" } th { "SID" } th { "Created" } th { "" } } }
                    tbody {
                        @for f in &factors {
                            tr data-factor=(text(f, "sid")) {
                                td { (text(f, "friendly_name")) }
                                td { (text(f, "factor_type")) }
                                td.status { (badge(&text(f, "status"))) }
                                td.sid { (text(f, "sid")) }
                                td { (text(f, "date_created")) }
                                td.actions {
                                    @if text(f, "factor_type") == "totp" && text(f, "status") == "unverified" {
                                        (verify_form(&chrome, &here, &text(f, "sid"), false))
                                    }
                                }
                            }
                        }
                    }
                }
                @if factors.is_empty() { p.empty { "No factors." } }
            };
            Ok(html(page(&chrome, &identity, body)))
        }
        .await,
    )
}

/// The form that verifies a factor with its first code; `with_ids` on the enrolment page, where
/// it is the only one.
fn verify_form(chrome: &Chrome<'_>, entity_path: &str, factor: &str, with_ids: bool) -> Markup {
    html! {
        form.inline.verify method="post" action=(chrome.url(&format!("{entity_path}/factors/{}/verify", segment(factor)))) {
            (chrome.csrf())
            input.code-input id=[with_ids.then_some("totp-code")] name="code" required inputmode="numeric" autocomplete="one-time-code" placeholder="Code" aria-label="Code from the app";
            button id=[with_ids.then_some("verify-factor")] type="submit" { "Verify" }
        }
    }
}

#[derive(Deserialize)]
pub struct Enrolment {
    identity: String,
    friendly_name: String,
}

/// Creates a TOTP factor and shows its QR code: this page is the only place its secret is
/// shown (it is sealed at rest and never answered again).
pub async fn enrol_totp<S: Store>(
    axum::extract::State(console): State<S>,
    Path(service): Path<String>,
    Change { operator, form }: Change<Enrolment>,
) -> Response {
    answer(async {
        let sid = sid_of(&console, &operator, &service)?;
        let identity = form.identity.trim().to_owned();
        let request =
            CreateFactorRequest::new(sid.clone(), identity.clone(), form.friendly_name.trim().to_owned(), FactorType::Totp);
        let created = console.core.create_factor(&operator.principal, request).await;
        let factor = object(&created.map_err(|e| console.failed(&operator, &e))?.body);
        let binding = factor.get("binding").cloned().unwrap_or_default();
        let uri = text(&binding, "uri");
        let chrome = console.chrome(Some(&operator));
        let entity_path = format!("/services/{}/entities/{}", segment(sid.as_str()), segment(&identity));
        let body = html! {
            p { "Scan this code with an authenticator app, then enter the code the app shows to verify the factor." }
            figure.qr #totp-qr { (qr::svg(&uri)) }
            details {
                summary { "Can't scan it?" }
                p { "Enter this secret in the app: " code #totp-secret { (text(&binding, "secret")) } }
                p { code #totp-uri { (uri) } }
            }
            (verify_form(&chrome, &entity_path, &text(&factor, "sid"), true))
            p { a href=(console.url(&entity_path)) { "Later: the entity's factors" } }
        };
        Ok(html(page(&chrome, "Enrol a TOTP factor", body)))
    }
    .await)
}

#[derive(Deserialize)]
pub struct Code {
    code: String,
}

pub async fn verify<S: Store>(
    axum::extract::State(console): State<S>,
    Path((service, identity, factor)): Path<(String, String, String)>,
    Change { operator, form }: Change<Code>,
) -> Response {
    answer(
        async {
            let sid = sid_of(&console, &operator, &service)?;
            let factor = sid_of(&console, &operator, &factor)?;
            let mut request = UpdateFactorRequest::new(sid.clone(), identity.clone(), factor);
            request.auth_payload = Some(form.code.trim().to_owned());
            let updated = console.core.update_factor(&operator.principal, request).await;
            let updated = object(&updated.map_err(|e| console.failed(&operator, &e))?.body);
            let outcome = if text(&updated, "status") == "verified" { "factor-verified" } else { "wrong-code" };
            let to = format!("/services/{}/entities/{}?notice={outcome}", segment(sid.as_str()), segment(&identity));
            Ok(Redirect::to(&console.url(&to)).into_response())
        }
        .await,
    )
}
