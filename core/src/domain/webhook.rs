//! Webhooks: a service's subscriptions to factor and challenge events. An event becomes one
//! delivery per subscribed webhook, written with the change that causes it; deliveries are
//! retried with backoff for an hour, then given up. A delivery's target URL and form are
//! sealed by core before a store sees them (the store keeps [`SealedDelivery`]).

use rand::Rng as _;
use verifyd_models::{ChallengeStatus, WebhookEventType, WebhookStatus, WebhookVersion};
use verifyd_runtime::{Sid, Timestamp};

use super::challenge::Challenge;
use super::factor::Factor;
use super::private::Private;

/// A delivery is retried for at least this long after its first attempt.
pub const RETRY_FOR: i64 = 3600;
/// How long a claimed delivery is held before another round may try it.
pub const LEASE: i64 = 60;
/// Webhooks a service may have (enabled or not): each event fans out to every subscribed
/// one, so this bounds the deliveries one change can cause.
pub const MAX_WEBHOOKS_PER_SERVICE: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub seq: i64,
    pub sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub friendly_name: String,
    pub event_types: Vec<WebhookEventType>,
    pub status: WebhookStatus,
    pub version: WebhookVersion,
    /// Its target URL: sealed (`SealContext::WebhookUrl(sid)`) by core, opened where it is
    /// shown or posted to.
    pub webhook_url: Private,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

impl Webhook {
    /// Enabled, and subscribed to `event` (or to every event).
    pub fn subscribes(&self, event: &WebhookEventType) -> bool {
        self.status == WebhookStatus::Enabled
            && self.event_types.iter().any(|t| *t == WebhookEventType::All || t == event)
    }
}

/// Whether a service with `existing` webhooks may add one more: fewer than
/// [`MAX_WEBHOOKS_PER_SERVICE`].
pub fn may_add_webhook(existing: &[Webhook]) -> bool {
    existing.len() < MAX_WEBHOOKS_PER_SERVICE
}

/// Event types as a webhook keeps them: a value repeated in a row is kept once.
pub fn event_types(types: &[WebhookEventType]) -> Vec<WebhookEventType> {
    let mut kept = types.to_vec();
    kept.dedup();
    kept
}

/// Opens what an event's deliveries carry privately. The domain holds no key: core hands in
/// its keys (the API layer's `event_changes`), asked only when some webhook subscribes.
pub trait Open {
    /// A webhook's target URL; `None` when it does not open (it then gets no delivery).
    fn webhook_url(&self, webhook: &Webhook) -> Option<String>;
    /// A challenge's hidden details as their JSON; `None` when it has none or they do not open.
    fn hidden_details(&self, challenge: &Challenge) -> Option<String>;
}

/// Something that happened, for the webhooks that subscribe to it.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    FactorCreated(&'a Factor),
    FactorVerified(&'a Factor),
    FactorDeleted(&'a Factor),
    /// Approved or denied (other statuses raise no event); with the challenge's factor.
    ChallengeAnswered(&'a Challenge, &'a Factor),
}

/// One event to deliver to one webhook, before core seals its target and form.
#[derive(Clone, PartialEq)]
pub struct NewDelivery {
    pub uuid: String,
    pub webhook_sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    pub event_type: WebhookEventType,
    pub url: String,
    /// The form fields, in order.
    pub fields: Vec<(String, String)>,
    pub date_created: Timestamp,
}

impl std::fmt::Debug for NewDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDelivery")
            .field("uuid", &self.uuid)
            .field("webhook_sid", &self.webhook_sid)
            .finish_non_exhaustive()
    }
}

/// A delivery as a store saves it: what it is and whose in the open, its target URL and form
/// fields sealed (`SealContext::WebhookDelivery(sid)`): the URL may carry credentials, the
/// fields a challenge's hidden details and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedDelivery {
    /// Names the sealed payload (a master-key rotation re-seals it by this).
    pub sid: Sid,
    pub uuid: String,
    pub webhook_sid: Sid,
    pub account_sid: Sid,
    /// Deliveries are claimed fairly per service.
    pub service_sid: Sid,
    pub event_type: WebhookEventType,
    pub payload_sealed: Vec<u8>,
    pub date_created: Timestamp,
}

/// A delivery's target URL and form fields as a store hands them back.
#[derive(Clone, PartialEq)]
pub enum StoredPayload {
    /// Sealed by core ([`SealedDelivery::payload_sealed`]), named by the delivery's SID.
    Sealed { sid: Sid, sealed: Vec<u8> },
    /// Kept in plaintext by a verifyd from before deliveries were sealed; never written now.
    /// A store may still hold such rows from an older database (see core's `open_payload`);
    /// `fields` may be empty once the delivery is finished.
    Plain { url: String, fields: Vec<(String, String)> },
}

impl std::fmt::Debug for StoredPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sealed { sid, sealed } => write!(f, "Sealed({sid}, {} bytes)", sealed.len()),
            Self::Plain { fields, .. } => write!(f, "Plain({} fields)", fields.len()),
        }
    }
}

impl Event<'_> {
    pub fn event_type(&self) -> Option<WebhookEventType> {
        Some(match self {
            Event::FactorCreated(_) => WebhookEventType::FactorCreated,
            Event::FactorVerified(_) => WebhookEventType::FactorVerified,
            Event::FactorDeleted(_) => WebhookEventType::FactorDeleted,
            Event::ChallengeAnswered(c, _) => match c.status {
                ChallengeStatus::Approved => WebhookEventType::ChallengeApproved,
                ChallengeStatus::Denied => WebhookEventType::ChallengeDenied,
                _ => return None,
            },
        })
    }

    fn fields(&self, open: &impl Open) -> Vec<(String, String)> {
        let pair = |k: &str, v: String| (k.to_owned(), v);
        let factor = match self {
            Event::FactorCreated(f) | Event::FactorVerified(f) | Event::FactorDeleted(f) => f,
            Event::ChallengeAnswered(_, f) => f,
        };
        let mut fields = vec![
            pair("account_sid", factor.account_sid.to_string()),
            pair("service_sid", factor.service_sid.to_string()),
            pair("entity_identity", factor.identity.clone()),
            pair("factor_sid", factor.sid.to_string()),
            pair("factor_type", factor.factor_type.to_string()),
            pair("factor_friendly_name", factor.friendly_name.clone()),
        ];
        if let Event::ChallengeAnswered(c, _) = self {
            let details = c.details.as_ref().map(|d| {
                let items: Vec<_> =
                    d.fields.iter().map(|(label, value)| serde_json::json!({"label": label, "value": value})).collect();
                serde_json::json!({"message": d.message, "date": d.date.map(|t| t.to_string()), "fields": items})
                    .to_string()
            });
            let json = |map: &Option<std::collections::BTreeMap<String, String>>| {
                map.as_ref().and_then(|m| serde_json::to_string(m).ok()).unwrap_or_default()
            };
            fields.push(pair("challenge_sid", c.sid.to_string()));
            fields.push(pair("challenge_details", details.unwrap_or_default()));
            fields.push(pair("hidden_details", open.hidden_details(c).unwrap_or_default()));
            fields.push(pair("metadata", json(&c.metadata)));
            fields.push(pair("date_created", c.date_created.to_string()));
        }
        fields
    }
}

/// The deliveries of `event`: one per webhook of the service that subscribes to it. Fields
/// are built only when some webhook subscribes (most services have none, and events happen
/// on hot paths). `new_uuid` names each delivery (receivers deduplicate by it); `open` opens
/// the webhooks' URLs and the challenge's hidden details.
pub fn deliveries(
    webhooks: &[Webhook],
    event: Event<'_>,
    now: Timestamp,
    mut new_uuid: impl FnMut() -> String,
    open: &impl Open,
) -> Vec<NewDelivery> {
    let Some(event_type) = event.event_type() else { return Vec::new() };
    let subscribed: Vec<&Webhook> = webhooks.iter().filter(|w| w.subscribes(&event_type)).collect();
    if subscribed.is_empty() {
        return Vec::new();
    }
    let fields = event.fields(open);
    subscribed
        .into_iter()
        .filter_map(|w| {
            let url = open.webhook_url(w)?;
            let uuid = new_uuid();
            let mut all = vec![("uuid".to_owned(), uuid.clone()), ("type".to_owned(), event_type.to_string())];
            all.extend(fields.iter().cloned());
            Some(NewDelivery {
                uuid,
                webhook_sid: w.sid.clone(),
                account_sid: w.account_sid.clone(),
                service_sid: w.service_sid.clone(),
                event_type,
                url,
                fields: all,
                date_created: now,
            })
        })
        .collect()
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub uuid: String,
    pub webhook_sid: Sid,
    pub account_sid: Sid,
    pub service_sid: Sid,
    /// Its target URL and form fields, opened by core before the post.
    pub payload: StoredPayload,
    /// Attempts including this one.
    pub attempts: u32,
    pub first_attempt_at: Timestamp,
    pub date_created: Timestamp,
    /// Whether its webhook still exists and is enabled (a disabled or deleted webhook
    /// receives nothing more).
    pub webhook_enabled: bool,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet delivered: due now or at its next retry.
    Pending,
    Delivered,
    /// Given up after an hour of retries.
    Failed,
    /// Its webhook was disabled or deleted before it could be sent.
    Canceled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed, Self::Canceled].into_iter().find(|s| s.as_str() == text)
    }
}

/// A delivery as a store keeps it, for operators: [`DeliveryRecord`] once core opens its
/// payload.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDelivery {
    pub uuid: String,
    pub webhook_sid: Sid,
    pub account_sid: Sid,
    pub event_type: WebhookEventType,
    pub payload: StoredPayload,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub date_created: Timestamp,
    pub date_done: Option<Timestamp>,
}

/// A delivery as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub uuid: String,
    pub webhook_sid: Sid,
    pub account_sid: Sid,
    pub event_type: WebhookEventType,
    pub url: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub date_created: Timestamp,
    /// When it was delivered, given up or canceled.
    pub date_done: Option<Timestamp>,
}

/// The wait before retry `attempt` (1 after the first failure): 30 s doubling to 30 min, with
/// ±20 % jitter so that many retries do not arrive together.
pub fn backoff(attempt: u32) -> i64 {
    let base = 30i64.saturating_mul(1i64 << attempt.saturating_sub(1).min(6)).min(1800);
    let jitter = rand::thread_rng().gen_range(-(base / 5)..=base / 5);
    base + jitter
}

/// When to try a failed delivery again, or `None` once an hour has passed since its first
/// attempt (it is given up).
pub fn next_attempt(delivery: &Delivery, now: Timestamp) -> Option<Timestamp> {
    (now.unix() - delivery.first_attempt_at.unix() < RETRY_FOR).then(|| now.plus_seconds(backoff(delivery.attempts)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::challenge::Details;
    use crate::domain::factor::tests::{sid, t, totp_factor};
    use verifyd_models::{ChallengeRespondedReason, FactorType};

    fn webhook(n: u8, types: Vec<WebhookEventType>, status: WebhookStatus) -> Webhook {
        Webhook {
            seq: i64::from(n),
            sid: sid("YW", n),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            friendly_name: "hook".into(),
            event_types: types,
            status,
            version: WebhookVersion::V2,
            webhook_url: Private::Plain(format!("https://example.com/{n}")),
            date_created: t(0),
            date_updated: t(0),
        }
    }

    /// Opens plaintext only: a sealed value does not open.
    struct PlainOnly;

    impl Open for PlainOnly {
        fn webhook_url(&self, webhook: &Webhook) -> Option<String> {
            plain(&webhook.webhook_url)
        }
        fn hidden_details(&self, challenge: &Challenge) -> Option<String> {
            challenge.hidden_details.as_ref().and_then(plain)
        }
    }

    fn plain(value: &Private) -> Option<String> {
        match value {
            Private::Plain(text) => Some(text.clone()),
            Private::Sealed(_) => None,
        }
    }

    fn uuids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("uuid-{n}")
        }
    }

    #[test]
    fn an_event_goes_to_each_enabled_subscriber_once() {
        let hooks = [
            webhook(1, vec![WebhookEventType::FactorCreated], WebhookStatus::Enabled),
            webhook(2, vec![WebhookEventType::All], WebhookStatus::Enabled),
            webhook(3, vec![WebhookEventType::FactorVerified], WebhookStatus::Enabled),
            webhook(4, vec![WebhookEventType::All], WebhookStatus::Disabled),
        ];
        let factor = totp_factor(6);
        let sent = deliveries(&hooks, Event::FactorCreated(&factor), t(5), uuids(), &PlainOnly);
        assert_eq!(sent.iter().map(|d| d.webhook_sid.clone()).collect::<Vec<_>>(), [sid("YW", 1), sid("YW", 2)]);
        let first = &sent[0];
        assert_eq!(first.fields[0], ("uuid".to_owned(), "uuid-1".to_owned()));
        assert_eq!(first.fields[1], ("type".to_owned(), "factor.created".to_owned()));
        let names: Vec<&str> = first.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "uuid",
                "type",
                "account_sid",
                "service_sid",
                "entity_identity",
                "factor_sid",
                "factor_type",
                "factor_friendly_name"
            ]
        );
        assert_ne!(sent[0].uuid, sent[1].uuid);
    }

    #[test]
    fn a_webhook_whose_url_does_not_open_gets_no_delivery() {
        let mut unreadable = webhook(1, vec![WebhookEventType::All], WebhookStatus::Enabled);
        unreadable.webhook_url = Private::Sealed(vec![1, 2, 3]);
        let hooks = [unreadable, webhook(2, vec![WebhookEventType::All], WebhookStatus::Enabled)];
        let sent = deliveries(&hooks, Event::FactorCreated(&totp_factor(6)), t(5), uuids(), &PlainOnly);
        assert_eq!(sent.iter().map(|d| d.url.as_str()).collect::<Vec<_>>(), ["https://example.com/2"]);
    }

    #[test]
    fn only_answered_challenges_raise_events_with_their_details() {
        let factor = totp_factor(6);
        let mut challenge = Challenge {
            seq: 1,
            sid: sid("YC", 1),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            entity_sid: sid("YE", 1),
            identity: "user-0001".into(),
            factor_sid: factor.sid.clone(),
            factor_type: FactorType::Totp,
            status: ChallengeStatus::Pending,
            responded_reason: ChallengeRespondedReason::None,
            details: Some(Details { message: "Hi".into(), date: None, fields: vec![("a".into(), "b".into())] }),
            hidden_details: Some(Private::Plain(r#"{"ip":"1.2.3.4"}"#.to_owned())),
            metadata: None,
            date_created: t(0),
            date_updated: t(0),
            date_responded: None,
            expiration_date: t(300),
            answer_attempts: 0,
        };
        let hooks = [webhook(1, vec![WebhookEventType::All], WebhookStatus::Enabled)];
        assert!(
            deliveries(&hooks, Event::ChallengeAnswered(&challenge, &factor), t(1), uuids(), &PlainOnly).is_empty()
        );
        challenge.status = ChallengeStatus::Denied;
        let sent = deliveries(&hooks, Event::ChallengeAnswered(&challenge, &factor), t(1), uuids(), &PlainOnly);
        assert_eq!(sent[0].event_type, WebhookEventType::ChallengeDenied);
        let field = |name: &str| sent[0].fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(field("challenge_details"), r#"{"date":null,"fields":[{"label":"a","value":"b"}],"message":"Hi"}"#);
        assert_eq!(field("hidden_details"), r#"{"ip":"1.2.3.4"}"#);
        assert_eq!(field("metadata"), "");
        assert_eq!(field("factor_friendly_name"), "phone");
    }

    #[test]
    fn backoff_doubles_up_to_half_an_hour_with_jitter() {
        for (attempt, base) in [(1, 30), (2, 60), (3, 120), (6, 960), (7, 1800), (20, 1800)] {
            let wait = backoff(attempt);
            assert!(wait >= base - base / 5 && wait <= base + base / 5, "attempt {attempt}: {wait}");
        }
    }

    #[test]
    fn a_delivery_is_retried_for_an_hour_then_given_up() {
        let delivery = Delivery {
            id: 1,
            uuid: "u".into(),
            webhook_sid: sid("YW", 1),
            account_sid: sid("AC", 1),
            service_sid: sid("VA", 1),
            payload: StoredPayload::Sealed { sid: sid("WD", 1), sealed: Vec::new() },
            attempts: 1,
            first_attempt_at: t(0),
            date_created: t(0),
            webhook_enabled: true,
        };
        let retry = next_attempt(&delivery, t(10)).unwrap();
        assert!((t(34)..=t(46)).contains(&retry), "{retry}");
        assert!(next_attempt(&delivery, t(RETRY_FOR - 1)).is_some());
        assert_eq!(next_attempt(&delivery, t(RETRY_FOR)), None);
    }

    #[test]
    fn a_service_may_have_twenty_webhooks_enabled_or_not() {
        let mut hooks: Vec<Webhook> = Vec::new();
        for n in 0..MAX_WEBHOOKS_PER_SERVICE {
            assert!(may_add_webhook(&hooks), "webhook {n}");
            let status = if n % 2 == 0 { WebhookStatus::Enabled } else { WebhookStatus::Disabled };
            hooks.push(webhook(u8::try_from(n).unwrap(), vec![WebhookEventType::All], status));
        }
        assert_eq!(MAX_WEBHOOKS_PER_SERVICE, 20);
        assert!(!may_add_webhook(&hooks), "disabled ones count too");
        hooks.pop();
        assert!(may_add_webhook(&hooks));
    }

    #[test]
    fn repeated_event_types_are_kept_once() {
        let kept = event_types(&[WebhookEventType::All, WebhookEventType::All, WebhookEventType::FactorCreated]);
        assert_eq!(kept, [WebhookEventType::All, WebhookEventType::FactorCreated]);
    }
}
