//! What the HTTP providers share: the client, URL checks, reading an answer with a bound,
//! and turning a failed request into a [`SendFailure`].

use std::time::Duration;

use reqwest::{Response, StatusCode, Url};
use verifyd_core::provider::SendFailure;

use crate::ConfigError;

/// A request gives up after this long, unless the provider was given another timeout.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer's body read (a message id or an error fits many times over).
const MAX_BODY: usize = 64 * 1024;
/// The most of an error body quoted in a failure's reason.
const MAX_QUOTED: usize = 200;

/// A client with no proxy from the environment, no redirects, and rustls with ring. The
/// timeout is set per request, so that a provider's can change after construction.
pub(crate) fn client() -> Result<reqwest::Client, ConfigError> {
    // reqwest is built without a TLS provider of its own; use ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(DEFAULT_TIMEOUT)
        .user_agent(concat!("verifyd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::HttpClient(e.to_string()))
}

/// `value` as an absolute http(s) URL, or why not.
pub(crate) fn http_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the scheme is {:?}", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries credentials; configure them separately".to_owned());
    }
    Ok(url)
}

/// Why a request that got no answer failed: always transient.
pub(crate) fn request_failure(who: &str, timeout: Duration, error: &reqwest::Error) -> SendFailure {
    if error.is_timeout() {
        return SendFailure::Transient(format!("{who}: no answer within {} s", timeout.as_secs_f64()));
    }
    let text = error.to_string();
    // Keep reasons short and free of the URL (its query may carry a secret).
    let text = text.split(" for url").next().unwrap_or(&text);
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        SendFailure::Transient(format!("{who}: {text}"))
    } else {
        SendFailure::Transient(format!("{who}: {text}: {detail}"))
    }
}

/// Whether a non-2xx answer may succeed later: a 5xx, 408 (Request Timeout) or 429 (Too Many
/// Requests). Every other one (a 4xx; a 3xx, since redirects are not followed) will not.
pub(crate) fn is_transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS
}

/// Up to [`MAX_BODY`] bytes of the body; a body cut short by a failure is what arrived.
pub(crate) async fn read_body(mut response: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_BODY - body.len();
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if body.len() >= MAX_BODY {
            break;
        }
    }
    body
}

/// The start of an error body, on one line, for a failure's reason.
pub(crate) fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > MAX_QUOTED {
        out = out.chars().take(MAX_QUOTED).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_a_short_single_line() {
        assert_eq!(quote(b"  bad\n  number "), "bad number");
        let long = "x".repeat(500);
        let quoted = quote(long.as_bytes());
        assert_eq!(quoted.chars().count(), MAX_QUOTED + 1);
        assert!(quoted.ends_with('…'));
    }

    #[test]
    fn checks_urls() {
        assert!(http_url("http://127.0.0.1:8080/send").is_ok());
        assert!(http_url("https://gw.example/hook?x=1").is_ok());
        assert!(http_url("ftp://gw.example").is_err());
        assert!(http_url("gw.example/send").is_err());
        assert!(http_url("https://user:pw@gw.example").is_err());
    }

    #[test]
    fn transient_statuses() {
        for code in [500, 502, 503, 408, 429] {
            assert!(is_transient(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [400, 401, 403, 404, 301, 302] {
            assert!(!is_transient(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }
}
