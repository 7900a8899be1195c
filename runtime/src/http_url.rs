//! [`HttpUrl`]: the absolute http(s) URLs of webhook targets and resource links.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An absolute `http` or `https` URL, as webhook targets and resource links are.
///
/// Only its shape is checked here (scheme, a host, no whitespace or control characters);
/// whether the server may call it is decided where it is called.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpUrl(String);

/// The text is not an absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an absolute http(s) URL")]
pub struct MalformedUrl;

impl HttpUrl {
    /// Checks the shape of `s`: scheme `http` or `https` (any case), a non-empty host, no
    /// whitespace or control characters. The text is kept as it is, not normalised.
    pub fn parse(s: &str) -> Result<Self, MalformedUrl> {
        let rest = strip_prefix_ignore_case(s, "https://")
            .or_else(|| strip_prefix_ignore_case(s, "http://"))
            .ok_or(MalformedUrl)?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let host = if host_port.starts_with('[') {
            host_port.split_inclusive(']').next().unwrap_or("")
        } else {
            host_port.split(':').next().unwrap_or("")
        };
        let clean = s.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if clean && !host.is_empty() && host != "[" { Ok(Self(s.to_owned())) } else { Err(MalformedUrl) }
    }

    /// This URL with `tail`, a path (`/…`) or a query (`?…`), appended. Only the tail is
    /// checked: appended after the authority, it cannot change the scheme or the host.
    pub fn join(&self, tail: &str) -> Result<Self, MalformedUrl> {
        let clean = tail.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if clean && (tail.starts_with('/') || tail.starts_with('?')) {
            Ok(Self(format!("{}{tail}", self.0)))
        } else {
            Err(MalformedUrl)
        }
    }

    /// The URL as it was parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `s` without `prefix` (ASCII, any case); `None` when `s` does not start with it. `get`,
/// not slicing: the text may be anyone's, with a multi-byte character where the prefix ends.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { s.get(prefix.len()..) } else { None }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpUrl({})", self.0)
    }
}

impl std::str::FromStr for HttpUrl {
    type Err = MalformedUrl;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for HttpUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for HttpUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(|_| serde::de::Error::custom(format_args!("malformed URL {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joined_url_is_the_one_parsed_from_the_whole_text() {
        let base = HttpUrl::parse("https://verify.example.com/v2").unwrap();
        for tail in ["/Services/VA1", "/Services?PageSize=2&Page=1", "/a@b/c", "?x=1"] {
            let joined = base.join(tail).unwrap();
            assert_eq!(Some(joined.clone()), HttpUrl::parse(&format!("{base}{tail}")).ok(), "{tail}");
            assert_eq!(joined.as_str(), format!("https://verify.example.com/v2{tail}"));
        }
        for tail in ["", "Services", "@evil.example/x", "/a b", "/a\nb", "#f"] {
            assert_eq!(base.join(tail), Err(MalformedUrl), "{tail:?}");
        }
    }

    #[test]
    fn accepts_http_and_https() {
        for ok in ["https://example.com", "http://127.0.0.1:8080/hook?a=b", "HTTPS://user@host/x#y", "http://[::1]:80/"]
        {
            assert!(HttpUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_others() {
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "http://:80/",
            "https://user@/x",
            "é",
            "httpé://x",
            "http:/é/x",
            "https:/éx",
        ] {
            assert_eq!(HttpUrl::parse(bad), Err(MalformedUrl), "{bad}");
        }
    }
}
