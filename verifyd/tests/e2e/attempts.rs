//! `/v2/Attempts`: every message a verification sends is an attempt, listed newest first with
//! its conversion and delivery, filtered, paged, fetched and summarized; another account's
//! attempts are never seen; attempts older than the retention are purged.

use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::*;

fn list() -> ListVerificationAttemptRequest {
    ListVerificationAttemptRequest::new()
}

fn summary() -> FetchVerificationAttemptsSummaryRequest {
    FetchVerificationAttemptsSummaryRequest::new()
}

fn at(unix: i64) -> verifyd_runtime::Timestamp {
    verifyd_runtime::Timestamp::from_unix(unix).expect("in range")
}

async fn sids(server: &TestServer, request: &ListVerificationAttemptRequest) -> Vec<Sid> {
    server.client.list_verification_attempt(request).await.unwrap().attempts.into_iter().map(|a| a.sid).collect()
}

#[tokio::test]
async fn attempts_are_listed_newest_first_with_conversion_and_delivery() {
    let server = TestServer::start().await;
    let a = server.service().await.sid;
    let b = server.client.create_service(&create_service("Other")).await.unwrap().sid;

    // t0: SMS to a US number (later approved); t0+60: its re-send; t0+120: a call to France
    // in the other service; t0+180: an e-mail.
    let us = server.client.create_verification(&start(&a, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    server.clock.advance(60);
    server.client.create_verification(&start(&a, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    server.clock.advance(60);
    let fr = server.client.create_verification(&start(&b, "+33612345678", VerificationChannel::Call)).await.unwrap();
    server.clock.advance(60);
    let mail =
        server.client.create_verification(&start(&a, "Ada@Example.com", VerificationChannel::Email)).await.unwrap();
    let code = server.code_for("+15017122661").await;
    server.client.create_verification_check(&check_to(&a, "+15017122661", &code)).await.unwrap();

    let listed = server.client.list_verification_attempt(&list()).await.unwrap();
    assert_eq!(listed.meta.key, "attempts");
    assert_eq!(listed.attempts.len(), 4);
    let order: Vec<&Sid> = listed.attempts.iter().map(|x| &x.verification_sid).collect();
    assert_eq!(order, [&mail.sid, &fr.sid, &us.sid, &us.sid], "newest first");
    // The attempt SIDs are the verification's send_code_attempts.
    let sent: Vec<String> = us.send_code_attempts.unwrap().into_iter().map(|x| x.attempt_sid.to_string()).collect();
    assert_eq!(listed.attempts[3].sid.to_string(), sent[0]);

    let first = &listed.attempts[3];
    assert_eq!(first.account_sid, server.account);
    assert_eq!(first.service_sid, a);
    assert_eq!(first.conversion_status, VerificationAttemptConversionStatus::Converted);
    assert_eq!(first.channel, VerificationAttemptChannel::Sms);
    assert_eq!(first.price, None);
    assert_eq!(first.date_created, at(START));
    assert_eq!(first.url.as_str(), format!("{}/v2/Attempts/{}", server.root, first.sid));
    let data = &first.channel_data;
    assert_eq!(data.verification_sid, us.sid);
    assert_eq!(data.to, "+15017122661");
    assert_eq!(data.status, VerificationAttemptStatus::Confirmed);
    assert_eq!(data.message_status, "sent");
    assert_eq!(data.provider, "outbox");
    assert_eq!(data.country.as_deref(), Some("US"));
    assert_eq!(data.locale, "en");
    assert!(data.message_id.as_deref().is_some_and(|id| id.starts_with("SM")));
    assert_eq!(data.error_code, None);

    let call = &listed.attempts[1];
    assert_eq!(call.channel, VerificationAttemptChannel::Call);
    assert_eq!(call.conversion_status, VerificationAttemptConversionStatus::Unconverted);
    assert_eq!(call.channel_data.status, VerificationAttemptStatus::Unconfirmed);
    assert_eq!(call.channel_data.country.as_deref(), Some("FR"));
    assert_eq!(call.channel_data.locale, "fr");
    assert_eq!(listed.attempts[0].channel_data.to, "ada@example.com");
    assert_eq!(listed.attempts[0].channel_data.country, None);

    // Fetch answers the same record.
    let fetch = FetchVerificationAttemptRequest::new(first.sid.clone());
    assert_eq!(&server.client.fetch_verification_attempt(&fetch).await.unwrap(), first);

    // Each filter.
    let mut r = list();
    r.verify_service_sid = Some(b.clone());
    assert_eq!(sids(&server, &r).await, std::slice::from_ref(&call.sid));
    let mut r = list();
    r.verification_sid = Some(us.sid.clone());
    assert_eq!(sids(&server, &r).await.len(), 2);
    let mut r = list();
    r.channel_data_to = Some("ADA@example.com".into());
    assert_eq!(sids(&server, &r).await, [listed.attempts[0].sid.clone()]);
    let mut r = list();
    r.country = Some("fr".into());
    assert_eq!(sids(&server, &r).await, std::slice::from_ref(&call.sid));
    let mut r = list();
    r.channel = Some(VerificationAttemptChannel::Sms);
    assert_eq!(sids(&server, &r).await.len(), 2);
    let mut r = list();
    r.status = Some(VerificationAttemptConversionStatus::Converted);
    assert_eq!(sids(&server, &r).await.len(), 2);
    r.status = Some(VerificationAttemptConversionStatus::Unconverted);
    assert_eq!(sids(&server, &r).await.len(), 2);
    // After is inclusive, before exclusive.
    let mut r = list();
    r.date_created_after = Some(at(START + 60));
    r.date_created_before = Some(at(START + 180));
    assert_eq!(sids(&server, &r).await, [call.sid.clone(), listed.attempts[2].sid.clone()]);
    // Combined.
    let mut r = list();
    r.verify_service_sid = Some(a.clone());
    r.channel = Some(VerificationAttemptChannel::Sms);
    r.status = Some(VerificationAttemptConversionStatus::Unconverted);
    assert!(sids(&server, &r).await.is_empty());

    // The summary, counted by the database, with the same filters and a destination prefix.
    let all = server.client.fetch_verification_attempts_summary(&summary()).await.unwrap();
    assert_eq!((all.total_attempts, all.total_converted, all.total_unconverted), (4, 2, 2));
    assert_eq!(all.conversion_rate_percentage.as_deref(), Some("50"));
    assert_eq!(all.url.as_str(), format!("{}/v2/Attempts/Summary", server.root));
    let mut s = summary();
    s.destination_prefix = Some("+1501".into());
    let us_only = server.client.fetch_verification_attempts_summary(&s).await.unwrap();
    assert_eq!((us_only.total_attempts, us_only.total_converted), (2, 2));
    assert_eq!(us_only.conversion_rate_percentage.as_deref(), Some("100"));
    let mut s = summary();
    s.verify_service_sid = Some(a.clone());
    s.channel = Some(VerificationAttemptChannel::Email);
    let email = server.client.fetch_verification_attempts_summary(&s).await.unwrap();
    assert_eq!((email.total_attempts, email.total_converted, email.total_unconverted), (1, 0, 1));
    assert_eq!(email.conversion_rate_percentage.as_deref(), Some("0"));
    let mut s = summary();
    s.date_created_before = Some(at(START + 120));
    s.country = Some("US".into());
    assert_eq!(server.client.fetch_verification_attempts_summary(&s).await.unwrap().total_attempts, 2);

    // A canceled verification's attempts are expired, and stay unconverted.
    server.client.update_verification(&set_status(&b, &fr.sid, VerificationUpdateStatus::Canceled)).await.unwrap();
    let fetched = server
        .client
        .fetch_verification_attempt(&FetchVerificationAttemptRequest::new(call.sid.clone()))
        .await
        .unwrap();
    assert_eq!(fetched.channel_data.status, VerificationAttemptStatus::Expired);
    server.stop().await;
}

#[tokio::test]
async fn attempts_are_paged_newest_first_with_the_filters_kept() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let mut made = Vec::new();
    for i in 0..5 {
        let to = format!("+1501712266{i}");
        let v = server.client.create_verification(&start(&service, &to, VerificationChannel::Sms)).await.unwrap();
        made.push(v.sid);
    }
    made.reverse();
    let mut r = list();
    r.page_size = Some(2);
    r.verify_service_sid = Some(service.clone());
    let first = server.client.list_verification_attempt(&r).await.unwrap();
    assert_eq!(first.attempts.iter().map(|a| &a.verification_sid).collect::<Vec<_>>(), [&made[0], &made[1]]);
    let next = first.meta.next_page_url.clone().expect("a next page");
    assert!(next.as_str().contains(&format!("VerifyServiceSid={service}")), "{next}");
    // Follow it as a client does: raw, by URL.
    let (status, body) = server.raw_get(next.as_str().trim_start_matches(&server.root)).await;
    assert_eq!(status, 200);
    let second: Vec<&str> =
        body["attempts"].as_array().unwrap().iter().map(|a| a["verification_sid"].as_str().unwrap()).collect();
    assert_eq!(second, [made[2].as_str(), made[3].as_str()]);
    assert_eq!(body["meta"]["page"], 1);
    let previous = body["meta"]["previous_page_url"].as_str().expect("a previous page").to_owned();
    let (_, back) = server.raw_get(previous.trim_start_matches(&server.root)).await;
    let back: Vec<&str> =
        back["attempts"].as_array().unwrap().iter().map(|a| a["verification_sid"].as_str().unwrap()).collect();
    assert_eq!(back, [made[0].as_str(), made[1].as_str()]);
    let last = body["meta"]["next_page_url"].as_str().expect("a third page").to_owned();
    let (_, last) = server.raw_get(last.trim_start_matches(&server.root)).await;
    assert_eq!(last["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(last["meta"]["next_page_url"], serde_json::Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn another_account_sees_none_of_the_attempts() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    server.client.create_verification(&start(&service, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    let mine = server.client.list_verification_attempt(&list()).await.unwrap().attempts;
    assert_eq!(mine.len(), 1);

    let b = server.core.create_account("b").await.unwrap();
    let intruder = server.client_as(b.sid.as_str(), &b.secret);
    assert!(intruder.list_verification_attempt(&list()).await.unwrap().attempts.is_empty());
    let mut r = list();
    r.verify_service_sid = Some(service.clone());
    assert!(intruder.list_verification_attempt(&r).await.unwrap().attempts.is_empty());
    let fetch = FetchVerificationAttemptRequest::new(mine[0].sid.clone());
    let message = assert_error(intruder.fetch_verification_attempt(&fetch).await, 404, 20404);
    assert_eq!(message, format!("The requested resource /Attempts/{} was not found", mine[0].sid));
    assert_eq!(intruder.fetch_verification_attempts_summary(&summary()).await.unwrap().total_attempts, 0);
    // A malformed SID is as unknown.
    assert_wire_error(&server.raw_get("/v2/Attempts/VLnope").await, 404, 20404);
    server.stop().await;
}

#[tokio::test]
async fn attempts_are_purged_after_the_retention() {
    let server = TestServer::start_with(&[("VERIFYD_ATTEMPT_RETENTION_DAYS", "2")]).await;
    let service = server.service().await.sid;
    server.client.create_verification(&start(&service, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    server.clock.advance(86_400);
    server.client.create_verification(&start(&service, "+15017122662", VerificationChannel::Sms)).await.unwrap();
    server.clock.advance(86_400 + 1);
    server.maintain().await;
    let left = server.client.list_verification_attempt(&list()).await.unwrap().attempts;
    assert_eq!(left.iter().map(|a| a.channel_data.to.as_str()).collect::<Vec<_>>(), ["+15017122662"]);
    server.stop().await;
}
