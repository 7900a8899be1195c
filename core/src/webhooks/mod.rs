//! Webhooks: a service's subscriptions to factor and challenge events, delivered through a
//! durable outbox written in the same transaction as each event (see `dispatch`).

mod dispatch;
pub mod guard;

pub use dispatch::{DeliveryRound, Sender, backoff, signature};
use verifyd_models::{
    CreateWebhookRequest, DeleteWebhookRequest, FetchWebhookRequest, ListWebhooksRequest, UpdateWebhookRequest,
    Webhook, WebhookEventType, WebhookList, WebhookMethod, WebhookStatus, WebhookVersion,
};
use verifyd_runtime::{HttpUrl, Sid, WireEnum as _};

use crate::entities::INVALID;
use crate::ids::{new_sid, prefix};
use crate::paging::{PageRequest, page};
use crate::store::{Store, WebhookRecord};
use crate::{Core, CoreError, Principal};

fn path(service: &Sid, sid: &Sid) -> String {
    format!("/Services/{service}/Webhooks/{sid}")
}

fn event_names(types: &[WebhookEventType]) -> Vec<String> {
    let mut names: Vec<String> = types.iter().map(|t| t.as_str().to_owned()).collect();
    names.dedup();
    names
}

impl<S: Store> Core<S> {
    fn webhook_response(&self, w: &WebhookRecord) -> Result<Webhook, CoreError> {
        Ok(Webhook {
            sid: w.sid.clone(),
            service_sid: w.service_sid.clone(),
            account_sid: w.account_sid.clone(),
            friendly_name: Some(w.friendly_name.clone()),
            event_types: Some(
                w.event_types
                    .iter()
                    .map(|t| WebhookEventType::from_known(t).unwrap_or(WebhookEventType::Unknown(t.clone())))
                    .collect(),
            ),
            status: WebhookStatus::from_known(&w.status).unwrap_or(WebhookStatus::Unknown(w.status.clone())),
            version: WebhookVersion::from_known(&w.version).unwrap_or(WebhookVersion::Unknown(w.version.clone())),
            webhook_url: HttpUrl::parse(&w.webhook_url).ok(),
            webhook_method: WebhookMethod::Post,
            date_created: w.date_created,
            date_updated: w.date_updated,
            url: self.urls.at(&path(&w.service_sid, &w.sid))?,
        })
    }

    /// A target the guard admits (an IP literal is checked now; a name at delivery).
    fn check_target(&self, url: &HttpUrl) -> Result<(), CoreError> {
        if self.sender.guard().admits_url(url.as_str()) {
            Ok(())
        } else {
            Err(CoreError::InvalidParameter { name: "WebhookUrl", code: INVALID })
        }
    }

    pub(crate) async fn create_webhook_op(
        &self,
        principal: &Principal,
        r: CreateWebhookRequest,
    ) -> Result<Webhook, CoreError> {
        self.check_target(&r.webhook_url)?;
        let now = self.clock.now();
        let record = WebhookRecord {
            seq: 0,
            sid: new_sid(prefix::WEBHOOK),
            account_sid: principal.account_sid().clone(),
            service_sid: r.service_sid.clone(),
            status: r.status_or_default().as_str().to_owned(),
            version: r.version_or_default().as_str().to_owned(),
            friendly_name: r.friendly_name,
            event_types: event_names(&r.event_types),
            webhook_url: r.webhook_url.to_string(),
            date_created: now,
            date_updated: now,
        };
        let saved = self
            .store
            .create_webhook(record)
            .await?
            .ok_or_else(|| CoreError::not_found(crate::services::path(&r.service_sid)))?;
        self.webhook_response(&saved)
    }

    pub(crate) async fn fetch_webhook_op(
        &self,
        principal: &Principal,
        r: FetchWebhookRequest,
    ) -> Result<Webhook, CoreError> {
        let record = self
            .store
            .webhook(principal.account_sid(), &r.service_sid, &r.webhook_sid)
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.webhook_sid)))?;
        self.webhook_response(&record)
    }

    pub(crate) async fn list_webhooks_op(
        &self,
        principal: &Principal,
        r: ListWebhooksRequest,
    ) -> Result<WebhookList, CoreError> {
        let request = PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), INVALID)?;
        self.service_of(principal, &r.service_sid).await?;
        let rows =
            self.store.list_webhooks(principal.account_sid(), &r.service_sid, request.cursor, request.fetch()).await?;
        let list_path = format!("/Services/{}/Webhooks", r.service_sid);
        let page = page(rows, &request, |w| w.seq, &self.urls, &list_path, "webhooks", &[])?;
        Ok(WebhookList {
            webhooks: page.items.iter().map(|w| self.webhook_response(w)).collect::<Result<_, _>>()?,
            meta: page.meta,
        })
    }

    pub(crate) async fn update_webhook_op(
        &self,
        principal: &Principal,
        r: UpdateWebhookRequest,
    ) -> Result<Webhook, CoreError> {
        if let Some(url) = &r.webhook_url {
            self.check_target(url)?;
        }
        let (name, types, url, status, version) = (r.friendly_name, r.event_types, r.webhook_url, r.status, r.version);
        let change = Box::new(move |w: &mut WebhookRecord| {
            if let Some(name) = name {
                w.friendly_name = name;
            }
            if let Some(types) = types {
                w.event_types = event_names(&types);
            }
            if let Some(url) = url {
                w.webhook_url = url.to_string();
            }
            if let Some(status) = status {
                w.status = status.as_str().to_owned();
            }
            if let Some(version) = version {
                w.version = version.as_str().to_owned();
            }
        });
        let record = self
            .store
            .update_webhook(principal.account_sid(), &r.service_sid, &r.webhook_sid, self.clock.now(), change)
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.webhook_sid)))?;
        self.webhook_response(&record)
    }

    pub(crate) async fn delete_webhook_op(
        &self,
        principal: &Principal,
        r: DeleteWebhookRequest,
    ) -> Result<(), CoreError> {
        if self.store.delete_webhook(principal.account_sid(), &r.service_sid, &r.webhook_sid).await? {
            Ok(())
        } else {
            Err(CoreError::not_found(path(&r.service_sid, &r.webhook_sid)))
        }
    }

    /// Deliveries given up, newest first, for operators.
    pub async fn failed_webhook_deliveries(
        &self,
        account: Option<&Sid>,
        limit: u32,
    ) -> Result<Vec<crate::store::FailedDelivery>, CoreError> {
        Ok(self.store.failed_deliveries(account, limit).await?)
    }
}
