//! Signing in to the console: a session cookie, and the CSRF tokens that guard every change.
//!
//! The session cookie holds the credentials the operator signed in with, sealed (AEAD, a
//! subkey of the master key, `SealContext::ConsoleSession`) together with the session's CSRF
//! token and its expiry. Every request opens it and authenticates those credentials again, so
//! a rotated auth token or a revoked API key ends its sessions with no session table (at once
//! on the instance that made the change, within the credential cache's seconds on the
//! others); a cookie is useless without the master key. It is `HttpOnly`,
//! `SameSite=Strict`, scoped to the console's path, and `Secure` when the public URL is https.
//!
//! CSRF: every form carries the session's token, compared in constant time; the login form,
//! which has no session yet, carries a token that must equal a cookie of its own (double
//! submit). A request whose `Origin` names another site is refused before either.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use verifyd_core::keys::{Keys, SealContext, random_hex};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "verifyd_console";
/// The login form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "verifyd_console_login";
/// Seconds a session lasts from sign-in (an absolute limit: a working day).
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// Seconds a login form stays usable.
pub const LOGIN_SECONDS: i64 = 3600;

/// What the session cookie seals.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The account SID or API key SID.
    username: String,
    password: String,
    csrf: String,
    /// Unix seconds after which the session is over.
    expires: i64,
}

/// An open session: the credentials to authenticate again, and the token its forms carry.
pub struct Session {
    pub username: String,
    pub password: String,
    pub csrf: String,
}

/// A new session for these credentials, as a cookie value, and its CSRF token.
pub fn seal(keys: &Keys, username: &str, password: &str, now: i64) -> (String, String) {
    let csrf = random_hex(32);
    let sealed = Sealed {
        username: username.to_owned(),
        password: password.to_owned(),
        csrf: csrf.clone(),
        expires: now.saturating_add(SESSION_SECONDS),
    };
    // Serializing a struct of strings and a number cannot fail.
    let json = serde_json::to_vec(&sealed).unwrap_or_default();
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(keys.seal(SealContext::ConsoleSession, &json));
    (value, csrf)
}

/// The session a cookie value holds, when it opens with these keys and has not expired.
pub fn open(keys: &Keys, value: &str, now: i64) -> Option<Session> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value).ok()?;
    let json = keys.open(SealContext::ConsoleSession, &bytes).ok()?;
    let sealed: Sealed = serde_json::from_slice(&json).ok()?;
    (now < sealed.expires).then_some(Session {
        username: sealed.username,
        password: sealed.password,
        csrf: sealed.csrf,
    })
}

/// A new token for a login form (and its cookie).
pub fn login_token() -> String {
    random_hex(32)
}

/// Whether a form's token is the expected one, in constant time.
pub fn same_token(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A cookie of the request by name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Where the console's cookies apply and whether they need https.
#[derive(Debug, Clone)]
pub struct CookieScope {
    /// The console's path with a trailing slash (`/console/`, or under the public URL's path).
    pub path: String,
    pub secure: bool,
}

impl CookieScope {
    /// A `Set-Cookie` value: `value` for `max_age` seconds (0 removes it).
    pub fn set(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!("{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}", self.path);
        // Names, base64url and hex values and a path of URL characters: always a valid header.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A `Set-Cookie` value that removes the cookie.
    pub fn clear(&self, name: &str) -> HeaderValue {
        self.set(name, "", 0)
    }
}

/// Whether a change may come from this request's page: no `Origin`, or the public URL's
/// origin, or one whose host is the request's own `Host` (a server reached by another name in
/// development). Browsers send `Origin` with every cross-site POST.
pub fn same_origin(headers: &HeaderMap, public_origin: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if origin.eq_ignore_ascii_case(public_origin) {
        return true;
    }
    let Some(Ok(host)) = headers.get(header::HOST).map(|h| h.to_str()) else { return false };
    origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use verifyd_core::keys::MasterKey;

    fn keys() -> Keys {
        Keys::derive(&MasterKey::generate())
    }

    #[test]
    fn a_session_opens_with_its_keys_until_it_expires() {
        let keys = keys();
        let (value, csrf) = seal(&keys, "ACx", "token", 1000);
        let session = open(&keys, &value, 1000).expect("opens");
        assert_eq!((session.username.as_str(), session.password.as_str()), ("ACx", "token"));
        assert_eq!(session.csrf, csrf);
        assert!(open(&keys, &value, 1000 + SESSION_SECONDS - 1).is_some());
        assert!(open(&keys, &value, 1000 + SESSION_SECONDS).is_none(), "expired");
        assert!(open(&self::keys(), &value, 1000).is_none(), "other keys");
        assert!(!value.contains("token"), "the credentials are sealed");
    }

    #[test]
    fn an_altered_session_does_not_open() {
        let keys = keys();
        let (value, _) = seal(&keys, "ACx", "token", 1000);
        let mut bytes = value.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&keys, &String::from_utf8(bytes).unwrap(), 1000).is_none());
        assert!(open(&keys, "not base64 !", 1000).is_none());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", ""));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; verifyd_console=xyz; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn cookies_are_strict_http_only_and_secure_over_https() {
        let scope = CookieScope { path: "/console/".to_owned(), secure: true };
        assert_eq!(
            scope.set("n", "v", 60).to_str().unwrap(),
            "n=v; Path=/console/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let plain = CookieScope { path: "/console/".to_owned(), secure: false };
        assert!(!plain.clear("n").to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn a_cross_site_origin_is_refused() {
        let mut headers = HeaderMap::new();
        let public = "https://verify.example.com";
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers, public));
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&headers, public));
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://verify.example.com"));
        assert!(same_origin(&headers, public), "behind a proxy that rewrites Host");
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&headers, public));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers, public));
    }
}
