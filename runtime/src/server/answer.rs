//! Writing answers: JSON bodies, Twilio's error JSON, extra headers and the `Date` header.

use std::cell::RefCell;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{Timestamp, TwilioError};

/// `body` as JSON with `status` and extra `headers`, dated `now`.
pub fn json_response<T: serde::Serialize + ?Sized>(
    status: u16,
    body: &T,
    headers: Vec<(String, String)>,
    now: Timestamp,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes(status, bytes, headers, now),
        Err(_) => error_response(&TwilioError::internal(), Vec::new(), now),
    }
}

/// Twilio's error JSON with its status and extra `headers`, dated `now`. A 401 also says how
/// to authenticate.
pub fn error_response(error: &TwilioError, headers: Vec<(String, String)>, now: Timestamp) -> Response {
    let mut response = json_bytes(error.http_status(), error.to_json(), headers, now);
    if response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Twilio API\""));
    }
    response
}

/// An empty answer (204) with extra `headers`, dated `now`.
pub(crate) fn empty_response(headers: Vec<(String, String)>, now: Timestamp) -> Response {
    finish(StatusCode::NO_CONTENT.into_response(), headers, now)
}

fn json_bytes(status: u16, bytes: Vec<u8>, headers: Vec<(String, String)>, now: Timestamp) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let response =
        (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response();
    finish(response, headers, now)
}

/// Adds the implementation's headers, then `Date` unless one of them set it.
fn finish(mut response: Response, headers: Vec<(String, String)>, now: Timestamp) -> Response {
    for (name, value) in headers {
        // A header the implementation cannot spell is dropped rather than failing the answer.
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            response.headers_mut().append(name, value);
        }
    }
    set_date(response.headers_mut(), now);
    response
}

/// Sets `Date` to `now` unless the headers have one. The text changes once a second, so each
/// thread keeps the last one it wrote rather than formatting it for every answer.
pub fn set_date(headers: &mut HeaderMap, now: Timestamp) {
    thread_local! {
        static LAST: RefCell<Option<(Timestamp, HeaderValue)>> = const { RefCell::new(None) };
    }
    if headers.contains_key(header::DATE) {
        return;
    }
    let date = LAST.with_borrow_mut(|last| match last {
        Some((at, value)) if *at == now => Some(value.clone()),
        _ => {
            let value = HeaderValue::from_str(&now.http_date()).ok()?;
            *last = Some((now, value.clone()));
            Some(value)
        }
    });
    if let Some(date) = date {
        headers.insert(header::DATE, date);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> Timestamp {
        Timestamp::from_unix(unix).unwrap()
    }

    #[test]
    fn every_answer_is_dated_by_the_given_clock() {
        let response = json_response(200, &serde_json::json!({"a": 1}), Vec::new(), at(784_111_777));
        assert_eq!(response.headers()[header::DATE], "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let response = empty_response(vec![("X-A".into(), "1".into())], at(0));
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(response.headers()[header::DATE], "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(response.headers()["x-a"], "1");
    }

    #[test]
    fn the_date_follows_the_clock_second_by_second() {
        for unix in [0, 0, 1, 784_111_777, 1] {
            let mut headers = HeaderMap::new();
            set_date(&mut headers, at(unix));
            assert_eq!(headers[header::DATE], at(unix).http_date());
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::DATE, HeaderValue::from_static("kept"));
        set_date(&mut headers, at(0));
        assert_eq!(headers[header::DATE], "kept");
    }

    #[test]
    fn a_401_says_how_to_authenticate() {
        let response = error_response(&TwilioError::unauthenticated(), Vec::new(), at(0));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"Twilio API\"");
        let response = error_response(&TwilioError::not_found("/x"), Vec::new(), at(0));
        assert!(!response.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn headers_the_implementation_sets_win_and_bad_ones_are_dropped() {
        let headers = vec![("Date".into(), "Mon, 01 Jan 2001 00:00:00 GMT".into()), ("bad name".into(), "x".into())];
        let response = json_response(201, &(), headers, at(0));
        assert_eq!(response.headers()[header::DATE], "Mon, 01 Jan 2001 00:00:00 GMT");
        assert_eq!(response.headers().len(), 2, "{:?}", response.headers());
    }
}
