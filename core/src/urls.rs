//! Resource URLs, built on the configured public base URL with exactly Twilio's paths, so
//! that a client following `url`, `links` or `next_page_url` stays on this server.

use verifyd_runtime::HttpUrl;

use crate::CoreError;

#[derive(Debug, Clone)]
pub struct Urls {
    /// `https://verify.example.com/v2`
    base: HttpUrl,
}

impl Urls {
    pub fn new(public_url: &str) -> Result<Self, CoreError> {
        let base = format!("{}{}", public_url.trim_end_matches('/'), verifyd_server::BASE_PATH);
        let base = HttpUrl::parse(&base)
            .map_err(|_| CoreError::Internal(format!("the public URL {public_url} is not an http(s) URL")))?;
        Ok(Self { base })
    }

    /// The URL of a path below `/v2` (`/Services/VA…`), optionally with a query.
    pub fn at(&self, path: &str) -> Result<HttpUrl, CoreError> {
        self.base.join(path).map_err(|_| CoreError::Internal(format!("cannot build a URL for {path}")))
    }
}
