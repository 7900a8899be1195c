//! What operators browse beside the API (the console): a service's recent verifications in
//! any state, which the API cannot list (Twilio answers a verification that ended 404).

use verifyd_models::{VerificationChannel, VerificationStatus};
use verifyd_runtime::{Sid, Timestamp};

use crate::store::{AttemptFilter, Cursor, Page, Store, VerificationAt};
use crate::{Core, CoreError};

/// A verification as an operator sees it: no code, no hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationSummary {
    pub sid: Sid,
    pub to: String,
    pub channel: VerificationChannel,
    /// As the API would name it now: a pending verification past its expiry is `expired`.
    pub status: VerificationStatus,
    /// Wrong checks so far.
    pub check_attempts: u32,
    /// Sends so far (the first and every re-send).
    pub send_attempts: usize,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

/// Send attempts read to find `limit` verifications: a verification re-sent often takes
/// several, so more are read than verifications shown.
const ATTEMPTS_PER_VERIFICATION: u32 = 4;

impl<S: Store> Core<S> {
    /// The newest verifications of a service of `account`, newest first, at most `limit`:
    /// those whose sends are still kept (see `attempt_retention`).
    pub async fn recent_verifications(
        &self,
        account: &Sid,
        service: &Sid,
        limit: u32,
    ) -> Result<Vec<VerificationSummary>, CoreError> {
        let filter = AttemptFilter { service: Some(service.clone()), ..AttemptFilter::of(account.clone()) };
        let page = Page {
            cursor: Cursor::First,
            limit: limit.saturating_mul(ATTEMPTS_PER_VERIFICATION).min(1000),
            descending: true,
        };
        let mut seen = std::collections::HashSet::new();
        let mut summaries = Vec::new();
        let now = self.clock.now();
        for record in self.store.list_attempts(&filter, page).await? {
            if summaries.len() >= limit as usize {
                break;
            }
            let sid = record.attempt.verification_sid;
            if !seen.insert(sid.clone()) {
                continue;
            }
            let at = VerificationAt::Sid { account: account.clone(), service: service.clone(), sid };
            let Some(v) = self.store.verification(at).await? else { continue };
            let status = if v.status == VerificationStatus::Pending && v.expires_at <= now {
                VerificationStatus::Expired
            } else {
                v.status
            };
            summaries.push(VerificationSummary {
                sid: v.sid,
                to: v.to,
                channel: v.channel,
                status,
                check_attempts: v.check_attempts,
                send_attempts: v.send_attempts.len(),
                date_created: v.date_created,
                date_updated: v.date_updated,
            });
        }
        Ok(summaries)
    }
}
