//! The message templates an account may send with: the bundled ones and the operator's,
//! held in memory (`CoreConfig::templates`), so a page is cut from the registry's order.

use serde_json::{Map, Value, json};
use verifyd_models::{
    ListVerificationTemplateField, ListVerificationTemplateRequest, ListVerificationTemplateResponse,
    VerificationTemplate,
};
use verifyd_runtime::Sid;
use verifyd_server::{Reply, TemplatesApi};

use crate::domain::template::Template;
use crate::paging::{PageRequest, page};
use crate::store::{Cursor, Store};
use crate::{Core, CoreError, Principal};

/// A template as Twilio shows it: every translation approved, the default one marked.
fn template_response(account: &Sid, t: &Template) -> VerificationTemplate {
    let translations: Map<String, Value> = t
        .translations
        .iter()
        .map(|(locale, translation)| {
            let body = json!({
                "is_default_translation": *locale == t.default_locale,
                "status": "approved",
                "locale": locale,
                "text": translation.text,
                "date_created": t.date_created,
                "date_updated": t.date_updated,
            });
            (locale.clone(), body)
        })
        .collect();
    VerificationTemplate {
        sid: t.sid.clone(),
        account_sid: account.clone(),
        friendly_name: Some(t.friendly_name.clone()),
        channels: Some(t.channels.iter().map(|c| c.as_str().to_owned()).collect()),
        translations: Some(translations),
    }
}

impl<S: Store> TemplatesApi for Core<S> {
    async fn list_verification_template(
        &self,
        principal: &Principal,
        r: ListVerificationTemplateRequest,
    ) -> Result<Reply<ListVerificationTemplateResponse>, CoreError> {
        let request = PageRequest::new(
            r.page_size,
            r.page,
            r.page_token.as_deref(),
            ListVerificationTemplateField::PageToken.invalid(),
        )?;
        let filter = r.friendly_name.as_deref();
        // A template's place in the whole list is its position for page tokens, so a token
        // stays meaningful whatever the filter.
        let matching = self
            .config
            .templates
            .iter()
            .enumerate()
            .filter(|(_, t)| t.matches(filter))
            .map(|(at, t)| (i64::try_from(at).unwrap_or(i64::MAX), t));
        let fetch = request.fetch() as usize;
        let rows: Vec<(i64, &Template)> = match request.cursor {
            Cursor::First => matching.take(fetch).collect(),
            Cursor::After(seq) => matching.filter(|(at, _)| *at > seq).take(fetch).collect(),
            Cursor::Before(seq) => {
                let before: Vec<_> = matching.filter(|(at, _)| *at < seq).collect();
                let skip = before.len().saturating_sub(fetch);
                before.into_iter().skip(skip).collect()
            }
        };
        let filters: Vec<(&str, String)> = filter.map(|f| ("FriendlyName", f.to_owned())).into_iter().collect();
        let page = page(rows, &request, |(at, _)| *at, &self.urls, "/Templates", "templates", &filters)?;
        let account = principal.account_sid();
        Ok(Reply::new(ListVerificationTemplateResponse {
            templates: page.items.iter().map(|(_, t)| template_response(account, t)).collect(),
            meta: page.meta,
        }))
    }
}
