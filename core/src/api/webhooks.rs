//! Webhooks: a service's subscriptions to factor and challenge events, delivered through a
//! durable outbox written in the same operation as each event (see `background`).

use verifyd_models::{
    CreateWebhookField, CreateWebhookRequest, DeleteWebhookRequest, FetchWebhookRequest, ListWebhooksField,
    ListWebhooksRequest, UpdateWebhookField, UpdateWebhookRequest, Webhook as WebhookBody, WebhookList, WebhookMethod,
};
use verifyd_runtime::{HttpUrl, InvalidParameter, Sid, Timestamp};
use verifyd_server::{Reply, WebhooksApi};

use super::{open_private, seal_private};
use crate::domain::challenge::Challenge;
use crate::domain::private::Private;
use crate::domain::webhook::{
    DeliveryRecord, Event, MAX_WEBHOOKS_PER_SERVICE, NewDelivery, Open, SealedDelivery, StoredDelivery, StoredPayload,
    Webhook, deliveries, event_types, may_add_webhook,
};
use crate::ids::{new_sid, new_uuid, prefix};
use crate::keys::{Keys, SealContext};
use crate::paging::{PageRequest, page};
use crate::store::{Change, Decision, Store};
use crate::{Core, CoreError, Principal};

/// What a delivery's sealed payload holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    url: String,
    fields: Vec<(String, String)>,
}

/// The deliveries of `event` to the webhooks that subscribe to it, sealed, as changes to save
/// with the change that causes the event.
pub(crate) fn event_changes(keys: &Keys, webhooks: &[Webhook], event: Event<'_>, now: Timestamp) -> Vec<Change> {
    deliveries(webhooks, event, now, new_uuid, &Opener(keys))
        .into_iter()
        .map(|d| Change::InsertDelivery(seal(keys, d)))
        .collect()
}

/// The keys, opening for the domain what an event's deliveries carry. The start refuses a key
/// set that leaves a stored value unopenable, so a value that does not open is damaged: it is
/// logged, and the event goes without it (to that webhook, or without its hidden details)
/// rather than failing the change that caused it.
struct Opener<'a>(&'a Keys);

impl Open for Opener<'_> {
    fn webhook_url(&self, webhook: &Webhook) -> Option<String> {
        open_private(self.0, SealContext::WebhookUrl(&webhook.sid), &webhook.webhook_url)
            .inspect_err(|_| tracing::error!(webhook = %webhook.sid, "a webhook's URL cannot be opened: no delivery"))
            .ok()
    }

    fn hidden_details(&self, challenge: &Challenge) -> Option<String> {
        let hidden = challenge.hidden_details.as_ref()?;
        open_private(self.0, SealContext::HiddenDetails(&challenge.sid), hidden)
            .inspect_err(
                |_| tracing::error!(challenge = %challenge.sid, "a challenge's hidden details cannot be opened"),
            )
            .ok()
    }
}

/// Seals a delivery's target URL and form fields under a SID of its own.
fn seal(keys: &Keys, d: NewDelivery) -> SealedDelivery {
    let payload = Payload { url: d.url, fields: d.fields };
    // Strings and pairs of strings always serialize.
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    let sid = new_sid(prefix::WEBHOOK_DELIVERY);
    SealedDelivery {
        payload_sealed: keys.seal(SealContext::WebhookDelivery(&sid), &json),
        sid,
        uuid: d.uuid,
        webhook_sid: d.webhook_sid,
        account_sid: d.account_sid,
        service_sid: d.service_sid,
        event_type: d.event_type,
        date_created: d.date_created,
    }
}

/// A delivery's target URL and form fields.
///
/// Rows of databases from before deliveries were sealed come back in plaintext, and are used
/// as they are rather than sealed and rewritten here. A rewrite would reach only the pending
/// rows a claim hands out, while finished rows (most of them) would need a bulk pass over
/// every account with its own store operation and contract cases, which stores that never held
/// such rows (PostgreSQL) would have to implement too. Instead nothing is written in
/// plaintext any more; the SQLite adapter drops a legacy row's form fields once it is
/// finished, and the retention purge deletes every finished row, its URL with it.
pub(crate) fn open_payload(keys: &Keys, payload: &StoredPayload) -> Result<(String, Vec<(String, String)>), CoreError> {
    match payload {
        StoredPayload::Plain { url, fields } => Ok((url.clone(), fields.clone())),
        StoredPayload::Sealed { sid, sealed } => {
            let json = keys.open(SealContext::WebhookDelivery(sid), sealed)?;
            let payload: Payload = serde_json::from_slice(&json)
                .map_err(|e| CoreError::Internal(format!("a delivery's payload does not parse: {e}")))?;
            Ok((payload.url, payload.fields))
        }
    }
}

fn path(service: &Sid, sid: &Sid) -> String {
    format!("/Services/{service}/Webhooks/{sid}")
}

impl<S: Store> Core<S> {
    fn webhook_response(&self, w: &Webhook) -> Result<WebhookBody, CoreError> {
        Ok(WebhookBody {
            sid: w.sid.clone(),
            service_sid: w.service_sid.clone(),
            account_sid: w.account_sid.clone(),
            friendly_name: Some(w.friendly_name.clone()),
            event_types: Some(w.event_types.iter().copied().map(Into::into).collect()),
            status: w.status.into(),
            version: w.version.into(),
            webhook_url: HttpUrl::parse(&open_private(&self.keys, SealContext::WebhookUrl(&w.sid), &w.webhook_url)?)
                .ok(),
            webhook_method: WebhookMethod::Post.into(),
            date_created: w.date_created,
            date_updated: w.date_updated,
            url: self.urls.at(&path(&w.service_sid, &w.sid))?,
        })
    }

    /// A target the transport admits (an IP literal is checked now; a name at delivery).
    /// `field` is the operation's `WebhookUrl`.
    fn check_target(&self, url: &HttpUrl, field: InvalidParameter) -> Result<(), CoreError> {
        if self.transport.admits(url.as_str()) { Ok(()) } else { Err(field.into()) }
    }

    /// A delivery as operators see it; one that does not open (another master key, damage)
    /// is still listed, its URL standing for the reason.
    fn delivery_record(&self, d: StoredDelivery) -> DeliveryRecord {
        let url = open_payload(&self.keys, &d.payload)
            .map_or_else(|_| "(sealed; cannot be opened with the configured master key)".to_owned(), |(url, _)| url);
        DeliveryRecord {
            uuid: d.uuid,
            webhook_sid: d.webhook_sid,
            account_sid: d.account_sid,
            event_type: d.event_type,
            url,
            status: d.status,
            attempts: d.attempts,
            last_error: d.last_error,
            date_created: d.date_created,
            date_done: d.date_done,
        }
    }

    /// Deliveries given up, newest first, for operators.
    pub async fn failed_webhook_deliveries(
        &self,
        account: Option<&Sid>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, CoreError> {
        Ok(self.store.failed_deliveries(account, limit).await?.into_iter().map(|d| self.delivery_record(d)).collect())
    }

    /// A webhook's deliveries, newest first, for operators (and tests).
    pub async fn webhook_deliveries(
        &self,
        account: &Sid,
        webhook: &Sid,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, CoreError> {
        Ok(self.store.deliveries(account, webhook, limit).await?.into_iter().map(|d| self.delivery_record(d)).collect())
    }
}

impl<S: Store> WebhooksApi for Core<S> {
    async fn create_webhook(
        &self,
        principal: &Principal,
        r: CreateWebhookRequest,
    ) -> Result<Reply<WebhookBody>, CoreError> {
        self.check_target(&r.webhook_url, CreateWebhookField::WebhookUrl.invalid())?;
        let now = self.clock.now();
        let sid = new_sid(prefix::WEBHOOK);
        let webhook = Webhook {
            seq: 0,
            webhook_url: seal_private(&self.keys, SealContext::WebhookUrl(&sid), r.webhook_url.as_str()),
            sid,
            account_sid: principal.account_sid().clone(),
            service_sid: r.service_sid.clone(),
            status: r.status_or_default(),
            version: r.version_or_default(),
            friendly_name: r.friendly_name,
            event_types: event_types(&r.event_types),
            date_created: now,
            date_updated: now,
        };
        let service = r.service_sid.clone();
        // Counted and inserted in one operation: concurrent creations never pass the limit.
        let saved = self
            .store
            .with_webhooks(principal.account_sid(), &r.service_sid, move |existing| match existing {
                None => Decision::nothing(Err(CoreError::not_found(super::services::path(&service)))),
                Some(existing) if !may_add_webhook(&existing) => {
                    Decision::nothing(Err(CoreError::TooManyWebhooks { limit: MAX_WEBHOOKS_PER_SERVICE }))
                }
                Some(_) => Decision::save(vec![Change::InsertWebhook(webhook.clone())], Ok(webhook)),
            })
            .await??;
        self.webhook_response(&saved).map(Reply::new)
    }

    async fn fetch_webhook(
        &self,
        principal: &Principal,
        r: FetchWebhookRequest,
    ) -> Result<Reply<WebhookBody>, CoreError> {
        let record = self
            .store
            .webhook(principal.account_sid(), &r.service_sid, &r.webhook_sid)
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.webhook_sid)))?;
        self.webhook_response(&record).map(Reply::new)
    }

    async fn list_webhooks(
        &self,
        principal: &Principal,
        r: ListWebhooksRequest,
    ) -> Result<Reply<WebhookList>, CoreError> {
        let request =
            PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), ListWebhooksField::PageToken.invalid())?;
        self.service_of(principal, &r.service_sid).await?;
        let rows = self.store.list_webhooks(principal.account_sid(), &r.service_sid, request.store_page()).await?;
        let list_path = format!("/Services/{}/Webhooks", r.service_sid);
        let page = page(rows, &request, |w| w.seq, &self.urls, &list_path, "webhooks", &[])?;
        Ok(Reply::new(WebhookList {
            webhooks: page.items.iter().map(|w| self.webhook_response(w)).collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    async fn update_webhook(
        &self,
        principal: &Principal,
        r: UpdateWebhookRequest,
    ) -> Result<Reply<WebhookBody>, CoreError> {
        if let Some(url) = &r.webhook_url {
            self.check_target(url, UpdateWebhookField::WebhookUrl.invalid())?;
        }
        let now = self.clock.now();
        let sid = r.webhook_sid.clone();
        let (name, types, url, status, version) = (r.friendly_name, r.event_types, r.webhook_url, r.status, r.version);
        let keys = std::sync::Arc::clone(&self.keys);
        let record = self
            .store
            .with_webhooks(principal.account_sid(), &r.service_sid, move |existing| {
                let Some(mut w) = existing.into_iter().flatten().find(|w| w.sid == sid) else {
                    return Decision::nothing(None);
                };
                if let Some(name) = name {
                    w.friendly_name = name;
                }
                if let Some(types) = types {
                    w.event_types = event_types(&types);
                }
                // A new URL is sealed; so is a URL an older database kept in plaintext, at
                // this write (a master-key re-seal seals those of webhooks never updated).
                let url = match (url, &w.webhook_url) {
                    (Some(url), _) => Some(url.to_string()),
                    (None, Private::Plain(legacy)) => Some(legacy.clone()),
                    (None, Private::Sealed(_)) => None,
                };
                if let Some(url) = url {
                    w.webhook_url = seal_private(&keys, SealContext::WebhookUrl(&w.sid), &url);
                }
                if let Some(status) = status {
                    w.status = status;
                }
                if let Some(version) = version {
                    w.version = version;
                }
                w.date_updated = now;
                Decision::save(vec![Change::UpdateWebhook(w.clone())], Some(w))
            })
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.webhook_sid)))?;
        self.webhook_response(&record).map(Reply::new)
    }

    async fn delete_webhook(&self, principal: &Principal, r: DeleteWebhookRequest) -> Result<Reply<()>, CoreError> {
        let sid = r.webhook_sid.clone();
        let deleted = self
            .store
            .with_webhooks(principal.account_sid(), &r.service_sid, move |existing| {
                match existing.into_iter().flatten().find(|w| w.sid == sid) {
                    None => Decision::nothing(false),
                    Some(w) => Decision::save(vec![Change::DeleteWebhook { account: w.account_sid, sid: w.sid }], true),
                }
            })
            .await?;
        if deleted { Ok(Reply::new(())) } else { Err(CoreError::not_found(path(&r.service_sid, &r.webhook_sid))) }
    }
}
