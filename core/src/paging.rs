//! Pages of lists: `PageSize` (default 50, at most 1000), `Page` (client state, echoed) and
//! an opaque `PageToken` naming the row a page starts after (`PA…`) or before (`PB…`).

use verifyd_models::PaginationMeta;

use verifyd_runtime::InvalidParameter;

use crate::CoreError;
use crate::store::{Cursor, Page as StorePage};
use crate::urls::Urls;

/// The largest `Page`, as the spec bounds it: a client that follows `next_page_url` counts up
/// from 0, and a million pages of 1000 rows is beyond any list here. The decoder refuses a
/// larger value; a request built in code is clamped, so the next page's number never overflows.
pub const MAX_PAGE: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub size: u32,
    pub page: i64,
    pub cursor: Cursor,
}

impl PageRequest {
    /// `bad_token` is the list operation's rejection of its `PageToken`.
    pub fn new(
        page_size: Option<i64>,
        page: Option<i64>,
        token: Option<&str>,
        bad_token: InvalidParameter,
    ) -> Result<Self, CoreError> {
        let size = u32::try_from(page_size.unwrap_or(50).clamp(1, 1000)).unwrap_or(50);
        let cursor = match token {
            None => Cursor::First,
            Some(t) => parse_token(t).ok_or(bad_token)?,
        };
        Ok(Self { size, page: page.unwrap_or(0).clamp(0, MAX_PAGE), cursor })
    }

    /// Rows to ask the store for: one more than a page, to learn whether another follows.
    pub fn fetch(&self) -> u32 {
        self.size + 1
    }

    /// The page to ask the store for, in creation order.
    pub fn store_page(&self) -> StorePage {
        StorePage { cursor: self.cursor, limit: self.fetch(), descending: false }
    }
}

fn parse_token(token: &str) -> Option<Cursor> {
    let (kind, seq) = (token.get(..2)?, token.get(2..)?.parse::<i64>().ok()?);
    match kind {
        "PA" if seq >= 0 => Some(Cursor::After(seq)),
        "PB" if seq >= 0 => Some(Cursor::Before(seq)),
        _ => None,
    }
}

/// One page cut from `rows` (as the store returned them for `request`), with its meta.
pub struct Page<T> {
    pub items: Vec<T>,
    pub meta: PaginationMeta,
}

/// `path` is the list's path below `/v2`; `filters` are the list's own query parameters.
pub fn page<T>(
    mut rows: Vec<T>,
    request: &PageRequest,
    seq_of: impl Fn(&T) -> i64,
    urls: &Urls,
    path: &str,
    key: &str,
    filters: &[(&str, String)],
) -> Result<Page<T>, CoreError> {
    let size = request.size as usize;
    let extra = rows.len() > size;
    let (has_previous, has_next) = match request.cursor {
        Cursor::First => (false, extra),
        Cursor::After(_) => (true, extra),
        Cursor::Before(_) => (extra, true),
    };
    if extra {
        match request.cursor {
            // Fetched backwards: the extra row is the furthest back.
            Cursor::Before(_) => {
                rows.remove(0);
            }
            _ => rows.truncate(size),
        }
    }
    let url_for = |page: i64, token: Option<String>| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in filters {
            query.append_pair(k, v);
        }
        query.append_pair("PageSize", &request.size.to_string());
        query.append_pair("Page", &page.to_string());
        if let Some(t) = &token {
            query.append_pair("PageToken", t);
        }
        urls.at(&format!("{path}?{}", query.finish()))
    };
    let current_token = match request.cursor {
        Cursor::First => None,
        Cursor::After(seq) => Some(format!("PA{seq}")),
        Cursor::Before(seq) => Some(format!("PB{seq}")),
    };
    let next_page_url = match (has_next, rows.last()) {
        (true, Some(last)) => Some(url_for(request.page + 1, Some(format!("PA{}", seq_of(last))))?),
        _ => None,
    };
    let previous_page_url = match (has_previous, rows.first()) {
        (true, Some(first)) => Some(url_for((request.page - 1).max(0), Some(format!("PB{}", seq_of(first))))?),
        _ => None,
    };
    let meta = PaginationMeta {
        page: request.page,
        page_size: i64::from(request.size),
        first_page_url: url_for(0, None)?,
        previous_page_url,
        next_page_url,
        url: url_for(request.page, current_token)?,
        key: key.to_owned(),
    };
    Ok(Page { items: rows, meta })
}

#[cfg(test)]
mod tests {
    use verifyd_models::ListServicesField;

    use super::*;

    const BAD_TOKEN: InvalidParameter = ListServicesField::PageToken.invalid();

    fn urls() -> Urls {
        Urls::new("http://127.0.0.1:8080").unwrap()
    }

    #[test]
    fn tokens_parse_or_are_refused() {
        assert_eq!(parse_token("PA12"), Some(Cursor::After(12)));
        assert_eq!(parse_token("PB3"), Some(Cursor::Before(3)));
        for bad in ["", "PA", "PAx", "XX1", "PA-1", "PÄ1"] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
        let err = PageRequest::new(None, None, Some("nope"), BAD_TOKEN).unwrap_err();
        assert!(matches!(err, CoreError::InvalidParameter(p) if p == BAD_TOKEN));
    }

    #[test]
    fn page_numbers_beyond_the_bound_are_clamped_not_overflowed() {
        let last = PageRequest::new(Some(1), Some(MAX_PAGE), Some("PA1"), BAD_TOKEN).unwrap();
        let page = page(vec![2, 3], &last, |n| *n, &urls(), "/Services", "services", &[]).unwrap();
        assert!(page.meta.next_page_url.unwrap().as_str().contains(&format!("Page={}", MAX_PAGE + 1)));
        // The decoder refuses these (the spec's maximum); one built in code is clamped.
        for huge in [MAX_PAGE + 1, i64::MAX] {
            assert_eq!(PageRequest::new(None, Some(huge), None, BAD_TOKEN).unwrap().page, MAX_PAGE, "{huge}");
        }
    }

    #[test]
    fn a_first_page_links_forward_only() {
        let request = PageRequest::new(Some(2), None, None, BAD_TOKEN).unwrap();
        let page = page(vec![1, 2, 3], &request, |n| *n, &urls(), "/Services", "services", &[]).unwrap();
        assert_eq!(page.items, [1, 2]);
        assert_eq!(
            page.meta.next_page_url.unwrap().as_str(),
            "http://127.0.0.1:8080/v2/Services?PageSize=2&Page=1&PageToken=PA2"
        );
        assert_eq!(page.meta.previous_page_url, None);
        assert_eq!(page.meta.first_page_url.as_str(), "http://127.0.0.1:8080/v2/Services?PageSize=2&Page=0");
        assert_eq!(page.meta.key, "services");
    }

    #[test]
    fn a_later_page_links_both_ways_and_keeps_filters() {
        let request = PageRequest::new(Some(2), Some(1), Some("PA2"), BAD_TOKEN).unwrap();
        let filters = [("Status", "pending".to_owned())];
        let page = page(vec![3, 4], &request, |n| *n, &urls(), "/Services", "services", &filters).unwrap();
        assert_eq!(page.meta.next_page_url, None);
        assert_eq!(
            page.meta.previous_page_url.unwrap().as_str(),
            "http://127.0.0.1:8080/v2/Services?Status=pending&PageSize=2&Page=0&PageToken=PB3"
        );
        assert_eq!(
            page.meta.url.as_str(),
            "http://127.0.0.1:8080/v2/Services?Status=pending&PageSize=2&Page=1&PageToken=PA2"
        );
    }

    #[test]
    fn a_previous_page_drops_the_furthest_row() {
        let request = PageRequest::new(Some(2), Some(1), Some("PB5"), BAD_TOKEN).unwrap();
        let page = page(vec![2, 3, 4], &request, |n| *n, &urls(), "/Services", "services", &[]).unwrap();
        assert_eq!(page.items, [3, 4]);
        assert!(page.meta.previous_page_url.is_some());
        assert!(page.meta.next_page_url.is_some());
    }
}
