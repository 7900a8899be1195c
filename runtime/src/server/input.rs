//! Reading a request: its credentials and its body.

use axum::http::{HeaderMap, header};

use super::Credentials;
use crate::TwilioError;
use crate::form::FormPairs;

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

/// The body as form pairs: at most `limit` bytes (413 `20413` beyond, by the declared length
/// or the bytes read), `application/x-www-form-urlencoded` when not empty (415 `20415`).
pub(crate) async fn read_form(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<FormPairs, TwilioError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))?;
    if bytes.is_empty() {
        return Ok(FormPairs::default());
    }
    if !has_media_type(headers, "application/x-www-form-urlencoded") {
        return Err(TwilioError::new(415, 20415, "Request bodies must be application/x-www-form-urlencoded"));
    }
    Ok(FormPairs::parse(&bytes))
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
    }
}
