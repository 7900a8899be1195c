//! The console: a few server-rendered pages under `/console/` for people, behind the account's
//! credentials: the outbox as an inbox, services and their settings, verifications, entities
//! and factors (TOTP enrolment as a QR code), webhooks and their deliveries, rate limits and
//! their buckets. Every change goes through the same `Core` methods the API calls, as the
//! signed-in account, so the console can do nothing the API would refuse.
//!
//! Served when `VERIFYD_CONSOLE` is on (by default in development mode only). Every asset is
//! the binary's own; the pages' policy allows nothing else.

mod change;
mod entities;
mod inbox;
mod layout;
mod login;
mod qr;
mod rate_limits;
mod services;
pub mod session;
mod webhooks;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use verifyd_core::{Core, CoreError, Principal, Store};
use verifyd_runtime::server::WireError as _;

use self::layout::Chrome;
use self::session::{CookieScope, SESSION_COOKIE};

/// What every console page shares.
pub struct Console<S> {
    core: Arc<Core<S>>,
    /// The console's path without a trailing slash: `/console`, or under the public URL's path.
    base: String,
    /// The public URL's scheme and host, the origin the console's forms are posted from.
    public_origin: String,
    cookies: CookieScope,
}

type State<S> = axum::extract::State<Arc<Console<S>>>;

/// Only this server's own styles, script and forms; never framed, never cached. The referrer
/// policy is `same-origin`, not `no-referrer`: with that, browsers post forms with `Origin: null`,
/// which the origin check must refuse.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLES: &str = include_str!("../../assets/console/console.css");
const SCRIPT: &str = include_str!("../../assets/console/console.js");

/// The console's routes, to merge at the root of the app.
pub fn router<S: Store>(core: Arc<Core<S>>) -> axum::Router {
    let (public_origin, public_path) = split_public_url(&core.config().public_url);
    let base = format!("{public_path}/console");
    let cookies = CookieScope { path: format!("{base}/"), secure: public_origin.starts_with("https://") };
    let console = Arc::new(Console { core, base, public_origin, cookies });
    let redirect_to = format!("{}/", console.base);
    axum::Router::new()
        .route("/console", get(move || async move { Redirect::permanent(&redirect_to) }))
        .route("/console/", get(login::page::<S>))
        .route("/console/login", post(login::sign_in::<S>))
        .route("/console/logout", post(login::sign_out::<S>))
        .route("/console/inbox", get(inbox::show::<S>))
        .route("/console/services", get(services::list::<S>).post(services::create::<S>))
        .route("/console/services/{service}", get(services::show::<S>))
        .route("/console/services/{service}/verifications", post(services::start_verification::<S>))
        .route("/console/services/{service}/verifications/{verification}/check", post(services::check::<S>))
        .route("/console/services/{service}/verifications/{verification}/status", post(services::set_status::<S>))
        .route("/console/services/{service}/totp", post(entities::enrol_totp::<S>))
        .route("/console/services/{service}/entities/{identity}", get(entities::show::<S>))
        .route("/console/services/{service}/entities/{identity}/factors/{factor}/verify", post(entities::verify::<S>))
        .route("/console/services/{service}/webhooks/{webhook}", get(webhooks::show::<S>))
        .route("/console/services/{service}/rate-limits/{rate_limit}", get(rate_limits::show::<S>))
        .route("/console/assets/console.css", get(|| async { asset("text/css; charset=utf-8", STYLES) }))
        .route("/console/assets/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .with_state(console)
        .layer(tower::util::MapResponseLayer::new(|mut response: Response| {
            let headers = response.headers_mut();
            for (name, value) in [
                (header::CONTENT_SECURITY_POLICY, POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "same-origin"),
                (header::CACHE_CONTROL, "no-store"),
            ] {
                headers.insert(name, header::HeaderValue::from_static(value));
            }
            response
        }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `https://example.com/verify` → (`https://example.com`, `/verify`).
fn split_public_url(url: &str) -> (String, String) {
    let url = url.trim_end_matches('/');
    let host_start = url.find("://").map_or(0, |i| i + 3);
    match url.get(host_start..).and_then(|rest| rest.find('/')) {
        Some(slash) => {
            let at = host_start + slash;
            (url.get(..at).unwrap_or(url).to_owned(), url.get(at..).unwrap_or_default().to_owned())
        }
        None => (url.to_owned(), String::new()),
    }
}

/// A signed-in operator: who the API sees, and the token the page's forms carry.
pub struct Operator {
    principal: Principal,
    username: String,
    csrf: String,
}

/// Why a request gets no page: sent to the login form, or refused with a page saying why.
type Refusal = Box<Response>;

impl<S: Store> Console<S> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn chrome<'a>(&'a self, operator: Option<&'a Operator>) -> Chrome<'a> {
        Chrome { base: &self.base, operator }
    }

    /// The operator of the session cookie, authenticated again now; else to the login form.
    async fn operator(&self, headers: &HeaderMap) -> Result<Operator, Refusal> {
        let now = self.core.clock().now().unix();
        let session = session::cookie(headers, SESSION_COOKIE).and_then(|v| session::open(self.core.keys(), v, now));
        let Some(session) = session else { return Err(self.to_login()) };
        match self.core.authenticate_basic(&session.username, &session.password).await {
            Ok(principal) if principal.is_backend() => {
                Ok(Operator { principal, username: session.username, csrf: session.csrf })
            }
            _ => Err(self.to_login()),
        }
    }

    /// The operator of a form that changes something: posted from this console (its origin and
    /// its session's CSRF token), by a valid session.
    async fn operator_for_change(&self, headers: &HeaderMap, csrf: &str) -> Result<Operator, Refusal> {
        if !session::same_origin(headers, &self.public_origin) {
            return Err(self.refuse(None, StatusCode::FORBIDDEN, "This form was sent from another site."));
        }
        let operator = self.operator(headers).await?;
        if !session::same_token(&operator.csrf, csrf) {
            return Err(self.refuse(
                Some(&operator),
                StatusCode::FORBIDDEN,
                "This form is out of date or was not sent from the console. Reload the page and try again.",
            ));
        }
        Ok(operator)
    }

    /// To the login form, forgetting the session cookie.
    fn to_login(&self) -> Refusal {
        let mut response = Redirect::to(&self.url("/")).into_response();
        response.headers_mut().insert(header::SET_COOKIE, self.cookies.clear(SESSION_COOKIE));
        Box::new(response)
    }

    /// A page saying why the request was refused.
    fn refuse(&self, operator: Option<&Operator>, status: StatusCode, message: &str) -> Refusal {
        let page = layout::error_page(&self.chrome(operator), status, message);
        Box::new((status, axum::response::Html(page.into_string())).into_response())
    }

    /// The core's refusal, as Twilio's message on a page with its status.
    fn failed(&self, operator: &Operator, error: &CoreError) -> Refusal {
        let wire = error.to_wire();
        let status = u16::try_from(wire.status).ok().and_then(|s| StatusCode::from_u16(s).ok());
        let status = status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = format!("{} (error {})", wire.message, wire.code);
        self.refuse(Some(operator), status, &message)
    }

    /// A form that did not decode (why goes to the debug log only: it may quote the form).
    fn malformed(&self, why: &str) -> Refusal {
        tracing::debug!(why, "a console form did not decode");
        self.refuse(None, StatusCode::BAD_REQUEST, "The form was incomplete. Reload the page and try again.")
    }
}

/// A handler's answer: its page, or why there is none.
fn answer(result: Result<Response, Refusal>) -> Response {
    result.unwrap_or_else(|refusal| *refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_splits_into_origin_and_path() {
        let split = |u: &str| split_public_url(u);
        assert_eq!(split("http://127.0.0.1:8080"), ("http://127.0.0.1:8080".to_owned(), String::new()));
        assert_eq!(split("https://example.com/verify/"), ("https://example.com".to_owned(), "/verify".to_owned()));
        assert_eq!(split("https://example.com/a/b"), ("https://example.com".to_owned(), "/a/b".to_owned()));
    }
}
