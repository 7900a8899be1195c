//! Verifications and checks: the request's own checks (destination, channel, custom code,
//! PSD2), then one store operation that applies the domain's send or check rules.

use std::sync::Arc;
use verifyd_server::{Reply, VerificationChecksApi, VerificationsApi};

use std::collections::BTreeMap;
use verifyd_models::{
    CreateVerificationCheckField, CreateVerificationCheckRequest, CreateVerificationField, CreateVerificationRequest,
    FetchVerificationRequest, UpdateVerificationRequest, Verification as VerificationBody, VerificationChannel,
    VerificationCheck, VerificationCheckSnaAttemptsErrorCodesItem, VerificationLookup,
    VerificationSendCodeAttemptsItem, VerificationSna, VerificationStatus, VerificationUpdateStatus,
};

use verifyd_runtime::{Sid, Timestamp};

use crate::background::sends::{FirstOutcome, Payload};
use crate::domain::fraud;
use crate::domain::outbox::{OutboxChannel, SealedMessage};
use crate::domain::sending::{Attempt, LEASE, SendStatus};
use crate::domain::template::{RenderInput, Templates, render, resolve_locale};
use crate::domain::verification::{
    CheckOutcome, Destination, FinishOutcome, NewVerification, SendAttempt, SendRefusal, Verification, generate_code,
    normalize_to, plan_send,
};
use crate::ids::{new_sid, prefix};
use crate::keys::{Keys, SealContext, SecretKind};
use crate::observe::{self, Event, Limit, MessageOutcome};
use crate::provider::RenderedMessage;
use crate::store::{Change, ControlsKey, ControlsState, Decision, SendKey, Store, VerificationAt};
use crate::{Core, CoreError, Principal};

/// The error a pending SNA check reports for its attempt (carrier result not yet known).
const SNA_PENDING: i64 = 60519;

fn path(service: &Sid, sid: &Sid) -> String {
    format!("/Services/{service}/Verifications/{sid}")
}

/// `RateLimits` as (unique name, value) pairs; a value that is not a string is metered as
/// its JSON text (`123`, `true`).
fn metered_values(rate_limits: Option<serde_json::Map<String, serde_json::Value>>) -> Vec<(String, String)> {
    rate_limits
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (name, value)
        })
        .collect()
}

/// What a send to a number loads for its fraud controls: the geo permissions of its channel
/// and country, and for a counted send (SMS, with its prefix) the tallies Fraud Guard compares.
fn controls_key(
    country: Option<String>,
    channel: VerificationChannel,
    prefix: Option<&str>,
    now: Timestamp,
) -> ControlsKey {
    let tallies = prefix.map(|prefix| fraud::ranges(prefix, now)).unwrap_or_default();
    ControlsKey { channel: channel.to_string(), country, tallies }
}

/// What the controls judge, from what the store loaded: the service's override, else the
/// server's level.
fn judged(state: &ControlsState, server: fraud::Level) -> fraud::Controls {
    let level = state.fraud_guard.as_deref().and_then(fraud::Level::parse).unwrap_or(server);
    let tallies = match state.tallies.as_slice() {
        [baseline, prefix] => Some((*baseline, *prefix)),
        _ => None,
    };
    fraud::Controls { safe_listed: state.safe_listed, geo: state.geo, level, tallies }
}

/// Additions to a verification's tally rows.
pub(crate) fn tally_changes(
    v: &Verification,
    rows: Vec<fraud::TallyAt>,
    sent: u32,
    converted: u32,
) -> impl Iterator<Item = Change> + '_ {
    rows.into_iter().map(move |row| Change::AddTally {
        account: v.account_sid.clone(),
        service: v.service_sid.clone(),
        key: row.key,
        period: row.period,
        sent,
        converted,
    })
}

/// An approval's tally additions: one conversion in the rows its send counted in.
pub(crate) fn conversion_changes(v: &Verification, shards: i64) -> Vec<Change> {
    tally_changes(v, fraud::conversion_rows(v, shards), 0, 1).collect()
}

/// What a send writes besides its verification: the attempt, and the message where it is
/// kept (the outbox, or the attempt's sealed payload for a provider, or both in development).
struct Send {
    /// The channel's provider; `None` for the outbox.
    provider: Option<&'static str>,
    /// The outbox keeps every message in development mode, whatever the provider.
    to_outbox: bool,
    message_sid: Sid,
    country: Option<String>,
    send_digits: Option<String>,
    message: MessageSpec,
    sealed: Option<Sealed>,
}

/// What a verification's message says, except the code (a re-send repeats the code its
/// verification keeps, so the code is filled in last).
struct MessageSpec {
    templates: Arc<Templates>,
    /// The template chosen (`TemplateSid`, the service's `DefaultTemplateSid`, or the bundled
    /// one); it exists in `templates`.
    template: Sid,
    /// A supported locale (see [`resolve_locale`]).
    locale: String,
    /// `CustomFriendlyName`, or the service's friendly name.
    friendly_name: String,
    do_not_share_warning: bool,
    channel: VerificationChannel,
    /// `TemplateCustomSubstitutions`.
    custom: BTreeMap<String, String>,
    /// The message rendered with the new verification's code, before the store's operation
    /// (a re-send renders it again with the stored code).
    rendered: Option<(String, RenderedMessage)>,
}

/// What a send seals, sealed for one code before the store's operation: sealing is CPU that
/// the single writer would otherwise spend inside its batch, where every operation of the
/// batch waits for it. A re-send (which repeats the stored code) seals inside.
struct Sealed {
    code: String,
    /// The outbox message's body and code.
    outbox: Option<(Vec<u8>, Vec<u8>)>,
    /// The attempt's payload for a provider.
    payload: Option<Vec<u8>>,
}

impl MessageSpec {
    /// The message with `code` in it. An SNA verification sends nothing: its outbox record
    /// reads as an SMS would.
    fn render(&self, code: &str) -> Result<RenderedMessage, crate::domain::template::RenderError> {
        let channel = match self.channel {
            VerificationChannel::Sna => VerificationChannel::Sms,
            channel => channel,
        };
        let template = self.templates.get(&self.template).unwrap_or_else(|| self.templates.default());
        render(
            template,
            &RenderInput {
                channel,
                locale: &self.locale,
                friendly_name: &self.friendly_name,
                code,
                ttl_minutes: u32::try_from(crate::domain::verification::LIFETIME / 60).unwrap_or(10),
                do_not_share_warning: self.do_not_share_warning,
                custom: &self.custom,
            },
        )
    }
}

impl Send {
    /// Seals what [`Send::record`] will write for `code` (the code of a new verification)
    /// and the attempt `attempt_sid`, now.
    fn seal_ahead(&mut self, keys: &Keys, attempt_sid: &Sid, code: &str) {
        let Some((_, message)) = self.message.rendered.as_ref().filter(|(rendered, _)| rendered == code) else {
            return;
        };
        let outbox = (self.provider.is_none() || self.to_outbox).then(|| {
            (
                keys.seal(SealContext::MessageBody(&self.message_sid), message.text.as_bytes()),
                keys.seal(SealContext::MessageCode(&self.message_sid), code.as_bytes()),
            )
        });
        let payload = self.provider.is_some().then(|| {
            Payload { code: code.to_owned(), message: message.clone(), send_digits: self.send_digits.clone() }
                .seal(keys, attempt_sid)
        });
        self.sealed = Some(Sealed { code: code.to_owned(), outbox, payload });
    }

    /// Adds the attempt (and outbox message) to `changes`; answers the attempt when it is
    /// queued for a provider, to be tried once the changes are committed.
    fn record(
        mut self,
        keys: &Keys,
        verification: &Verification,
        attempt_sid: Sid,
        code: &str,
        now: Timestamp,
        changes: &mut Vec<Change>,
    ) -> Result<Option<Attempt>, CoreError> {
        let message = match self.message.rendered.take() {
            Some((rendered_code, message)) if rendered_code == code => message,
            // A re-send: the template rendered with the new code before, so it renders now.
            _ => self.message.render(code).map_err(|e| CoreError::Internal(format!("rendering: {e}")))?,
        };
        let sealed = self.sealed.take().filter(|sealed| sealed.code == code);
        let (outbox, payload) = sealed.map_or((None, None), |s| (s.outbox, s.payload));
        if self.provider.is_none() || self.to_outbox {
            let (body_sealed, code_sealed) = outbox.unwrap_or_else(|| {
                (
                    keys.seal(SealContext::MessageBody(&self.message_sid), message.text.as_bytes()),
                    keys.seal(SealContext::MessageCode(&self.message_sid), code.as_bytes()),
                )
            });
            changes.push(Change::InsertMessage(outbox_message(
                verification,
                &self.message,
                body_sealed,
                code_sealed,
                self.message_sid.clone(),
                now,
            )));
        }
        let mut attempt = Attempt {
            account_sid: verification.account_sid.clone(),
            service_sid: verification.service_sid.clone(),
            verification_sid: verification.sid.clone(),
            channel: self.message.channel,
            to: verification.to.clone(),
            country: self.country,
            locale: self.message.locale.clone(),
            provider: self.provider.unwrap_or(OUTBOX).to_owned(),
            status: SendStatus::Sent,
            message_id: None,
            error: None,
            tries: 1,
            due_at: now,
            leased_until: now,
            expires_at: verification.expires_at,
            payload_sealed: None,
            date_created: now,
            date_updated: now,
            sid: attempt_sid,
        };
        if self.provider.is_none() {
            // Written to the outbox in this transaction: sent, and it cannot fail.
            attempt.message_id = Some(self.message_sid.to_string());
            changes.push(Change::InsertAttempt(attempt));
            return Ok(None);
        }
        let payload = payload.unwrap_or_else(|| {
            Payload { code: code.to_owned(), message, send_digits: self.send_digits }.seal(keys, &attempt.sid)
        });
        attempt.status = SendStatus::Queued;
        // Leased to this instance, which tries it as soon as the changes are committed.
        attempt.leased_until = now.plus_seconds(LEASE);
        attempt.payload_sealed = Some(payload);
        changes.push(Change::InsertAttempt(attempt.clone()));
        Ok(Some(attempt))
    }
}

/// The provider name of attempts written to the outbox.
const OUTBOX: &str = "outbox";

/// The outbox's record of a message, its body and code sealed under its SID.
fn outbox_message(
    verification: &Verification,
    template: &MessageSpec,
    body_sealed: Vec<u8>,
    code_sealed: Vec<u8>,
    sid: Sid,
    now: Timestamp,
) -> SealedMessage {
    SealedMessage {
        body_sealed,
        code_sealed: Some(code_sealed),
        sid,
        account_sid: verification.account_sid.clone(),
        service_sid: verification.service_sid.clone(),
        verification_sid: Some(verification.sid.clone()),
        to: verification.to.clone(),
        channel: OutboxChannel::Verification(template.channel),
        locale: template.locale.clone(),
        date_created: now,
    }
}

/// How a check ended, as it is reported: the domain's outcome, and for a compared code the
/// status it left the verification in.
fn check_outcome(outcome: CheckOutcome, checked: Option<&Verification>) -> observe::CheckOutcome {
    match (outcome, checked.map(|v| v.status)) {
        (CheckOutcome::Checked, Some(VerificationStatus::Approved)) => observe::CheckOutcome::Approved,
        (CheckOutcome::Checked, Some(VerificationStatus::MaxAttemptsReached)) | (CheckOutcome::TooManyChecks, _) => {
            observe::CheckOutcome::MaxAttemptsReached
        }
        (CheckOutcome::Checked, _) => observe::CheckOutcome::WrongCode,
        (CheckOutcome::Waiting, _) => observe::CheckOutcome::Waiting,
        (CheckOutcome::NotFound, _) => observe::CheckOutcome::NotFound,
        (CheckOutcome::Expired, _) => observe::CheckOutcome::Expired,
        (CheckOutcome::LockedOut, _) => observe::CheckOutcome::LockedOut,
        (CheckOutcome::CodeRequired, _) => observe::CheckOutcome::NoCode,
    }
}

/// How a send ended, as the API reports it.
enum Sending {
    /// With the attempt queued for a provider (none for the outbox).
    Sent(Box<Verification>, Option<Box<Attempt>>),
    Refused(SendRefusal),
    /// Refused by the fraud controls: nothing was saved.
    Blocked(fraud::Verdict),
    NoService,
    /// A stored code could not be opened (a key problem): nothing was saved.
    Failed(CoreError),
}

/// What a start asks of its message.
struct MessageRequest<'a> {
    template_sid: Option<Sid>,
    custom: Option<serde_json::Map<String, serde_json::Value>>,
    locale: Option<&'a str>,
    /// The number's country, for the language when `Locale` is not given.
    country: Option<&'a str>,
    friendly_name: Option<String>,
    channel: VerificationChannel,
}

impl<S: Store> Core<S> {
    /// The message a start sends, checked by rendering it with `code`: an unknown
    /// `TemplateSid` (or one that does not carry the channel) and a placeholder without a
    /// value are refused before anything is saved.
    fn message_spec(
        &self,
        service: &crate::domain::service::Service,
        r: MessageRequest<'_>,
        code: &str,
    ) -> Result<MessageSpec, CoreError> {
        let settings = &service.settings;
        let templates = Arc::clone(&self.config.templates);
        let template = match (r.template_sid, &settings.default_template_sid) {
            (Some(sid), _) => match templates.get(&sid) {
                Some(t) if t.supports(r.channel) || r.channel == VerificationChannel::Sna => t.sid.clone(),
                _ => return Err(CreateVerificationField::TemplateSid.invalid().into()),
            },
            // The service's default, when the operator still has it and it carries the channel.
            (None, Some(sid)) => match templates.get(sid) {
                Some(t) if t.supports(r.channel) => t.sid.clone(),
                _ => {
                    tracing::warn!(service = %service.sid, template = %sid, "the service's DefaultTemplateSid is not available for this channel; using the bundled template");
                    templates.default().sid.clone()
                }
            },
            (None, None) => templates.default().sid.clone(),
        };
        // Values that are not strings are substituted as their JSON text.
        let custom = r
            .custom
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(s) => (name, s),
                other => (name, other.to_string()),
            })
            .collect();
        let spec = MessageSpec {
            templates,
            template,
            locale: resolve_locale(r.locale, r.country),
            friendly_name: r.friendly_name.unwrap_or_else(|| settings.friendly_name.clone()),
            do_not_share_warning: settings.do_not_share_warning_enabled,
            channel: r.channel,
            custom,
            rendered: None,
        };
        match spec.render(code) {
            Ok(message) => Ok(MessageSpec { rendered: Some((code.to_owned(), message)), ..spec }),
            Err(crate::domain::template::RenderError::MissingSubstitution(_)) => {
                Err(CreateVerificationField::TemplateCustomSubstitutions.invalid().into())
            }
            Err(crate::domain::template::RenderError::UnsupportedChannel(_)) => {
                Err(CreateVerificationField::TemplateSid.invalid().into())
            }
        }
    }

    /// Reports how a start ended: accepted (with its message, when the outbox took it in
    /// the same transaction), or refused by a limit.
    fn report_start(&self, sending: &Sending) {
        let limit = match sending {
            Sending::Sent(v, queued) => {
                self.record(Event::VerificationStarted { channel: v.channel });
                if queued.is_none() {
                    self.record(Event::MessageDelivery { provider: OUTBOX, outcome: MessageOutcome::Sent });
                }
                return;
            }
            Sending::Blocked(fraud::Verdict::GeoBlocked) => Limit::GeoPermissions,
            Sending::Blocked(_) => Limit::FraudGuard,
            Sending::Refused(SendRefusal::TooManySends) => Limit::MaxSends,
            Sending::Refused(SendRefusal::RateLimited) => Limit::RateLimit,
            Sending::Refused(SendRefusal::UnknownRateLimit(_)) | Sending::NoService | Sending::Failed(_) => return,
        };
        self.record(Event::Refused { limit });
    }

    fn verification_response(&self, v: &Verification) -> Result<VerificationBody, CoreError> {
        let sna = if v.channel == VerificationChannel::Sna {
            Some(VerificationSna { url: self.sna_url(&v.sid)? })
        } else {
            None
        };
        Ok(VerificationBody {
            sid: v.sid.clone(),
            service_sid: v.service_sid.clone(),
            account_sid: v.account_sid.clone(),
            to: Some(v.to.clone()),
            channel: v.channel.into(),
            status: Some(v.status.into()),
            valid: Some(v.status == VerificationStatus::Approved),
            lookup: Some(VerificationLookup { carrier: None }),
            amount: v.amount.clone(),
            payee: v.payee.clone(),
            send_code_attempts: Some(
                v.send_attempts
                    .iter()
                    .map(|a| VerificationSendCodeAttemptsItem {
                        attempt_sid: a.attempt_sid.clone(),
                        channel: a.channel.to_string(),
                        time: a.time,
                    })
                    .collect(),
            ),
            sna,
            date_created: v.date_created,
            date_updated: v.date_updated,
            url: self.urls.at(&path(&v.service_sid, &v.sid))?,
        })
    }

    /// The simulated carrier's URL for an SNA verification (development mode only): its
    /// token is derived from the SID, so nothing more is stored.
    fn sna_url(&self, sid: &Sid) -> Result<verifyd_runtime::HttpUrl, CoreError> {
        let base =
            format!("{}/dev/sna/{sid}?token={}", self.config.public_url.trim_end_matches('/'), self.sna_token(sid));
        verifyd_runtime::HttpUrl::parse(&base).map_err(|_| CoreError::Internal("cannot build the SNA URL".into()))
    }

    fn sna_token(&self, sid: &Sid) -> String {
        let hash = self.keys.secret_hash(SecretKind::SnaToken, sid.as_str());
        hex::encode(hash.get(..16).unwrap_or_default())
    }

    /// The simulated carrier: the device "invoked" `sna.url`; a check by `To` now approves.
    pub async fn confirm_sna(&self, sid: &Sid, token: &str) -> Result<bool, CoreError> {
        if !self.config.dev {
            return Ok(false);
        }
        let expected = self.sna_token(sid);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), token.as_bytes())) {
            return Ok(false);
        }
        let now = self.clock.now();
        Ok(self
            .store
            .with_verification(VerificationAt::Carrier(sid.clone()), move |found| {
                let Some(mut v) = found else { return Decision::nothing(false) };
                if v.confirm_carrier(now) {
                    Decision::save(vec![Change::UpdateVerification(v)], true)
                } else {
                    Decision::nothing(false)
                }
            })
            .await?)
    }
}

impl<S: Store> VerificationsApi for Core<S> {
    async fn create_verification(
        &self,
        principal: &Principal,
        r: CreateVerificationRequest,
    ) -> Result<Reply<VerificationBody>, CoreError> {
        let service = self.kept_service_of(principal, &r.service_sid).await?;
        let settings = &service.settings;
        let now = self.clock.now();
        // A send to a number passes the fraud controls; an SMS one is counted under its prefix.
        let (to, country, controls, counted) =
            match (normalize_to(&r.to).ok_or(CreateVerificationField::To.invalid())?, &r.channel) {
                (Destination::Email(e), VerificationChannel::Email) => (e, None, None, None),
                (
                    Destination::Phone(p),
                    channel @ (VerificationChannel::Sms | VerificationChannel::Call | VerificationChannel::Whatsapp),
                ) => {
                    let prefix = fraud::counts(*channel).then(|| fraud::prefix(&p));
                    let country = p.country();
                    let controls = controls_key(country.clone(), *channel, prefix.as_deref(), now);
                    (p.e164, country, Some(controls), prefix)
                }
                (Destination::Phone(p), VerificationChannel::Sna) if self.config.dev => {
                    let country = p.country();
                    (p.e164, country, None, None)
                }
                (_, VerificationChannel::Sna) => return Err(CreateVerificationField::Channel.invalid().into()),
                _ => return Err(CreateVerificationField::To.invalid().into()),
            };
        let code = match r.custom_code {
            Some(_) if !settings.custom_code_enabled => {
                return Err(CoreError::FeatureDisabled { feature: CreateVerificationField::CustomCode.key() });
            }
            Some(custom) => custom,
            None => generate_code(settings.code_length),
        };
        // Amount and Payee belong to PSD2 services only; elsewhere they are ignored.
        let (amount, payee) = if settings.psd2_enabled {
            match (r.amount, r.payee) {
                (Some(a), Some(p)) => (Some(a), Some(p)),
                _ => return Err(CoreError::Psd2Required),
            }
        } else {
            (None, None)
        };
        let message = self.message_spec(
            &service,
            MessageRequest {
                template_sid: r.template_sid,
                custom: r.template_custom_substitutions,
                locale: r.locale.as_deref(),
                country: country.as_deref(),
                friendly_name: r.custom_friendly_name,
                channel: r.channel,
            },
            &code,
        )?;
        let account = principal.account_sid().clone();
        // Everything a new verification needs is sealed here, before the store's operation:
        // only a re-send (which repeats the stored code) opens and seals inside it.
        let sid = new_sid(prefix::VERIFICATION);
        let new = NewVerification {
            code_hash: self.keys.code_hash(sid.as_str(), &code).to_vec(),
            code_sealed: self.keys.seal(SealContext::Code(&sid), code.as_bytes()),
            sid,
            account_sid: account.clone(),
            service_sid: service.sid.clone(),
            to: to.clone(),
            channel: r.channel,
            amount,
            payee,
        };
        let attempt = SendAttempt { attempt_sid: new_sid(prefix::ATTEMPT), channel: r.channel, time: now };
        let mut send = Send {
            provider: self.config.providers.of(r.channel).map(|p| p.name()),
            to_outbox: self.config.dev,
            message_sid: new_sid(prefix::MESSAGE),
            country,
            send_digits: r.send_digits.filter(|_| r.channel == VerificationChannel::Call),
            message,
            sealed: None,
        };
        send.seal_ahead(&self.keys, &attempt.attempt_sid, &code);
        let keys = Arc::clone(&self.keys);
        let key =
            SendKey { account, service: service.sid.clone(), to, rate_limits: metered_values(r.rate_limits), controls };
        let fraud_guard = self.config.fraud_guard;
        let shards = self.store.tally_shards();
        let sent = self
            .store
            .with_send(key, move |state| {
                let Some(state) = state else { return Decision::nothing(Sending::NoService) };
                // The fraud controls come first: a blocked send counts in no limit.
                if let Some(controls) = &state.controls {
                    match fraud::judge(&judged(controls, fraud_guard)) {
                        fraud::Verdict::Allowed => {}
                        verdict => return Decision::nothing(Sending::Blocked(verdict)),
                    }
                }
                let plan = match plan_send(state.newest.as_ref(), &state.meters, now) {
                    Ok(plan) => plan,
                    Err(refusal) => return Decision::nothing(Sending::Refused(refusal)),
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
                let attempt_sid = attempt.attempt_sid.clone();
                let (verification, code, is_new) = match state.newest {
                    Some(mut open) if plan.reuse => {
                        // Same SID, same code: open the stored copy.
                        let stored = open.code_sealed.as_deref().unwrap_or_default();
                        let code = match keys.open_text(SealContext::Code(&open.sid), stored) {
                            Ok(code) => code,
                            Err(e) => return Decision::nothing(Sending::Failed(e.into())),
                        };
                        open.resend(attempt, plan.window, now);
                        changes.push(Change::UpdateVerification(open.clone()));
                        (open, code, false)
                    }
                    newest => {
                        // A pending newest verification (expired, or it would be reused) ends
                        // now: only the newest of a To carries its guesses, and a check racing
                        // this send must not count one in it.
                        if let Some(mut before) = newest
                            && before.supersede(now)
                        {
                            changes.push(Change::UpdateVerification(before));
                        }
                        let created = Verification::created(new, attempt, &plan, now);
                        changes.push(Change::InsertVerification(created.clone()));
                        (created, code, true)
                    }
                };
                // The message is saved with the verification: no send without its record.
                let queued = match send.record(&keys, &verification, attempt_sid, &code, now, &mut changes) {
                    Ok(queued) => queued,
                    Err(e) => return Decision::nothing(Sending::Failed(e)),
                };
                // Counted last: the tally rows are shared by every SMS start of the service, and
                // PostgreSQL holds a row from its update to the commit.
                if let (true, Some(prefix)) = (is_new, &counted) {
                    let rows = fraud::rows(prefix, &verification.to, now, shards);
                    changes.extend(tally_changes(&verification, rows, 1, 0));
                }
                Decision::save(changes, Sending::Sent(Box::new(verification), queued.map(Box::new)))
            })
            .await?;
        self.report_start(&sent);
        match sent {
            Sending::Sent(v, None) => self.verification_response(&v).map(Reply::new),
            Sending::Sent(v, Some(attempt)) => {
                let (channel, provider) = (attempt.channel, attempt.provider.clone());
                match self.sender().first_attempt(*attempt).await? {
                    FirstOutcome::Sent | FirstOutcome::InFlight => self.verification_response(&v).map(Reply::new),
                    FirstOutcome::Failed(reason) => {
                        Err(CoreError::DeliveryFailed { channel: channel.to_string(), provider, reason })
                    }
                }
            }
            Sending::NoService => Err(CoreError::not_found(super::services::path(&service.sid))),
            Sending::Blocked(fraud::Verdict::GeoBlocked) => Err(CoreError::GeoPermissionBlocked),
            Sending::Blocked(_) => Err(CoreError::FraudGuardBlocked),
            Sending::Refused(SendRefusal::TooManySends) => Err(CoreError::MaxSendAttempts),
            Sending::Refused(SendRefusal::RateLimited) => Err(CoreError::RateLimited),
            Sending::Refused(SendRefusal::UnknownRateLimit(name)) => {
                Err(CoreError::UnknownRateLimit { field: CreateVerificationField::RateLimits.invalid(), name })
            }
            Sending::Failed(e) => Err(e),
        }
    }

    async fn fetch_verification(
        &self,
        principal: &Principal,
        r: FetchVerificationRequest,
    ) -> Result<Reply<VerificationBody>, CoreError> {
        let now = self.clock.now();
        let at = VerificationAt::Sid {
            account: principal.account_sid().clone(),
            service: r.service_sid.clone(),
            sid: r.verification_sid.clone(),
        };
        let record = self
            .store
            .verification(at)
            .await?
            .filter(|v| v.is_open(now))
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.verification_sid)))?;
        self.verification_response(&record).map(Reply::new)
    }

    async fn update_verification(
        &self,
        principal: &Principal,
        r: UpdateVerificationRequest,
    ) -> Result<Reply<VerificationBody>, CoreError> {
        let status = match r.status {
            VerificationUpdateStatus::Canceled => VerificationStatus::Canceled,
            VerificationUpdateStatus::Approved => VerificationStatus::Approved,
        };
        let shards = self.store.tally_shards();
        let now = self.clock.now();
        let at = VerificationAt::Sid {
            account: principal.account_sid().clone(),
            service: r.service_sid.clone(),
            sid: r.verification_sid.clone(),
        };
        let finished = self
            .store
            .with_verification(at, move |found| {
                let Some(mut v) = found else { return Decision::nothing(None) };
                match v.finish(status, now) {
                    FinishOutcome::Finished => {
                        let mut changes = vec![Change::UpdateVerification(v.clone())];
                        if v.status == VerificationStatus::Approved {
                            changes.extend(conversion_changes(&v, shards));
                        }
                        Decision::save(changes, Some(v))
                    }
                    FinishOutcome::Expired => Decision::save(vec![Change::UpdateVerification(v)], None),
                    FinishOutcome::NotOpen => Decision::nothing(None),
                }
            })
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.service_sid, &r.verification_sid)))?;
        self.verification_response(&finished).map(Reply::new)
    }
}

impl<S: Store> VerificationChecksApi for Core<S> {
    async fn create_verification_check(
        &self,
        principal: &Principal,
        r: CreateVerificationCheckRequest,
    ) -> Result<Reply<VerificationCheck>, CoreError> {
        let account = principal.account_sid().clone();
        let service = r.service_sid.clone();
        let at = match (r.verification_sid, r.to) {
            (Some(sid), _) => VerificationAt::Sid { account, service, sid },
            (None, Some(to)) => {
                let to = match normalize_to(&to).ok_or(CreateVerificationCheckField::To.invalid())? {
                    Destination::Phone(p) => p.e164,
                    Destination::Email(e) => e,
                };
                VerificationAt::NewestTo { account, service, to }
            }
            (None, None) => return Err(CoreError::NeitherToNorSid),
        };
        let shards = self.store.tally_shards();
        let now = self.clock.now();
        let keys = Arc::clone(&self.keys);
        let limit = self.config.guessing();
        let (code, amount, payee) = (r.code, r.amount, r.payee);
        let (outcome, record) = self
            .store
            .with_check(at, move |found| {
                let Some(mut v) = found else {
                    return Decision::nothing((CheckOutcome::NotFound, None));
                };
                // The code is compared only if the check is a guess the lockout admits.
                let compare = code
                    .as_deref()
                    .map(|code| |v: &Verification| keys.code_matches(v.sid.as_str(), code, &v.code_hash));
                // The guesses of the To are the verification's own: a check compares a code
                // only with an open verification, the newest of its To, which carries them.
                let mut counted = v.guesses;
                let was_approved = v.status == VerificationStatus::Approved;
                let outcome = v.check_guess(&mut counted, limit, compare, amount.as_deref(), payee.as_deref(), now);
                let mut changes = Vec::new();
                if matches!(outcome, CheckOutcome::Checked | CheckOutcome::Expired) || counted != v.guesses {
                    v.guesses = counted;
                    changes.push(Change::UpdateVerification(v.clone()));
                }
                if !was_approved && v.status == VerificationStatus::Approved {
                    changes.extend(conversion_changes(&v, shards));
                }
                Decision::save(changes, (outcome, Some(v)))
            })
            .await?;
        let checked = check_outcome(outcome, record.as_ref());
        self.record(Event::VerificationChecked { outcome: checked });
        match checked {
            observe::CheckOutcome::LockedOut => self.record(Event::Refused { limit: Limit::GuessLockout }),
            observe::CheckOutcome::MaxAttemptsReached if outcome == CheckOutcome::TooManyChecks => {
                self.record(Event::Refused { limit: Limit::MaxAttempts });
            }
            _ => {}
        }
        let record = match (outcome, record) {
            (CheckOutcome::Checked | CheckOutcome::Waiting, Some(record)) => record,
            // The To is locked out (guessing across its verifications): the same answer as a
            // verification closed by its own wrong checks.
            (CheckOutcome::TooManyChecks | CheckOutcome::LockedOut, _) => return Err(CoreError::MaxCheckAttempts),
            (CheckOutcome::CodeRequired, _) => return Err(CreateVerificationCheckField::Code.invalid().into()),
            _ => return Err(CoreError::not_found(format!("/Services/{}/VerificationCheck", r.service_sid))),
        };
        let sna_attempts_error_codes =
            (record.channel == VerificationChannel::Sna).then(|| match (&record.status, record.send_attempts.last()) {
                (VerificationStatus::Approved, _) | (_, None) => Vec::new(),
                (_, Some(last)) => {
                    vec![VerificationCheckSnaAttemptsErrorCodesItem {
                        attempt_sid: last.attempt_sid.clone(),
                        code: SNA_PENDING,
                    }]
                }
            });
        Ok(Reply::new(VerificationCheck {
            sid: record.sid,
            service_sid: record.service_sid,
            account_sid: record.account_sid,
            to: Some(record.to),
            channel: record.channel.into(),
            valid: Some(record.status == VerificationStatus::Approved),
            status: Some(record.status.into()),
            amount: record.amount,
            payee: record.payee,
            date_created: record.date_created,
            date_updated: record.date_updated,
            sna_attempts_error_codes,
        }))
    }
}
