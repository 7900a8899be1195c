//! Reading a request: its credentials and its body.

use axum::http::{HeaderMap, header};

use super::Credentials;
use crate::{Body, BodyKind, TwilioError, UNSUPPORTED_MEDIA_TYPE};

/// Twilio's generic code for a request it cannot read: here, a JSON body that is not one JSON
/// object (the operation's own codes name parameters, and no parameter can be named then).
const MALFORMED_BODY: u32 = 20001;

/// `Authorization: Basic base64(username:password)`; `None` when absent or malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<Credentials> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some(Credentials { username: username.to_owned(), password: password.to_owned() })
}

/// The body as `kind` says: at most `limit` bytes (413 `20413` beyond, by the declared length
/// or the bytes read); when not empty, of `kind`'s media type (415 `20415`), and for JSON one
/// JSON object (400 `20001`). An empty body is an empty form or object.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
    kind: BodyKind,
) -> Result<Body, TwilioError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))?;
    if bytes.is_empty() {
        return Ok(Body::empty(kind));
    }
    if !has_media_type(headers, kind.media_type()) {
        let message = format!("Request bodies must be {}", kind.media_type());
        return Err(TwilioError::new(415, UNSUPPORTED_MEDIA_TYPE, message));
    }
    // The parser's message would quote the body: the answer only says what was expected.
    Body::parse(kind, &bytes)
        .map_err(|_| TwilioError::new(400, MALFORMED_BODY, "The request body must be one JSON object"))
}

fn too_large(limit: usize) -> TwilioError {
    TwilioError::new(413, 20413, format!("The request body is larger than {limit} bytes"))
}

/// Whether `Content-Type` names `media` (parameters such as `charset` aside, any case).
fn has_media_type(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonBody;
    use crate::form::FormPairs;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let h = headers(&[(header::AUTHORIZATION, "Basic QUMxOnM6ZWNyZXQ=")]); // AC1:s:ecret
        let c = basic_credentials(&h).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("AC1", "s:ecret"));
        assert!(basic_credentials(&headers(&[(header::AUTHORIZATION, "bAsIc QUMxOnM=")])).is_some());
        for bad in ["Bearer QUMxOnM=", "Basic", "Basic !!!", "Basic QUMx" /* no colon */, "Basic //79"] {
            assert!(basic_credentials(&headers(&[(header::AUTHORIZATION, bad)])).is_none(), "{bad}");
        }
        assert!(basic_credentials(&HeaderMap::new()).is_none());
    }

    async fn read_form(headers: &HeaderMap, body: axum::body::Body, limit: usize) -> Result<FormPairs, TwilioError> {
        match read_body(headers, body, limit, BodyKind::Form).await? {
            Body::Form(pairs) => Ok(pairs),
            other => panic!("a form was read as {other:?}"),
        }
    }

    async fn read_json(headers: &HeaderMap, body: &str, limit: usize) -> Result<JsonBody, TwilioError> {
        match read_body(headers, body.to_owned().into(), limit, BodyKind::Json).await? {
            Body::Json(members) => Ok(members),
            other => panic!("JSON was read as {other:?}"),
        }
    }

    #[tokio::test]
    async fn form_bodies_are_bounded_and_typed() {
        let form = [(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")];
        let pairs = read_form(&headers(&form), "To=%2B1&A=b".into(), 64).await.unwrap();
        assert_eq!(pairs.values("To").collect::<Vec<_>>(), ["+1"]);
        assert!(read_form(&HeaderMap::new(), axum::body::Body::empty(), 64).await.unwrap().is_empty());
        let e = read_form(&headers(&form), "x".repeat(65).into(), 64).await.unwrap_err();
        assert_eq!((e.status, e.code), (413, 20413));
        let declared = [(header::CONTENT_TYPE, "application/x-www-form-urlencoded"), (header::CONTENT_LENGTH, "65")];
        assert_eq!(read_form(&headers(&declared), "x".into(), 64).await.unwrap_err().code, 20413);
        let e = read_form(&headers(&[(header::CONTENT_TYPE, "text/plain")]), "A=b".into(), 64).await.unwrap_err();
        assert_eq!((e.status, e.code), (415, 20415));
        assert_eq!(e.message, "Request bodies must be application/x-www-form-urlencoded");
    }

    #[tokio::test]
    async fn json_bodies_are_bounded_typed_and_one_object() {
        let json = headers(&[(header::CONTENT_TYPE, "Application/JSON; charset=utf-8")]);
        let members = read_json(&json, r#"{"To":"+1","A":null}"#, 64).await.unwrap();
        assert_eq!(members.values("To").collect::<Vec<_>>(), [&serde_json::json!("+1")]);
        // An empty body is an empty object, with or without a type.
        assert!(read_json(&HeaderMap::new(), "", 64).await.unwrap().is_empty());
        let e = read_json(&json, &format!(r#"{{"A":"{}"}}"#, "x".repeat(60)), 64).await.unwrap_err();
        assert_eq!((e.status, e.code), (413, 20413));
        let declared = headers(&[(header::CONTENT_TYPE, "application/json"), (header::CONTENT_LENGTH, "65")]);
        assert_eq!(read_json(&declared, "{}", 64).await.unwrap_err().code, 20413);
        let form = headers(&[(header::CONTENT_TYPE, "application/x-www-form-urlencoded")]);
        for (headers, body) in [(&form, "{}"), (&HeaderMap::new(), "{}")] {
            let e = read_json(headers, body, 64).await.unwrap_err();
            assert_eq!((e.status, e.code), (415, 20415));
            assert_eq!(e.message, "Request bodies must be application/json");
        }
        for bad in ["{", "[]", "\"secret\"", "null", "{} {}", "To=%2B1", " "] {
            let e = read_json(&json, bad, 64).await.unwrap_err();
            assert_eq!((e.status, e.code), (400, 20001), "{bad}");
            assert_eq!(e.message, "The request body must be one JSON object");
        }
    }
}
