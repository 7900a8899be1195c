//! Builders of the values a store keeps, the keys that reach them, and small helpers the
//! cases share. Every builder makes fresh SIDs; inserted values carry `seq` 0 (the store
//! assigns it). Sealed and hashed fields are arbitrary bytes: a store never opens them.

use std::future::Future;
use std::sync::Arc;

use verifyd_core::domain::access_token::AccessToken;
use verifyd_core::domain::account::{Account, ApiKey};
use verifyd_core::domain::challenge::{Challenge, Details, Notification};
use verifyd_core::domain::factor::{Entity, Factor, FactorSettings};
use verifyd_core::domain::fraud::TallyRange;
use verifyd_core::domain::messaging::MessagingConfiguration;
use verifyd_core::domain::outbox::{OutboxChannel, SealedMessage};
use verifyd_core::domain::passkey::{Attachment, Ceremony, CeremonyKind, PasskeySettings, RelyingParty, Requirement};
use verifyd_core::domain::private::Private;
use verifyd_core::domain::rate_limit::{Bucket, RateLimit, Window};
use verifyd_core::domain::safe_list::SafeListEntry;
use verifyd_core::domain::sending::{Attempt, SendStatus};
use verifyd_core::domain::service::{PasskeyDefaults, Service, ServiceSettings};
use verifyd_core::domain::verification::{
    NewVerification, SendAttempt, SendRefusal, SendWindow, Verification, plan_send,
};
use verifyd_core::domain::webhook::{SealedDelivery, Webhook};
use verifyd_core::ids::{new_sid, new_uuid, prefix};
use verifyd_core::store::{
    AttemptClaim, AttemptFilter, ChallengeKey, Change, Claim, ControlsKey, Cursor, Decision, EntityKey, FactorKey,
    MessagingConfigurationKey, Page, PasskeyKey, RateLimitKey, SendKey, SendState, Store, VerificationAt,
};
use verifyd_core::totp::Algorithm;
use verifyd_models::{
    ChallengeRespondedReason, ChallengeStatus, FactorStatus, FactorType, NotificationPlatform, VerificationChannel,
    WebhookEventType, WebhookStatus, WebhookVersion,
};
use verifyd_runtime::{Sid, Timestamp};

/// The suite's epoch (2026-01-01T00:00:00Z); every time is an offset from it.
pub const T0: i64 = 1_767_225_600;

/// `T0 + offset` seconds.
pub fn t(offset: i64) -> Timestamp {
    Timestamp::from_unix(T0 + offset).expect("a time within the years 0000-9999")
}

/// Bytes standing for something sealed or hashed, different for each `tag`.
pub fn bytes(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag.wrapping_add(i as u8)).collect()
}

pub fn account(name: &str) -> Account {
    Account {
        token_from_config: false,
        sid: new_sid(prefix::ACCOUNT),
        friendly_name: name.to_owned(),
        auth_token_hash: bytes(1, 32),
        auth_token_sealed: bytes(2, 60),
        date_created: t(0),
        date_updated: t(0),
    }
}

pub fn api_key(account: &Sid, name: &str) -> ApiKey {
    ApiKey {
        sid: new_sid(prefix::API_KEY),
        account_sid: account.clone(),
        friendly_name: name.to_owned(),
        secret_hash: bytes(3, 32),
        revoked: false,
        date_created: t(0),
    }
}

pub fn service(account: &Sid, name: &str) -> Service {
    Service {
        seq: 0,
        sid: new_sid(prefix::SERVICE),
        account_sid: account.clone(),
        settings: ServiceSettings {
            friendly_name: name.to_owned(),
            code_length: 6,
            lookup_enabled: false,
            psd2_enabled: true,
            skip_sms_to_landlines: false,
            dtmf_input_required: true,
            tts_name: Some("Ada".into()),
            do_not_share_warning_enabled: true,
            custom_code_enabled: false,
            push_include_date: Some(false),
            push_apn_credential_sid: None,
            push_fcm_credential_sid: Some(new_sid(prefix::CREDENTIAL)),
            totp_issuer: Some("Example".into()),
            totp_time_step: Some(30),
            totp_code_length: Some(6),
            totp_skew: Some(1),
            default_template_sid: None,
            whatsapp_msg_service_sid: None,
            whatsapp_from: None,
            verify_event_subscription_enabled: false,
            passkeys: PasskeyDefaults {
                relying_party_id: Some("example.com".into()),
                relying_party_origins: Some(vec!["https://login.example.com".into()]),
                user_verification: Some(Requirement::Required),
                ..PasskeyDefaults::default()
            },
        },
        date_created: t(0),
        date_updated: t(0),
    }
}

/// What a send creates a verification from.
pub fn new_verification(account: &Sid, service: &Sid, to: &str) -> NewVerification {
    NewVerification {
        sid: new_sid(prefix::VERIFICATION),
        account_sid: account.clone(),
        service_sid: service.clone(),
        to: to.to_owned(),
        channel: VerificationChannel::Sms,
        amount: None,
        payee: None,
        code_hash: bytes(4, 32),
        code_sealed: bytes(5, 48),
    }
}

pub fn attempt(channel: VerificationChannel, at: Timestamp) -> SendAttempt {
    SendAttempt { attempt_sid: new_sid(prefix::ATTEMPT), channel, time: at }
}

/// A pending verification as a first send at `at` makes it.
pub fn verification(service: &Service, to: &str, at: Timestamp) -> Verification {
    Verification::new(
        new_verification(&service.account_sid, &service.sid, to),
        attempt(VerificationChannel::Sms, at),
        SendWindow { start: at, sends: 1 },
        at,
    )
}

/// The message a send of `v` leaves in the outbox.
pub fn message(v: &Verification, at: Timestamp) -> SealedMessage {
    SealedMessage {
        sid: new_sid(prefix::MESSAGE),
        account_sid: v.account_sid.clone(),
        service_sid: v.service_sid.clone(),
        verification_sid: Some(v.sid.clone()),
        to: v.to.clone(),
        channel: OutboxChannel::Verification(v.channel),
        locale: "en".into(),
        body_sealed: bytes(6, 80),
        code_sealed: Some(bytes(7, 40)),
        date_created: at,
    }
}

/// A push notification's outbox record.
pub fn push_message(challenge: &Challenge, at: Timestamp) -> SealedMessage {
    SealedMessage {
        sid: new_sid(prefix::MESSAGE),
        account_sid: challenge.account_sid.clone(),
        service_sid: challenge.service_sid.clone(),
        verification_sid: None,
        to: challenge.identity.clone(),
        channel: OutboxChannel::Push(NotificationPlatform::Fcm),
        locale: String::new(),
        body_sealed: bytes(8, 64),
        code_sealed: None,
        date_created: at,
    }
}

pub fn entity(service: &Service, identity: &str, at: Timestamp) -> Entity {
    Entity {
        seq: 0,
        sid: new_sid(prefix::ENTITY),
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        identity: identity.to_owned(),
        date_created: at,
        date_updated: at,
    }
}

/// An unverified TOTP factor.
pub fn totp_factor(entity: &Entity, at: Timestamp) -> Factor {
    let metadata = serde_json::json!({"os": "iOS", "model": {"name": "x", "year": 2024}});
    Factor {
        seq: 0,
        sid: new_sid(prefix::FACTOR),
        account_sid: entity.account_sid.clone(),
        service_sid: entity.service_sid.clone(),
        entity_sid: entity.sid.clone(),
        identity: entity.identity.clone(),
        friendly_name: "authenticator".into(),
        factor_type: FactorType::Totp,
        status: FactorStatus::Unverified,
        settings: FactorSettings::Totp { alg: Algorithm::Sha1, code_length: 6, time_step: 30, skew: 1 },
        metadata: metadata.as_object().cloned(),
        date_created: at,
        date_updated: at,
        secret_sealed: Some(bytes(9, 60)),
        public_key: None,
        last_step_start: None,
        verify_attempts: 0,
        challenge_times: Vec::new(),
        credential_id: None,
        credential: None,
    }
}

/// An unverified push factor whose device key is `public_key`.
pub fn push_factor(entity: &Entity, public_key: Vec<u8>, at: Timestamp) -> Factor {
    Factor {
        seq: 0,
        sid: new_sid(prefix::FACTOR),
        account_sid: entity.account_sid.clone(),
        service_sid: entity.service_sid.clone(),
        entity_sid: entity.sid.clone(),
        identity: entity.identity.clone(),
        friendly_name: "phone".into(),
        factor_type: FactorType::Push,
        status: FactorStatus::Unverified,
        settings: FactorSettings::Push {
            sdk_version: Some("4.0.0".into()),
            app_id: Some("com.example.app".into()),
            notification_platform: NotificationPlatform::Fcm,
            notification_token: Some("fcm-token".into()),
            credential_sid: new_sid(prefix::CREDENTIAL),
        },
        metadata: None,
        date_created: at,
        date_updated: at,
        secret_sealed: None,
        public_key: Some(public_key),
        last_step_start: None,
        verify_attempts: 0,
        challenge_times: Vec::new(),
        credential_id: None,
        credential: None,
    }
}

/// The relying party a passkey factor is made for.
pub fn passkey_settings() -> PasskeySettings {
    PasskeySettings {
        relying_party: RelyingParty {
            id: "example.com".into(),
            name: "Example".into(),
            origins: vec!["https://login.example.com".into()],
        },
        authenticator_attachment: Attachment::Any,
        discoverable_credentials: Requirement::Preferred,
        user_verification: Requirement::Required,
    }
}

/// An unverified passkey factor: its registration is under way, it has no credential yet.
pub fn passkey_factor(entity: &Entity, at: Timestamp) -> Factor {
    Factor {
        seq: 0,
        sid: new_sid(prefix::FACTOR),
        account_sid: entity.account_sid.clone(),
        service_sid: entity.service_sid.clone(),
        entity_sid: entity.sid.clone(),
        identity: entity.identity.clone(),
        friendly_name: "security key".into(),
        factor_type: FactorType::Passkeys,
        status: FactorStatus::Unverified,
        settings: FactorSettings::Passkeys(passkey_settings()),
        metadata: None,
        date_created: at,
        date_updated: at,
        secret_sealed: None,
        public_key: None,
        last_step_start: None,
        verify_attempts: 0,
        challenge_times: Vec::new(),
        credential_id: None,
        credential: None,
    }
}

/// `factor` verified with the credential `id`, whose signature counter is `counter`: the
/// credential text stands for what core keeps (a store never reads it).
pub fn with_credential(mut factor: Factor, id: &[u8], counter: u64) -> Factor {
    factor.status = FactorStatus::Verified;
    factor.credential_id = Some(id.to_vec());
    factor.credential = Some(credential_text(counter));
    factor
}

/// A credential's text with this signature counter.
pub fn credential_text(counter: u64) -> String {
    serde_json::json!({"counter": counter, "key": "pQECAyYgASFYIA"}).to_string()
}

/// The signature counter of a factor's credential text, if it has one.
pub fn counter_of(factor: &Factor) -> Option<u64> {
    let text = factor.credential.as_deref()?;
    serde_json::from_str::<serde_json::Value>(text).ok()?.get("counter")?.as_u64()
}

/// A fresh ceremony challenge (base64url text, as the options carry it).
pub fn new_challenge() -> String {
    new_uuid().replace('-', "_")
}

/// The registration ceremony of `factor` (a passkey factor being created), started at `at`,
/// open for five minutes.
pub fn registration(factor: &Factor, at: Timestamp) -> Ceremony {
    Ceremony {
        challenge: new_challenge(),
        kind: CeremonyKind::Registration,
        sid: factor.sid.clone(),
        account_sid: factor.account_sid.clone(),
        service_sid: factor.service_sid.clone(),
        entity_sid: Some(factor.entity_sid.clone()),
        identity: Some(factor.identity.clone()),
        factor_sid: Some(factor.sid.clone()),
        state: serde_json::json!({"rs": {"policy": "required", "challenge": at.unix()}}).to_string(),
        date_created: at,
        expires_at: at.plus_seconds(300),
        date_responded: None,
    }
}

/// An authentication ceremony of `service` started at `at`, open for five minutes: bound to
/// `factor` (its entity and itself) when given, else to no one (any discoverable passkey).
pub fn authentication(service: &Service, factor: Option<&Factor>, at: Timestamp) -> Ceremony {
    Ceremony {
        challenge: new_challenge(),
        kind: CeremonyKind::Authentication,
        sid: new_sid(prefix::CHALLENGE),
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        entity_sid: factor.map(|f| f.entity_sid.clone()),
        identity: factor.map(|f| f.identity.clone()),
        factor_sid: factor.map(|f| f.sid.clone()),
        state: serde_json::json!({"ast": {"allow_credentials": [], "challenge": at.unix()}}).to_string(),
        date_created: at,
        expires_at: at.plus_seconds(300),
        date_responded: None,
    }
}

pub fn verified(mut factor: Factor) -> Factor {
    factor.status = FactorStatus::Verified;
    factor
}

/// A pending challenge of `factor`, created at `at`, expiring at `expires`.
pub fn challenge(factor: &Factor, at: Timestamp, expires: Timestamp) -> Challenge {
    Challenge {
        seq: 0,
        sid: new_sid(prefix::CHALLENGE),
        account_sid: factor.account_sid.clone(),
        service_sid: factor.service_sid.clone(),
        entity_sid: factor.entity_sid.clone(),
        identity: factor.identity.clone(),
        factor_sid: factor.sid.clone(),
        factor_type: factor.factor_type,
        status: ChallengeStatus::Pending,
        responded_reason: ChallengeRespondedReason::NotRequested,
        details: Some(Details {
            message: "Approve the payment".into(),
            date: Some(at),
            fields: vec![("Amount".into(), "10 EUR".into()), ("Payee".into(), "Shop".into())],
        }),
        hidden_details: Some(Private::Sealed(bytes(12, 48))),
        metadata: None,
        date_created: at,
        date_updated: at,
        date_responded: None,
        expiration_date: expires,
        answer_attempts: 0,
    }
}

pub fn with_status(mut challenge: Challenge, status: ChallengeStatus) -> Challenge {
    challenge.status = status;
    challenge
}

pub fn notification(challenge: &Challenge, at: Timestamp) -> Notification {
    Notification {
        sid: new_sid(prefix::NOTIFICATION),
        account_sid: challenge.account_sid.clone(),
        service_sid: challenge.service_sid.clone(),
        entity_sid: challenge.entity_sid.clone(),
        identity: challenge.identity.clone(),
        challenge_sid: challenge.sid.clone(),
        priority: "high".into(),
        ttl: 300,
        date_created: at,
    }
}

/// An unused enrolment token for a push factor of `identity`, created at `at`.
pub fn access_token(service: &Service, identity: &str, at: Timestamp, ttl: i64) -> AccessToken {
    AccessToken {
        sid: new_sid(prefix::ACCESS_TOKEN),
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        identity: identity.to_owned(),
        factor_type: FactorType::Push,
        factor_friendly_name: Some("phone".into()),
        token_sealed: bytes(10, 120),
        ttl,
        date_created: at,
        expires_at: at.plus_seconds(ttl),
        used: false,
    }
}

pub fn rate_limit(service: &Service, name: &str) -> RateLimit {
    RateLimit {
        seq: 0,
        sid: new_sid(prefix::RATE_LIMIT),
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        unique_name: name.to_owned(),
        description: Some(format!("limit by {name}")),
        date_created: t(0),
        date_updated: t(0),
    }
}

pub fn bucket(rate_limit: &RateLimit, max: i64, interval: i64) -> Bucket {
    Bucket {
        seq: 0,
        sid: new_sid(prefix::BUCKET),
        account_sid: rate_limit.account_sid.clone(),
        service_sid: rate_limit.service_sid.clone(),
        rate_limit_sid: rate_limit.sid.clone(),
        max,
        interval,
        date_created: t(0),
        date_updated: t(0),
    }
}

pub fn webhook(service: &Service, status: WebhookStatus) -> Webhook {
    let sid = new_sid(prefix::WEBHOOK);
    Webhook {
        seq: 0,
        webhook_url: Private::Sealed([sid.as_str().as_bytes(), &bytes(11, 50)].concat()),
        sid,
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        friendly_name: "hook".into(),
        event_types: vec![WebhookEventType::FactorCreated, WebhookEventType::ChallengeApproved],
        status,
        version: WebhookVersion::V2,
        date_created: t(0),
        date_updated: t(0),
    }
}

/// A claim of at most `limit` deliveries due at `now`, leased until `until`, with no bound
/// per service and no service skipped.
pub fn claim(now: Timestamp, until: Timestamp, limit: u32) -> Claim {
    Claim { now, until, limit, per_service: u32::MAX, skip_services: Vec::new() }
}

/// A delivery to `webhook`, due at `at`; its payload stands for what core seals, different
/// for each delivery.
pub fn delivery(webhook: &Webhook, at: Timestamp) -> SealedDelivery {
    let uuid = new_uuid();
    SealedDelivery {
        webhook_sid: webhook.sid.clone(),
        account_sid: webhook.account_sid.clone(),
        service_sid: webhook.service_sid.clone(),
        event_type: WebhookEventType::FactorCreated,
        sid: new_sid(prefix::WEBHOOK_DELIVERY),
        payload_sealed: [uuid.as_bytes(), &bytes(9, 60)].concat(),
        uuid,
        date_created: at,
    }
}

/// A queued send attempt of `v` through a provider, made and due at `at`, not leased, its
/// payload standing for what core seals (different for each attempt).
pub fn send_attempt(v: &Verification, at: Timestamp) -> Attempt {
    let sid = new_sid(prefix::ATTEMPT);
    Attempt {
        payload_sealed: Some([sid.as_str().as_bytes(), &bytes(13, 40)].concat()),
        sid,
        account_sid: v.account_sid.clone(),
        service_sid: v.service_sid.clone(),
        verification_sid: v.sid.clone(),
        channel: v.channel,
        to: v.to.clone(),
        country: Some("US".into()),
        locale: "en".into(),
        provider: "gateway".into(),
        status: SendStatus::Queued,
        message_id: None,
        error: None,
        tries: 0,
        due_at: at,
        leased_until: at,
        expires_at: v.expires_at,
        date_created: at,
        date_updated: at,
    }
}

/// `attempt` accepted by its provider at `at`, as core records it.
pub fn sent(mut attempt: Attempt, at: Timestamp) -> Attempt {
    attempt.sent(Some(format!("message of {}", attempt.sid)), at);
    attempt
}

/// A claim of at most `limit` queued attempts due at `now`, leased until `until`.
pub fn attempt_claim(now: Timestamp, until: Timestamp, limit: u32) -> AttemptClaim {
    AttemptClaim { now, until, limit }
}

/// A service's configuration for `country`, made at `at`.
pub fn messaging_configuration(service: &Service, country: &str, at: Timestamp) -> MessagingConfiguration {
    MessagingConfiguration {
        seq: 0,
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        country: country.to_owned(),
        messaging_service_sid: new_sid("MG").as_str().to_owned(),
        date_created: at,
        date_updated: at,
    }
}

// Keys.

pub fn messaging_key(service: &Service, country: &str) -> MessagingConfigurationKey {
    MessagingConfigurationKey {
        account: service.account_sid.clone(),
        service: service.sid.clone(),
        country: country.to_owned(),
    }
}

pub fn entity_key(service: &Service, identity: &str) -> EntityKey {
    EntityKey { account: service.account_sid.clone(), service: service.sid.clone(), identity: identity.to_owned() }
}

pub fn key_of(entity: &Entity) -> EntityKey {
    EntityKey {
        account: entity.account_sid.clone(),
        service: entity.service_sid.clone(),
        identity: entity.identity.clone(),
    }
}

pub fn factor_key(factor: &Factor) -> FactorKey {
    FactorKey {
        entity: EntityKey {
            account: factor.account_sid.clone(),
            service: factor.service_sid.clone(),
            identity: factor.identity.clone(),
        },
        sid: factor.sid.clone(),
    }
}

pub fn challenge_key(challenge: &Challenge) -> ChallengeKey {
    ChallengeKey {
        entity: EntityKey {
            account: challenge.account_sid.clone(),
            service: challenge.service_sid.clone(),
            identity: challenge.identity.clone(),
        },
        sid: challenge.sid.clone(),
    }
}

pub fn rate_limit_key(rate_limit: &RateLimit) -> RateLimitKey {
    RateLimitKey {
        account: rate_limit.account_sid.clone(),
        service: rate_limit.service_sid.clone(),
        rate_limit: rate_limit.sid.clone(),
    }
}

/// The answer to `ceremony`, naming the credential `credential_id`.
pub fn passkey_key(ceremony: &Ceremony, credential_id: Option<&[u8]>) -> PasskeyKey {
    PasskeyKey {
        account: ceremony.account_sid.clone(),
        service: ceremony.service_sid.clone(),
        challenge: ceremony.challenge.clone(),
        credential_id: credential_id.map(<[u8]>::to_vec),
    }
}

pub fn at_sid(v: &Verification) -> VerificationAt {
    VerificationAt::Sid { account: v.account_sid.clone(), service: v.service_sid.clone(), sid: v.sid.clone() }
}

pub fn newest_to(service: &Service, to: &str) -> VerificationAt {
    VerificationAt::NewestTo { account: service.account_sid.clone(), service: service.sid.clone(), to: to.to_owned() }
}

pub fn send_key(service: &Service, to: &str, rate_limits: &[(&str, &str)]) -> SendKey {
    SendKey {
        account: service.account_sid.clone(),
        service: service.sid.clone(),
        to: to.to_owned(),
        rate_limits: rate_limits.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        controls: None,
    }
}

/// A send key of `to` that loads the fraud controls of `channel` for `country`, summing the
/// tallies `ranges` names (`(key, from)`).
pub fn controls_key(
    service: &Service,
    to: &str,
    channel: &str,
    country: Option<&str>,
    ranges: &[(&str, Timestamp)],
) -> SendKey {
    SendKey {
        controls: Some(ControlsKey {
            channel: channel.to_owned(),
            country: country.map(str::to_owned),
            tallies: ranges.iter().map(|(key, from)| TallyRange { key: (*key).to_owned(), from: *from }).collect(),
        }),
        ..send_key(service, to, &[])
    }
}

/// Every attempt of `account`: a filter with nothing else given.
pub fn attempt_filter(account: &Sid) -> AttemptFilter {
    AttemptFilter::of(account.clone())
}

/// A page of a newest-first list (`/Attempts`).
pub fn newest(cursor: Cursor, limit: u32) -> Page {
    Page { cursor, limit, descending: true }
}

/// A Safe List entry of `account` for `phone_number`, made at `at`.
pub fn safe_list_entry(account: &Sid, phone_number: &str, at: Timestamp) -> SafeListEntry {
    SafeListEntry {
        sid: new_sid("GN"),
        account_sid: account.clone(),
        phone_number: phone_number.to_owned(),
        date_created: at,
    }
}

/// Every row: a limit larger than any list the suite makes.
pub fn all() -> Page {
    Page { cursor: Cursor::First, limit: 1000, descending: false }
}

// Decisions as core makes them.

/// A send as core decides it: `plan_send` over what the store loaded, then the new or resent
/// verification, its message and the rate-limit windows it counts in. `None` when the
/// service was not found.
pub fn decide_send(
    state: Option<SendState>,
    new: NewVerification,
    now: Timestamp,
) -> Decision<Option<Result<Verification, SendRefusal>>> {
    let Some(state) = state else { return Decision::nothing(None) };
    let plan = match plan_send(state.newest.as_ref(), &state.meters, now) {
        Ok(plan) => plan,
        Err(refusal) => return Decision::nothing(Some(Err(refusal))),
    };
    let mut changes: Vec<Change> = plan
        .windows
        .iter()
        .map(|(bucket, value, window)| Change::SaveWindow {
            account: new.account_sid.clone(),
            bucket: bucket.clone(),
            value: value.clone(),
            window: *window,
        })
        .collect();
    let verification = match state.newest {
        Some(mut open) if plan.reuse => {
            open.resend(attempt(VerificationChannel::Sms, now), plan.window, now);
            changes.push(Change::UpdateVerification(open.clone()));
            open
        }
        _ => {
            let created = Verification::new(new, attempt(VerificationChannel::Sms, now), plan.window, now);
            changes.push(Change::InsertVerification(created.clone()));
            created
        }
    };
    changes.push(Change::InsertMessage(message(&verification, now)));
    Decision::save(changes, Some(Ok(verification)))
}

// Setup.

/// An account with one service, saved.
pub struct Tenant {
    pub account: Account,
    pub service: Service,
}

impl Tenant {
    pub fn sid(&self) -> &Sid {
        &self.account.sid
    }
}

pub async fn tenant<S: Store>(store: &S, name: &str) -> Tenant {
    let account = account(name);
    let service = service(&account.sid, &format!("{name} app"));
    store
        .save(vec![Change::InsertAccount(account.clone()), Change::InsertService(service.clone())])
        .await
        .expect("saving an account and its service");
    Tenant { account, service }
}

/// Another service of an existing account, saved.
pub async fn add_service<S: Store>(store: &S, account: &Sid, name: &str) -> Service {
    let service = service(account, name);
    store.save(vec![Change::InsertService(service.clone())]).await.expect("saving a service");
    service
}

pub async fn save<S: Store>(store: &S, changes: Vec<Change>) {
    store.save(changes).await.expect("saving the fixtures");
}

/// One of everything a service holds, saved in one batch: what a deletion or another
/// account's SID must not leave reachable.
pub struct Tree {
    pub service: Service,
    pub verification: Verification,
    pub message: SealedMessage,
    pub entity: Entity,
    pub factor: Factor,
    pub totp: Factor,
    pub challenge: Challenge,
    pub token: AccessToken,
    pub rate_limit: RateLimit,
    pub bucket: Bucket,
    pub webhook: Webhook,
    pub delivery: SealedDelivery,
    /// A queued send attempt of the verification.
    pub attempt: Attempt,
    /// The service's configuration for [`TREE_COUNTRY`].
    pub messaging: MessagingConfiguration,
    /// A verified passkey of the entity, its credential [`TREE_CREDENTIAL`].
    pub passkey: Factor,
    /// An authentication ceremony bound to the passkey, not answered.
    pub ceremony: Ceremony,
}

/// The metered value the tree's window counts.
pub const TREE_VALUE: &str = "198.51.100.1";
pub const TREE_TO: &str = "+15017122661";
pub const TREE_IDENTITY: &str = "tree-user";
pub const TREE_COUNTRY: &str = "US";
/// The tally key the tree's service counted in (3 sent, 1 converted at `t(0)`).
pub const TREE_TALLY: &str = "sms:+1501";
/// The credential ID of the tree's passkey.
pub const TREE_CREDENTIAL: &[u8] = b"tree credential";
/// The tree's service's Fraud Guard override.
pub const TREE_FRAUD_GUARD: &str = "strict";

pub async fn tree<S: Store>(store: &S, account: &Sid, name: &str) -> Tree {
    let service = service(account, name);
    let verification = verification(&service, TREE_TO, t(0));
    let message = message(&verification, t(0));
    let entity = entity(&service, TREE_IDENTITY, t(0));
    let factor = verified(push_factor(&entity, bytes(11, 91), t(0)));
    let totp = verified(totp_factor(&entity, t(0)));
    let challenge = challenge(&factor, t(1), t(301));
    let token = access_token(&service, TREE_IDENTITY, t(0), 3600);
    let rate_limit = rate_limit(&service, "end_user_ip_address");
    let bucket = bucket(&rate_limit, 10, 3600);
    let webhook = webhook(&service, WebhookStatus::Enabled);
    let delivery = delivery(&webhook, t(2));
    let attempt = send_attempt(&verification, t(0));
    let messaging = messaging_configuration(&service, TREE_COUNTRY, t(0));
    let passkey = with_credential(passkey_factor(&entity, t(0)), TREE_CREDENTIAL, 1);
    let ceremony = authentication(&service, Some(&passkey), t(1));
    save(
        store,
        vec![
            Change::InsertService(service.clone()),
            Change::InsertVerification(verification.clone()),
            Change::InsertMessage(message.clone()),
            Change::InsertEntity(entity.clone()),
            Change::InsertFactor(factor.clone()),
            Change::InsertFactor(totp.clone()),
            Change::InsertChallenge(challenge.clone()),
            Change::InsertNotification(notification(&challenge, t(1))),
            Change::InsertAccessToken(token.clone()),
            Change::LogFactorCreation {
                account: account.clone(),
                service: service.sid.clone(),
                identity: TREE_IDENTITY.into(),
                at: t(0),
            },
            Change::InsertRateLimit(rate_limit.clone()),
            Change::InsertBucket(bucket.clone()),
            Change::SaveWindow {
                account: account.clone(),
                bucket: bucket.sid.clone(),
                value: TREE_VALUE.into(),
                window: Window { start: t(0), count: 2 },
            },
            Change::InsertWebhook(webhook.clone()),
            Change::InsertDelivery(delivery.clone()),
            Change::InsertAttempt(attempt.clone()),
            Change::InsertMessagingConfiguration(messaging.clone()),
            Change::SetFraudGuard {
                account: account.clone(),
                service: service.sid.clone(),
                level: Some(TREE_FRAUD_GUARD.into()),
            },
            Change::AddTally {
                account: account.clone(),
                service: service.sid.clone(),
                key: TREE_TALLY.into(),
                period: t(0),
                sent: 3,
                converted: 1,
            },
            Change::InsertFactor(passkey.clone()),
            Change::InsertCeremony(ceremony.clone()),
        ],
    )
    .await;
    Tree {
        service,
        verification,
        message,
        entity,
        factor,
        totp,
        challenge,
        token,
        rate_limit,
        bucket,
        webhook,
        delivery,
        attempt,
        messaging,
        passkey,
        ceremony,
    }
}

/// Runs `tasks` copies of an operation at once (released together by a barrier) and
/// returns their outcomes.
pub async fn race<S, T, F, Fut>(store: &Arc<S>, tasks: usize, op: F) -> Vec<T>
where
    S: Store,
    T: Send + 'static,
    F: Fn(Arc<S>, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let mut running = tokio::task::JoinSet::new();
    for i in 0..tasks {
        let operation = op(Arc::clone(store), i);
        let barrier = Arc::clone(&barrier);
        running.spawn(async move {
            barrier.wait().await;
            operation.await
        });
    }
    let mut outcomes = Vec::with_capacity(tasks);
    while let Some(outcome) = running.join_next().await {
        outcomes.push(outcome.expect("a racing task panicked"));
    }
    outcomes
}

/// How many of `items` satisfy `f`.
pub fn count<T>(items: &[T], f: impl Fn(&T) -> bool) -> usize {
    items.iter().filter(|i| f(i)).count()
}

/// `n` fresh SIDs, greatest first: given to rows in insertion order, they make SID order the
/// reverse of creation order.
pub fn descending_sids(prefix: &str, n: usize) -> Vec<Sid> {
    let mut sids: Vec<Sid> = (0..n).map(|_| new_sid(prefix)).collect();
    sids.sort_unstable_by(|a, b| b.cmp(a));
    sids
}
