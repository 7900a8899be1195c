//! Challenges: a request to authenticate with a verified factor. A TOTP challenge is answered
//! with a code (at creation or later); a push challenge by the device's signed answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use verifyd_server::{ChallengesApi, Reply};

use verifyd_models::{
    Challenge as ChallengeBody, ChallengeDetails, ChallengeDetailsField, ChallengeLinks, ChallengeList,
    ChallengeListOrder, ChallengeRespondedReason, ChallengeStatus, CreateChallengeField, CreateChallengeRequest,
    CreateNotificationField, CreateNotificationRequest, FactorStatus, FactorType, FetchChallengeRequest,
    ListChallengesField, ListChallengesRequest, Notification as NotificationBody, UpdateChallengeField,
    UpdateChallengeRequest,
};
use verifyd_runtime::Sid;

use super::entities::key;
use super::factors::{matching_step, save_guesses};
use super::push::{SIGNATURE_FIELDS, SIGNATURE_FIELDS_HEADER, answer_error, push_notice};
use super::webhooks::event_changes;
use super::{open_private, seal_private};
use crate::domain::challenge::{Challenge, Details, Notification, NotifyRefusal, StatusFilter, expiration, may_notify};
use crate::domain::factor::Factor;
use crate::domain::webhook::Event;
use crate::ids::{new_sid, prefix};
use crate::keys::SealContext;
use crate::observe::{self, AnswerOutcome, Limit};
use crate::paging::{PageRequest, page};
use crate::store::{ChallengeFilter, ChallengeKey, Change, Decision, FactorKey, Store};
use crate::{Core, CoreError, Principal};

pub fn path(service: &Sid, identity: &str, sid: &Sid) -> String {
    format!("{}/Challenges/{sid}", super::entities::path(service, identity))
}

impl<S: Store> Core<S> {
    /// A challenge as `principal` may see it: a device only its own factor's (the router
    /// checked the service and identity; which factor a challenge belongs to is stored data).
    async fn device_challenge(
        &self,
        principal: &Principal,
        service: &Sid,
        identity: &str,
        challenge: &Sid,
    ) -> Result<Challenge, CoreError> {
        let found = self.challenge_of(principal, service, identity, challenge).await?;
        match principal {
            Principal::Device { factor_sid, .. } if *factor_sid != found.factor_sid => {
                Err(CoreError::not_found(path(service, identity, challenge)))
            }
            _ => Ok(found),
        }
    }

    /// A challenge's hidden details, opened: for its responses and the device's signed fields.
    fn hidden_details(&self, c: &Challenge) -> Result<Option<BTreeMap<String, String>>, CoreError> {
        let Some(hidden) = &c.hidden_details else { return Ok(None) };
        let json = open_private(&self.keys, SealContext::HiddenDetails(&c.sid), hidden)?;
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| CoreError::Internal(format!("a challenge's hidden details do not parse: {e}")))
    }

    pub(crate) fn challenge_response(&self, c: &Challenge) -> Result<ChallengeBody, CoreError> {
        let p = path(&c.service_sid, &c.identity, &c.sid);
        Ok(ChallengeBody {
            sid: c.sid.clone(),
            account_sid: c.account_sid.clone(),
            service_sid: c.service_sid.clone(),
            entity_sid: Some(c.entity_sid.clone()),
            identity: Some(c.identity.clone()),
            factor_sid: Some(c.factor_sid.clone()),
            date_created: c.date_created,
            date_updated: c.date_updated,
            date_responded: c.date_responded,
            expiration_date: Some(c.expiration_date),
            status: c.status.into(),
            responded_reason: c.responded_reason.into(),
            details: c.details.as_ref().map(|d| ChallengeDetails {
                message: d.message.clone(),
                date: d.date,
                fields: d
                    .fields
                    .iter()
                    .map(|(label, value)| ChallengeDetailsField { label: label.clone(), value: value.clone() })
                    .collect(),
            }),
            hidden_details: self.hidden_details(c)?,
            metadata: c.metadata.clone(),
            factor_type: c.factor_type.into(),
            url: self.urls.at(&p)?,
            links: ChallengeLinks { notifications: self.urls.at(&format!("{p}/Notifications"))? },
        })
    }

    /// Reports an answer to a challenge, and the limit that refused it when one did.
    pub(crate) fn report_answer(&self, factor_type: FactorType, outcome: AnswerOutcome) {
        self.record(observe::Event::ChallengeAnswered { factor_type, outcome });
        let limit = match outcome {
            AnswerOutcome::LockedOut => Limit::GuessLockout,
            AnswerOutcome::MaxAttemptsReached => Limit::MaxAttempts,
            _ => return,
        };
        self.record(observe::Event::Refused { limit });
    }

    pub(crate) async fn challenge_of(
        &self,
        principal: &Principal,
        service: &Sid,
        identity: &str,
        sid: &Sid,
    ) -> Result<Challenge, CoreError> {
        let now = self.clock.now();
        self.store
            .challenge(&ChallengeKey { entity: key(principal, service, identity), sid: sid.clone() })
            .await?
            .map(|c| c.as_of(now))
            .ok_or_else(|| CoreError::not_found(path(service, identity, sid)))
    }
}

impl<S: Store> ChallengesApi for Core<S> {
    async fn fetch_challenge(
        &self,
        principal: &Principal,
        r: FetchChallengeRequest,
    ) -> Result<Reply<ChallengeBody>, CoreError> {
        let challenge = self.device_challenge(principal, &r.service_sid, &r.identity, &r.challenge_sid).await?;
        let pending_push = challenge.factor_type == FactorType::Push && challenge.status == ChallengeStatus::Pending;
        let reply = Reply::new(self.challenge_response(&challenge)?);
        Ok(if pending_push { reply.with_header(SIGNATURE_FIELDS_HEADER, SIGNATURE_FIELDS.join(",")) } else { reply })
    }

    async fn create_challenge(
        &self,
        principal: &Principal,
        r: CreateChallengeRequest,
    ) -> Result<Reply<ChallengeBody>, CoreError> {
        // The factor is read once, by the writer's operation: the checks that need it run
        // there, in the order they always had (not found, passkey, expiry, push details), and a
        // code sent with the creation is compared there too (an HMAC or three: reading the
        // factor on the task as well, to compare it off the writer, cost more than that).
        let now = self.clock.now();
        let expiration_date = expiration(r.expiration_date, now);
        // The legacy Push.IncludeDate setting adds the creation date to a push challenge: read
        // only when there are details to date. A missing service leaves the factor missing too.
        let include_date = match &r.details_message {
            Some(_) => self
                .store
                .service(principal.account_sid(), &r.service_sid)
                .await?
                .is_some_and(|s| s.settings.push_include_date.unwrap_or(false)),
            None => false,
        };
        let sid = new_sid(prefix::CHALLENGE);
        // Sealed before the store sees them. A map of strings always serializes.
        let hidden_details = r.hidden_details.map(|map| {
            let json = serde_json::to_string(&map).unwrap_or_default();
            seal_private(&self.keys, SealContext::HiddenDetails(&sid), &json)
        });
        let keys = Arc::clone(&self.keys);
        let limit = self.config.guessing();
        let factor_path = super::factors::path(&r.service_sid, &r.identity, &r.factor_sid);
        let factor_key = FactorKey { entity: key(principal, &r.service_sid, &r.identity), sid: r.factor_sid.clone() };
        let (details_message, details_fields, auth_payload) = (r.details_message, r.details_fields, r.auth_payload);
        // The outcome of a code sent with the creation, to report, and the creation's.
        let (answered, created) = self
            .store
            .with_factor(factor_key, move |state| {
                let refused = |e: CoreError| Decision::nothing((None, Err(e)));
                let Some(state) = state else { return refused(CoreError::not_found(factor_path)) };
                let mut factor = state.factor;
                // A passkey is challenged by `/Passkeys/Challenges`, which gives the browser's options.
                if factor.is_passkey() {
                    return refused(CreateChallengeField::FactorSid.invalid().into());
                }
                let Some(expiration_date) = expiration_date else {
                    return refused(CreateChallengeField::ExpirationDate.invalid().into());
                };
                let is_push = factor.factor_type == FactorType::Push;
                if is_push && details_message.is_none() {
                    return refused(CreateChallengeField::DetailsMessage.invalid().into());
                }
                if is_push && auth_payload.is_some() {
                    return refused(CreateChallengeField::AuthPayload.invalid().into());
                }
                let details = details_message.map(|message| Details {
                    message,
                    date: (is_push && include_date).then_some(now),
                    fields: details_fields.unwrap_or_default().into_iter().map(|f| (f.label, f.value)).collect(),
                });
                if factor.status != FactorStatus::Verified {
                    return refused(CoreError::FactorUnverified);
                }
                if !factor.record_challenge(now) {
                    return refused(CoreError::TooManyChallengeCreations);
                }
                let mut challenge = Challenge {
                    seq: 0,
                    sid,
                    account_sid: factor.account_sid.clone(),
                    service_sid: factor.service_sid.clone(),
                    entity_sid: factor.entity_sid.clone(),
                    identity: factor.identity.clone(),
                    factor_sid: factor.sid.clone(),
                    factor_type: factor.factor_type,
                    status: ChallengeStatus::Pending,
                    responded_reason: ChallengeRespondedReason::None,
                    details,
                    hidden_details,
                    metadata: None,
                    date_created: now,
                    date_updated: now,
                    date_responded: None,
                    expiration_date,
                    answer_attempts: 0,
                };
                let mut guesses = state.guesses;
                let mut answered = None;
                if let Some(code) = auth_payload {
                    // A TOTP code answers the challenge at once; a wrong one counts against
                    // it and the entity. During the entity's lockout the code is refused (what
                    // `guess` computed ahead goes unused) and no challenge is created.
                    let step = |f: &Factor| matching_step(&keys, f, &code, now);
                    match challenge.answer_totp_guess(&mut factor, &mut guesses, limit, step, now) {
                        Ok(Err(refusal)) => {
                            return Decision::nothing((Some(refusal.into()), Err(answer_error(refusal))));
                        }
                        Ok(accepted) => answered = Some(AnswerOutcome::of_totp(accepted)),
                        Err(e) => return refused(e),
                    }
                }
                let mut changes =
                    vec![Change::UpdateFactor(factor.clone()), Change::InsertChallenge(challenge.clone())];
                if guesses != state.guesses {
                    changes.push(save_guesses(&factor, guesses));
                }
                changes.extend(event_changes(
                    &keys,
                    &state.webhooks,
                    Event::ChallengeAnswered(&challenge, &factor),
                    now,
                ));
                // A push challenge's notification is saved with it.
                let message = challenge.details.as_ref().map(|d| d.message.as_str());
                if let Some(notice) = push_notice(&keys, &factor, &challenge.sid, message, now) {
                    changes.push(Change::InsertMessage(notice));
                }
                Decision::save(changes, (answered, Ok(challenge)))
            })
            .await?;
        if let Some(outcome) = answered {
            self.report_answer(FactorType::Totp, outcome);
        }
        self.challenge_response(&created?).map(Reply::new)
    }

    async fn list_challenges(
        &self,
        principal: &Principal,
        mut r: ListChallengesRequest,
    ) -> Result<Reply<ChallengeList>, CoreError> {
        if let Principal::Device { factor_sid, .. } = principal {
            // A device sees its own factor's challenges only (the router has refused another).
            r.factor_sid = Some(factor_sid.clone());
        }
        let request =
            PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), ListChallengesField::PageToken.invalid())?;
        // An unknown service, or another account's, is not found (as for the entity list).
        self.service_of(principal, &r.service_sid).await?;
        let descending = matches!(r.order, Some(ChallengeListOrder::Desc));
        let mut filters = Vec::new();
        if let Some(f) = &r.factor_sid {
            filters.push((ListChallengesField::FactorSid.key(), f.to_string()));
        }
        if let Some(s) = &r.status {
            filters.push((ListChallengesField::Status.key(), s.to_string()));
        }
        if let Some(o) = &r.order {
            filters.push((ListChallengesField::Order.key(), o.to_string()));
        }
        let now = self.clock.now();
        let filter = ChallengeFilter { factor: r.factor_sid, status: StatusFilter::for_status(r.status.as_ref(), now) };
        let store_page = crate::store::Page { descending, ..request.store_page() };
        let rows = self.store.list_challenges(&key(principal, &r.service_sid, &r.identity), filter, store_page).await?;
        let list_path = format!("{}/Challenges", super::entities::path(&r.service_sid, &r.identity));
        let page = page(rows, &request, |c| c.seq, &self.urls, &list_path, "challenges", &filters)?;
        Ok(Reply::new(ChallengeList {
            challenges: page
                .items
                .into_iter()
                .map(|c| self.challenge_response(&c.as_of(now)))
                .collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    async fn update_challenge(
        &self,
        principal: &Principal,
        r: UpdateChallengeRequest,
    ) -> Result<Reply<ChallengeBody>, CoreError> {
        let current = self.device_challenge(principal, &r.service_sid, &r.identity, &r.challenge_sid).await?;
        let payload = r.auth_payload.ok_or(UpdateChallengeField::AuthPayload.invalid())?;
        let challenge_key =
            ChallengeKey { entity: key(principal, &r.service_sid, &r.identity), sid: r.challenge_sid.clone() };
        if current.factor_type == FactorType::Push {
            let factor = self.factor_of(principal, &r.service_sid, &r.identity, &current.factor_sid).await?;
            return self
                .answer_push_challenge(challenge_key, current, &factor, &payload, r.metadata)
                .await
                .map(Reply::new);
        }
        let now = self.clock.now();
        let keys = Arc::clone(&self.keys);
        let limit = self.config.guessing();
        let p = path(&r.service_sid, &r.identity, &r.challenge_sid);
        // The answer's outcome, to report, and the answer.
        let (outcome, answered) = self
            .store
            .with_challenge(challenge_key, move |state| {
                let refused = |outcome: Option<AnswerOutcome>, e: CoreError| Decision::nothing((outcome, Err(e)));
                let Some(state) = state else { return refused(None, CoreError::not_found(p)) };
                let (mut challenge, mut factor, mut guesses) = (state.challenge, state.factor, state.guesses);
                if let Err(refusal) = challenge.open(now) {
                    return refused(Some(refusal.into()), answer_error(refusal));
                }
                if !factor.is_totp() {
                    return refused(None, UpdateChallengeField::AuthPayload.invalid().into());
                }
                // Answered, expired or closed challenges refuse first (not guesses); then the
                // entity's lockout, before the code is compared.
                let step = |f: &Factor| matching_step(&keys, f, &payload, now);
                let accepted = match challenge.answer_totp_guess(&mut factor, &mut guesses, limit, step, now) {
                    Ok(Ok(accepted)) => accepted,
                    Ok(Err(refusal)) => return refused(Some(refusal.into()), answer_error(refusal)),
                    Err(e) => return refused(None, e),
                };
                let mut changes = vec![Change::UpdateChallenge(challenge.clone())];
                if guesses != state.guesses {
                    changes.push(save_guesses(&factor, guesses));
                }
                if accepted {
                    changes.push(Change::UpdateFactor(factor.clone()));
                    changes.extend(event_changes(
                        &keys,
                        &state.webhooks,
                        Event::ChallengeAnswered(&challenge, &factor),
                        now,
                    ));
                }
                Decision::save(changes, (Some(AnswerOutcome::of_totp(Ok(accepted))), Ok(challenge)))
            })
            .await?;
        if let Some(outcome) = outcome {
            self.report_answer(FactorType::Totp, outcome);
        }
        self.challenge_response(&answered?).map(Reply::new)
    }

    async fn create_notification(
        &self,
        principal: &Principal,
        r: CreateNotificationRequest,
    ) -> Result<Reply<NotificationBody>, CoreError> {
        let now = self.clock.now();
        let keys = std::sync::Arc::clone(&self.keys);
        let p = super::challenges::path(&r.service_sid, &r.identity, &r.challenge_sid);
        let challenge_key =
            ChallengeKey { entity: key(principal, &r.service_sid, &r.identity), sid: r.challenge_sid.clone() };
        let (sid, ttl) = (new_sid(prefix::NOTIFICATION), r.ttl_or_default());
        let n = self
            .store
            .with_challenge(challenge_key, move |state| {
                let Some(state) = state else { return Decision::nothing(Err(CoreError::not_found(p))) };
                let (challenge, factor) = (state.challenge, state.factor);
                if factor.factor_type != FactorType::Push {
                    return Decision::nothing(Err(CreateNotificationField::ChallengeSid.invalid().into()));
                }
                let message = challenge.details.as_ref().map(|d| d.message.as_str());
                let Some(notice) = push_notice(&keys, &factor, &challenge.sid, message, now) else {
                    return Decision::nothing(Err(CoreError::NoNotificationPlatform));
                };
                if let Err(refusal) = may_notify(&challenge, state.notifications, now) {
                    return Decision::nothing(Err(match refusal {
                        NotifyRefusal::TooMany => CoreError::TooManyNotifications,
                        NotifyRefusal::Closed(closed) => answer_error(closed),
                    }));
                }
                let notification = Notification {
                    sid,
                    account_sid: challenge.account_sid.clone(),
                    service_sid: challenge.service_sid.clone(),
                    entity_sid: challenge.entity_sid.clone(),
                    identity: challenge.identity.clone(),
                    challenge_sid: challenge.sid.clone(),
                    priority: "high".to_owned(),
                    ttl,
                    date_created: now,
                };
                Decision::save(
                    vec![Change::InsertNotification(notification.clone()), Change::InsertMessage(notice)],
                    Ok(notification),
                )
            })
            .await??;
        Ok(Reply::new(NotificationBody {
            sid: n.sid,
            account_sid: n.account_sid,
            service_sid: n.service_sid,
            entity_sid: Some(n.entity_sid),
            identity: Some(n.identity),
            challenge_sid: Some(n.challenge_sid),
            priority: Some(n.priority),
            ttl: n.ttl,
            date_created: n.date_created,
        }))
    }
}
