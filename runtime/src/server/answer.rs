//! Writing answers: JSON bodies, Twilio's error JSON, extra headers and the `Date` header.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
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
    if !response.headers().contains_key(header::DATE)
        && let Ok(date) = HeaderValue::from_str(&now.http_date())
    {
        response.headers_mut().insert(header::DATE, date);
    }
    response
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
