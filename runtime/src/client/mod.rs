//! The calling side of a generated API, the same for every spec (feature `client`): one
//! [`Connection`] sends any [`WireRequest`] and reads its answer or Twilio's error.

use futures_util::{StreamExt as _, TryStreamExt as _};

use crate::{ListPage, TwilioError, WireRequest};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with Twilio's error body.
    #[error("{0}")]
    Api(TwilioError),
    /// The request could not be sent or its answer not read.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The server's answer is not what the spec says.
    #[error("unexpected answer (HTTP {status}): {detail}")]
    Unexpected {
        /// The HTTP status (0 when no request was sent).
        status: u16,
        /// What did not fit, with at most 200 bytes of the body.
        detail: String,
    },
}

impl ClientError {
    /// Twilio's error code, when the server sent one.
    pub fn code(&self) -> Option<i64> {
        self.api_error().map(|e| e.code)
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => u16::try_from(e.status).ok(),
            Self::Unexpected { status, .. } => Some(*status),
            Self::Http(e) => e.status().map(|s| s.as_u16()),
        }
    }

    /// The error body, when the server sent one.
    pub fn api_error(&self) -> Option<&TwilioError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// A server and the credentials to call it with.
#[derive(Clone)]
pub struct Connection {
    http: reqwest::Client,
    base_url: String,
    username: String,
    password: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection to the server at `base_url` (including the base path, e.g.
    /// `http://127.0.0.1:8080/v2`), authenticating with HTTP Basic: an account SID and auth
    /// token, or an API key SID and secret. 30-second timeout, no redirects.
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, ClientError> {
        #[cfg(feature = "tls")]
        {
            // reqwest is built without a TLS provider of its own; use ring. Installing fails
            // harmlessly when the process already chose one.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self::with_http_client(http, base_url, username, password))
    }

    /// A connection that sends through `http` (its own timeouts, proxies, TLS).
    pub fn with_http_client(
        http: reqwest::Client,
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { http, base_url, username: username.into(), password: password.into() }
    }

    /// The same server with other credentials.
    #[must_use]
    pub fn with_credentials(&self, username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            http: self.http.clone(),
            base_url: self.base_url.clone(),
            username: username.into(),
            password: password.into(),
        }
    }

    /// The server's URL, base path included, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url_of<R: WireRequest>(&self, request: &R) -> String {
        let mut url = format!("{}{}", self.base_url, request.path());
        let query = request.query();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.to_urlencoded());
        }
        url
    }

    /// Sends any operation's request and reads its answer.
    pub async fn send<R: WireRequest>(&self, request: &R) -> Result<R::Response, ClientError>
    where
        R::Response: serde::de::DeserializeOwned,
    {
        let method = reqwest::Method::from_bytes(R::METHOD.as_bytes())
            .map_err(|_| ClientError::Unexpected { status: 0, detail: format!("method {}", R::METHOD) })?;
        let mut builder =
            self.http.request(method, self.url_of(request)).basic_auth(&self.username, Some(&self.password));
        if R::METHOD == "POST" {
            let body = request.body();
            builder = builder.header(reqwest::header::CONTENT_TYPE, body.kind().media_type()).body(body.to_text());
        }
        read(builder.send().await?).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ClientError> {
        let response = self.http.get(url).basic_auth(&self.username, Some(&self.password)).send().await?;
        read(response).await
    }

    /// Every item of a list operation, following `next_page_url` page by page.
    pub fn paginate<'a, R>(
        &'a self,
        request: &R,
    ) -> impl futures_util::Stream<Item = Result<<R::Response as ListPage>::Item, ClientError>> + Send + 'a
    where
        R: WireRequest,
        R::Response: ListPage + serde::de::DeserializeOwned + Send + 'a,
        <R::Response as ListPage>::Item: Send + 'a,
    {
        let first = self.url_of(request);
        futures_util::stream::try_unfold(Some(first), move |next| async move {
            let Some(url) = next else { return Ok::<_, ClientError>(None) };
            let page: R::Response = self.get(&url).await?;
            let next = page.next_page_url().map(str::to_owned);
            Ok(Some((futures_util::stream::iter(page.into_items().into_iter().map(Ok)), next)))
        })
        .try_flatten()
        .boxed()
    }
}

/// A success body as the spec's type (`null` for an empty 204), or Twilio's error.
async fn read<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    decode_answer(status, &bytes)
}

/// The body of an answer with `status`: the spec's type for a 2xx, else Twilio's error.
fn decode_answer<T: serde::de::DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, ClientError> {
    if (200..300).contains(&status) {
        let body: &[u8] = if bytes.is_empty() { b"null" } else { bytes };
        return serde_json::from_slice(body).map_err(|e| ClientError::Unexpected { status, detail: e.to_string() });
    }
    match serde_json::from_slice::<TwilioError>(bytes) {
        Ok(error) => Err(ClientError::Api(error)),
        Err(_) => Err(ClientError::Unexpected {
            status,
            detail: String::from_utf8_lossy(bytes.get(..200).unwrap_or(bytes)).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decode_as_body_or_error() {
        let ok: serde_json::Value = decode_answer(200, br#"{"a":1}"#).unwrap();
        assert_eq!(ok["a"], 1);
        let none: () = decode_answer(204, b"").unwrap();
        assert_eq!(none, ());
        let error = decode_answer::<()>(
            400,
            br#"{"code":60200,"message":"Invalid parameter: To","more_info":"https://www.twilio.com/docs/errors/60200","status":400}"#,
        )
        .unwrap_err();
        assert_eq!((error.code(), error.status()), (Some(60200), Some(400)));
        assert_eq!(error.to_string(), "Invalid parameter: To (code 60200, HTTP 400)");
        let garbage = decode_answer::<()>(502, &[b'x'; 500]).unwrap_err();
        assert!(matches!(&garbage, ClientError::Unexpected { status: 502, detail } if detail.len() == 200));
        assert!(matches!(decode_answer::<u8>(200, b"{}"), Err(ClientError::Unexpected { status: 200, .. })));
    }

    #[test]
    fn debug_never_prints_the_password() {
        let c = Connection::new("http://x/v2/", "AC1", "hunter2").unwrap();
        assert_eq!(c.base_url(), "http://x/v2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
