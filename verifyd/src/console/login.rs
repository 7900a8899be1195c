//! The login form (`/console/`), signing in and signing out.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use verifyd_core::Store;

use super::change::{Change, NoFields};
use super::session::{self, LOGIN_COOKIE, LOGIN_SECONDS, SESSION_COOKIE, SESSION_SECONDS};
use super::{Console, State};

/// The login form, or the inbox for an operator already signed in.
pub async fn page<S: Store>(axum::extract::State(console): State<S>, headers: HeaderMap) -> Response {
    if console.operator(&headers).await.is_ok() {
        return Redirect::to(&console.url("/inbox")).into_response();
    }
    login_form(&console, StatusCode::OK, None)
}

/// The form with a new token, its cookie set beside it.
fn login_form<S: Store>(console: &Console<S>, status: StatusCode, error: Option<&str>) -> Response {
    let token = session::login_token();
    let chrome = console.chrome(None);
    let body = html! {
        p { "Sign in with the account's SID and auth token, or an API key's SID and secret." }
        @if let Some(error) = error { p.error role="alert" { (error) } }
        form.login method="post" action=(console.url("/login")) {
            input type="hidden" name="csrf" value=(token);
            label { "Account SID or API key SID"
                input #username name="username" required autocomplete="username" autocapitalize="none" spellcheck="false";
            }
            label { "Auth token or secret"
                input #password name="password" type="password" required autocomplete="current-password";
            }
            button #sign-in type="submit" { "Sign in" }
        }
    };
    let mut response = (status, Html(super::layout::page(&chrome, "Sign in", body).into_string())).into_response();
    response.headers_mut().append(header::SET_COOKIE, console.cookies.set(LOGIN_COOKIE, &token, LOGIN_SECONDS));
    response
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
    csrf: String,
}

/// Signs in: the form's token must be its cookie's, and the credentials the account's own
/// (or an API key's); a device or enrolment token is not an operator.
pub async fn sign_in<S: Store>(
    axum::extract::State(console): State<S>,
    headers: HeaderMap,
    form: Result<Form<Credentials>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return login_form(&console, StatusCode::BAD_REQUEST, Some("Enter both fields."));
    };
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !session::same_origin(&headers, &console.public_origin) || !session::same_token(expected, &form.csrf) {
        return login_form(&console, StatusCode::FORBIDDEN, Some("The form had expired. Try again."));
    }
    let username = form.username.trim();
    match console.core.authenticate_basic(username, &form.password).await {
        Ok(principal) if principal.is_backend() => {
            let now = console.core.clock().now().unix();
            let (cookie, _) = session::seal(console.core.keys(), username, &form.password, now);
            tracing::info!(target: "verifyd::console", account = %principal.account_sid(), "signed in to the console");
            let mut response = Redirect::to(&console.url("/inbox")).into_response();
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, console.cookies.set(SESSION_COOKIE, &cookie, SESSION_SECONDS));
            headers.append(header::SET_COOKIE, console.cookies.clear(LOGIN_COOKIE));
            response
        }
        _ => login_form(&console, StatusCode::UNAUTHORIZED, Some("Those credentials were not accepted.")),
    }
}

/// Signs out: the session cookie is removed (the credentials it sealed stay valid for the API).
/// Taking a [`Change`] makes it need the session's token, as every change does.
pub async fn sign_out<S: Store>(axum::extract::State(console): State<S>, _: Change<NoFields>) -> Response {
    let mut response = Redirect::to(&console.url("/")).into_response();
    response.headers_mut().append(header::SET_COOKIE, console.cookies.clear(SESSION_COOKIE));
    response
}
