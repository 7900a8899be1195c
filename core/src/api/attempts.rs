//! `/Attempts`: the account's send attempts (one per message a verification sends, kept for
//! `CoreConfig::attempt_retention`), newest first, and their summary, counted by the store.

use verifyd_models::{
    FetchVerificationAttemptRequest, FetchVerificationAttemptsSummaryRequest, ListVerificationAttemptField,
    ListVerificationAttemptRequest, ListVerificationAttemptResponse, VerificationAttempt as AttemptBody,
    VerificationAttemptChannel, VerificationAttemptChannelData, VerificationAttemptConversionStatus,
    VerificationAttemptStatus, VerificationAttemptsSummary, VerificationChannel, VerificationStatus,
};
use verifyd_runtime::{Sid, Timestamp};
use verifyd_server::{AttemptsApi, Reply};

use crate::domain::verification::{Destination, normalize_to};
use crate::paging::{PageRequest, page};
use crate::store::{AttemptCounts, AttemptFilter, AttemptRecord, Store};
use crate::{Core, CoreError, Principal};

fn path(sid: &Sid) -> String {
    format!("/Attempts/{sid}")
}

fn channel(c: VerificationChannel) -> VerificationAttemptChannel {
    match c {
        VerificationChannel::Sms => VerificationAttemptChannel::Sms,
        VerificationChannel::Call => VerificationAttemptChannel::Call,
        VerificationChannel::Email => VerificationAttemptChannel::Email,
        VerificationChannel::Whatsapp => VerificationAttemptChannel::Whatsapp,
        VerificationChannel::Sna => VerificationAttemptChannel::Sna,
    }
}

/// A destination as attempts keep it (E.164, an e-mail address in lower case); text that is
/// neither is compared as given, and matches nothing.
fn destination(to: &str) -> String {
    match normalize_to(to) {
        Some(Destination::Phone(p)) => p.e164,
        Some(Destination::Email(e)) => e,
        None => to.to_owned(),
    }
}

/// What became of an attempt's verification: approved, ended (or gone) without approval, or
/// still open.
fn attempt_status(r: &AttemptRecord, now: Timestamp) -> VerificationAttemptStatus {
    match (r.verification_status, r.verification_expires_at) {
        (Some(VerificationStatus::Approved), _) => VerificationAttemptStatus::Confirmed,
        (Some(VerificationStatus::Pending), Some(expires)) if now < expires => VerificationAttemptStatus::Unconfirmed,
        _ => VerificationAttemptStatus::Expired,
    }
}

/// `total_converted / total_attempts × 100` as Twilio writes it (`81.818181818`): at most nine
/// decimals, without trailing zeros; `0` without attempts.
fn conversion_rate(counts: AttemptCounts) -> String {
    if counts.total == 0 {
        return "0".to_owned();
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = counts.converted as f64 * 100.0 / counts.total as f64;
    let text = format!("{rate:.9}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The filters both operations share, each as given on the wire.
struct Filters {
    service: Option<Sid>,
    after: Option<Timestamp>,
    before: Option<Timestamp>,
    country: Option<String>,
    channel: Option<VerificationAttemptChannel>,
}

impl Filters {
    fn store(self, account: &Sid) -> AttemptFilter {
        AttemptFilter {
            service: self.service,
            country: self.country.map(|c| c.to_ascii_uppercase()),
            channel: self.channel.map(|c| c.as_str().to_owned()),
            created_after: self.after,
            created_before: self.before,
            ..AttemptFilter::of(account.clone())
        }
    }
}

impl<S: Store> Core<S> {
    fn attempt_response(&self, r: &AttemptRecord, now: Timestamp) -> Result<AttemptBody, CoreError> {
        let a = &r.attempt;
        let converted = r.verification_status == Some(VerificationStatus::Approved);
        Ok(AttemptBody {
            sid: a.sid.clone(),
            account_sid: a.account_sid.clone(),
            service_sid: a.service_sid.clone(),
            verification_sid: a.verification_sid.clone(),
            date_created: a.date_created,
            date_updated: a.date_updated,
            conversion_status: if converted {
                VerificationAttemptConversionStatus::Converted
            } else {
                VerificationAttemptConversionStatus::Unconverted
            }
            .into(),
            channel: channel(a.channel).into(),
            // Nothing is billed.
            price: None,
            channel_data: VerificationAttemptChannelData {
                verification_sid: a.verification_sid.clone(),
                to: a.to.clone(),
                status: attempt_status(r, now).into(),
                message_status: a.status.as_str().to_owned(),
                error_code: a.error.clone(),
                country: a.country.clone(),
                locale: a.locale.clone(),
                provider: a.provider.clone(),
                message_id: a.message_id.clone(),
            },
            url: self.urls.at(&path(&a.sid))?,
        })
    }
}

impl<S: Store> AttemptsApi for Core<S> {
    async fn list_verification_attempt(
        &self,
        principal: &Principal,
        r: ListVerificationAttemptRequest,
    ) -> Result<Reply<ListVerificationAttemptResponse>, CoreError> {
        let request = PageRequest::new(
            r.page_size,
            r.page,
            r.page_token.as_deref(),
            ListVerificationAttemptField::PageToken.invalid(),
        )?;
        // The filters travel on in the pages' URLs, as given.
        let mut echoed: Vec<(&str, String)> = Vec::new();
        let mut echo = |key, value: Option<String>| {
            if let Some(value) = value {
                echoed.push((key, value));
            }
        };
        echo("DateCreatedAfter", r.date_created_after.map(|t| t.to_string()));
        echo("DateCreatedBefore", r.date_created_before.map(|t| t.to_string()));
        echo("ChannelData.To", r.channel_data_to.clone());
        echo("Country", r.country.clone());
        echo("Channel", r.channel.map(|c| c.as_str().to_owned()));
        echo("VerifyServiceSid", r.verify_service_sid.as_ref().map(ToString::to_string));
        echo("VerificationSid", r.verification_sid.as_ref().map(ToString::to_string));
        echo("Status", r.status.map(|s| s.as_str().to_owned()));
        let mut filter = Filters {
            service: r.verify_service_sid,
            after: r.date_created_after,
            before: r.date_created_before,
            country: r.country,
            channel: r.channel,
        }
        .store(principal.account_sid());
        filter.verification = r.verification_sid;
        filter.to = r.channel_data_to.as_deref().map(destination);
        filter.converted = r.status.map(|s| s == VerificationAttemptConversionStatus::Converted);
        let mut store_page = request.store_page();
        store_page.descending = true;
        let rows = self.store.list_attempts(&filter, store_page).await?;
        let page = page(rows, &request, |r| r.seq, &self.urls, "/Attempts", "attempts", &echoed)?;
        let now = self.clock.now();
        Ok(Reply::new(ListVerificationAttemptResponse {
            attempts: page.items.iter().map(|r| self.attempt_response(r, now)).collect::<Result<_, _>>()?,
            meta: page.meta,
        }))
    }

    async fn fetch_verification_attempt(
        &self,
        principal: &Principal,
        r: FetchVerificationAttemptRequest,
    ) -> Result<Reply<AttemptBody>, CoreError> {
        let record = self
            .store
            .attempt_record(principal.account_sid(), &r.sid)
            .await?
            .ok_or_else(|| CoreError::not_found(path(&r.sid)))?;
        self.attempt_response(&record, self.clock.now()).map(Reply::new)
    }

    async fn fetch_verification_attempts_summary(
        &self,
        principal: &Principal,
        r: FetchVerificationAttemptsSummaryRequest,
    ) -> Result<Reply<VerificationAttemptsSummary>, CoreError> {
        let mut filter = Filters {
            service: r.verify_service_sid,
            after: r.date_created_after,
            before: r.date_created_before,
            country: r.country,
            channel: r.channel,
        }
        .store(principal.account_sid());
        // A prefix of an E.164 number, with or without its `+` (a `+` sent unencoded arrives
        // as a space).
        filter.to_prefix = r.destination_prefix.map(|p| format!("+{}", p.trim().trim_start_matches('+')));
        let counts = self.store.count_attempts(&filter).await?;
        let total = i64::try_from(counts.total).unwrap_or(i64::MAX);
        let converted = i64::try_from(counts.converted).unwrap_or(i64::MAX);
        Ok(Reply::new(VerificationAttemptsSummary {
            total_attempts: total,
            total_converted: converted,
            total_unconverted: total - converted,
            conversion_rate_percentage: Some(conversion_rate(counts)),
            url: self.urls.at("/Attempts/Summary")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_written_as_twilio_writes_it() {
        assert_eq!(conversion_rate(AttemptCounts { total: 11, converted: 9 }), "81.818181818");
        assert_eq!(conversion_rate(AttemptCounts { total: 4, converted: 2 }), "50");
        assert_eq!(conversion_rate(AttemptCounts { total: 3, converted: 3 }), "100");
        assert_eq!(conversion_rate(AttemptCounts { total: 8, converted: 1 }), "12.5");
        assert_eq!(conversion_rate(AttemptCounts { total: 0, converted: 0 }), "0");
    }
}
