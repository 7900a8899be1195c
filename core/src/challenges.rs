//! Challenges: a request to authenticate with a verified factor. A TOTP challenge is answered
//! with a code (at creation or later); a push challenge by the device's signed answer.

use verifyd_models::{
    Challenge, ChallengeDetails, ChallengeDetailsField, ChallengeLinks, ChallengeList, ChallengeListOrder,
    CreateChallengeRequest, FactorType, ListChallengesRequest, UpdateChallengeRequest,
};
use verifyd_runtime::Sid;

use crate::entities::{INVALID, key};
use crate::ids::{new_sid, prefix};
use crate::paging::{PageRequest, page};
use crate::store::{
    AnswerOutcome, ChallengeFilter, ChallengeRecord, DetailsRecord, NewChallenge, NewChallengeOutcome, Store,
    TotpAttempt,
};
use crate::{Core, CoreError, Principal};

/// Wrong answers a TOTP challenge allows.
pub const MAX_ANSWER_ATTEMPTS: u32 = 5;
/// A challenge's life when `ExpirationDate` is not sent, and the longest allowed.
pub const DEFAULT_LIFETIME: i64 = 300;
pub const MAX_LIFETIME: i64 = 3600;

/// TOTP challenge creation per factor: short codes 10 a day; longer ones 50 an hour and 100
/// a day. Push challenges are not limited here.
fn totp_limits(code_length: u32) -> &'static [(u32, i64)] {
    if code_length <= 4 { &[(10, 86_400)] } else { &[(50, 3_600), (100, 86_400)] }
}

fn no_limits(_: u32) -> &'static [(u32, i64)] {
    &[]
}

pub fn path(service: &Sid, identity: &str, sid: &Sid) -> String {
    format!("{}/Challenges/{sid}", crate::entities::path(service, identity))
}

impl<S: Store> Core<S> {
    pub(crate) fn challenge_response(&self, c: &ChallengeRecord) -> Result<Challenge, CoreError> {
        let p = path(&c.service_sid, &c.identity, &c.sid);
        Ok(Challenge {
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
            status: c.status.clone(),
            responded_reason: c.responded_reason.clone(),
            details: c.details.as_ref().map(|d| ChallengeDetails {
                message: d.message.clone(),
                date: d.date,
                fields: d
                    .fields
                    .iter()
                    .map(|(label, value)| ChallengeDetailsField { label: label.clone(), value: value.clone() })
                    .collect(),
            }),
            hidden_details: c.hidden_details.clone(),
            metadata: c.metadata.clone(),
            factor_type: c.factor_type.clone(),
            url: self.urls.at(&p)?,
            links: ChallengeLinks { notifications: self.urls.at(&format!("{p}/Notifications"))? },
        })
    }

    pub(crate) async fn create_challenge_op(
        &self,
        principal: &Principal,
        r: CreateChallengeRequest,
    ) -> Result<Challenge, CoreError> {
        // The factor is found only under the caller's service: no separate service read.
        let factor = self.factor_of(principal, &r.service_sid, &r.identity, &r.factor_sid).await?;
        let now = self.clock.now();
        let expiration_date = match r.expiration_date {
            None => now.plus_seconds(DEFAULT_LIFETIME),
            Some(t) if t > now && t.unix() - now.unix() <= MAX_LIFETIME => t,
            Some(_) => return Err(CoreError::InvalidParameter { name: "ExpirationDate", code: INVALID }),
        };
        let is_push = factor.factor_type == FactorType::Push;
        if is_push && r.details_message.is_none() {
            return Err(CoreError::InvalidParameter { name: "Details.Message", code: 60368 });
        }
        if is_push && r.auth_payload.is_some() {
            return Err(CoreError::InvalidParameter { name: "AuthPayload", code: INVALID });
        }
        // The legacy Push.IncludeDate setting adds the creation date to a push challenge.
        let include_date =
            is_push && self.service_of(principal, &r.service_sid).await?.settings.push_include_date.unwrap_or(false);
        let details = r.details_message.map(|message| DetailsRecord {
            message,
            date: include_date.then_some(now),
            fields: r.details_fields.unwrap_or_default().into_iter().map(|f| (f.label, f.value)).collect(),
        });
        let sid = new_sid(prefix::CHALLENGE);
        // A push challenge's notification is recorded with it, in one transaction.
        let notice =
            if is_push { self.push_notice(&factor, &sid, details.as_ref().map(|d| d.message.as_str())) } else { None };
        let outcome = self
            .store
            .create_challenge(NewChallenge {
                sid,
                account_sid: principal.account_sid().clone(),
                service_sid: r.service_sid.clone(),
                identity: r.identity.clone(),
                factor_sid: r.factor_sid.clone(),
                details,
                hidden_details: r.hidden_details,
                expiration_date,
                now,
                totp_code: r.auth_payload,
                limits: if is_push { no_limits } else { totp_limits },
                notice,
            })
            .await?;
        let record = match outcome {
            NewChallengeOutcome::Created(c) => *c,
            NewChallengeOutcome::FactorNotFound => {
                return Err(CoreError::not_found(crate::factors::path(&r.service_sid, &r.identity, &r.factor_sid)));
            }
            NewChallengeOutcome::FactorUnverified => return Err(CoreError::FactorUnverified),
            NewChallengeOutcome::TooManyChallenges => return Err(CoreError::TooManyChallengeCreations),
        };
        self.challenge_response(&record)
    }

    pub(crate) async fn challenge_of(
        &self,
        principal: &Principal,
        service: &Sid,
        identity: &str,
        sid: &Sid,
    ) -> Result<ChallengeRecord, CoreError> {
        self.store
            .challenge(key(principal, service, identity), sid, self.clock.now())
            .await?
            .ok_or_else(|| CoreError::not_found(path(service, identity, sid)))
    }

    pub(crate) async fn list_challenges_op(
        &self,
        principal: &Principal,
        r: ListChallengesRequest,
    ) -> Result<ChallengeList, CoreError> {
        let request = PageRequest::new(r.page_size, r.page, r.page_token.as_deref(), INVALID)?;
        // An unknown service, or another account's, is not found (as for the entity list).
        self.service_of(principal, &r.service_sid).await?;
        let descending = matches!(r.order, Some(ChallengeListOrder::Desc));
        let mut filters = Vec::new();
        if let Some(f) = &r.factor_sid {
            filters.push(("FactorSid", f.to_string()));
        }
        if let Some(s) = &r.status {
            filters.push(("Status", s.to_string()));
        }
        if let Some(o) = &r.order {
            filters.push(("Order", o.to_string()));
        }
        let filter = ChallengeFilter { factor_sid: r.factor_sid, status: r.status, descending };
        let rows = self
            .store
            .list_challenges(
                key(principal, &r.service_sid, &r.identity),
                filter,
                request.cursor,
                request.fetch(),
                self.clock.now(),
            )
            .await?;
        let list_path = format!("{}/Challenges", crate::entities::path(&r.service_sid, &r.identity));
        let page = page(rows, &request, |c| c.seq, &self.urls, &list_path, "challenges", &filters)?;
        Ok(ChallengeList {
            challenges: page.items.iter().map(|c| self.challenge_response(c)).collect::<Result<_, _>>()?,
            meta: page.meta,
        })
    }

    pub(crate) async fn update_challenge_op(
        &self,
        principal: &Principal,
        r: UpdateChallengeRequest,
    ) -> Result<Challenge, CoreError> {
        let current = self.challenge_of(principal, &r.service_sid, &r.identity, &r.challenge_sid).await?;
        let payload = r.auth_payload.ok_or(CoreError::InvalidParameter { name: "AuthPayload", code: INVALID })?;
        if current.factor_type == FactorType::Push {
            return self.answer_push_challenge(principal, current, &payload, r.metadata).await;
        }
        let outcome = self
            .store
            .answer_totp_challenge(TotpAttempt {
                account_sid: principal.account_sid().clone(),
                service_sid: r.service_sid.clone(),
                identity: r.identity.clone(),
                sid: r.challenge_sid.clone(),
                code: payload,
                now: self.clock.now(),
                max_attempts: MAX_ANSWER_ATTEMPTS,
            })
            .await?;
        let record = match outcome {
            AnswerOutcome::Approved(c) | AnswerOutcome::Wrong(c) => *c,
            AnswerOutcome::TooManyAttempts => return Err(CoreError::TooManyChallengeAttempts),
            AnswerOutcome::NotFound => {
                return Err(CoreError::not_found(path(&r.service_sid, &r.identity, &r.challenge_sid)));
            }
            AnswerOutcome::AlreadyResponded => return Err(CoreError::ChallengeResponded),
            AnswerOutcome::Expired => return Err(CoreError::ChallengeExpired),
            AnswerOutcome::NotTotp => return Err(CoreError::InvalidParameter { name: "AuthPayload", code: INVALID }),
        };
        self.challenge_response(&record)
    }
}
