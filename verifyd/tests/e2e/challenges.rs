//! TOTP challenges over HTTP: approval at creation or later, wrong answers and their limit,
//! unverified factors, creation limits, listing with filters and pages, expiry, answered
//! challenges, `ExpirationDate`, and bad input. Codes come from `common::otp`.

use crate::common::*;
use futures_util::TryStreamExt as _;
use verifyd_models::*;
use verifyd_runtime::{Sid, Timestamp};

fn challenges_path(service: &Sid, identity: &str) -> String {
    format!("/v2/Services/{service}/Entities/{identity}/Challenges")
}

/// A service and a verified factor of `IDENTITY`, the clock moved on to a fresh step.
async fn setup(server: &TestServer) -> (VerifyService, TotpFactor) {
    let service = server.service().await;
    server.advance_to_step_start(30);
    let factor = server.verified_factor(&service.sid, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    (service, factor)
}

async fn create(server: &TestServer, service: &Sid, factor: &Sid, code: Option<&str>) -> Challenge {
    server.client.create_challenge(&new_challenge(service, IDENTITY, factor, code)).await.expect("a challenge")
}

#[tokio::test]
async fn a_right_code_approves_the_challenge_at_creation() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let now = server.now();
    let code = factor.otp.at(now);
    let (status, body) = server
        .raw_post(&challenges_path(sa, IDENTITY), &[("FactorSid", factor.sid.as_str()), ("AuthPayload", &code)])
        .await;
    assert_eq!(status, 201, "{body}");
    let c: Challenge = serde_json::from_value(body).expect("a Challenge");
    assert_eq!(c.sid.prefix(), "YC");
    assert_eq!(c.status, ChallengeStatus::Approved);
    assert_eq!(c.date_responded.map(Timestamp::unix), Some(now));
    assert_eq!((c.date_created.unix(), c.date_updated.unix()), (now, now));
    assert_eq!(c.expiration_date.map(Timestamp::unix), Some(now + 300), "five minutes by default");
    assert_eq!(c.responded_reason, ChallengeRespondedReason::None);
    assert_eq!(c.factor_type, FactorType::Totp);
    assert_eq!(c.factor_sid.as_ref(), Some(&factor.sid));
    assert_eq!(c.entity_sid, factor.created.entity_sid);
    assert_eq!(c.identity.as_deref(), Some(IDENTITY));
    assert_eq!((c.account_sid.as_str(), &c.service_sid), (ACCOUNT, sa));
    assert_eq!((c.details.clone(), c.hidden_details.clone(), c.metadata.clone()), (None, None, None));
    let url = format!("{}/v2/Services/{sa}/Entities/{IDENTITY}/Challenges/{}", server.root, c.sid);
    assert_eq!(c.url.as_str(), url);
    assert_eq!(c.links.notifications.as_str(), format!("{url}/Notifications"));
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.unwrap();
    assert_eq!(fetched, c);
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_code_leaves_it_pending_to_be_answered_later() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let created_at = server.now();
    let code = factor.otp.at(created_at);
    let (status, body) = server
        .raw_post(&challenges_path(sa, IDENTITY), &[("FactorSid", factor.sid.as_str()), ("AuthPayload", &wrong(&code))])
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "pending");
    assert!(body["date_responded"].is_null(), "{body}");
    let sid = Sid::parse(body["sid"].as_str().unwrap()).unwrap();

    // Without AuthPayload it is pending too.
    let unanswered = create(&server, sa, &factor.sid, None).await;
    assert_eq!((unanswered.status, unanswered.date_responded), (ChallengeStatus::Pending.into(), None));

    server.clock.advance(10);
    let (status, answered) =
        server.raw_post(&format!("{}/{sid}", challenges_path(sa, IDENTITY)), &[("AuthPayload", &code)]).await;
    assert_eq!(status, 200, "{answered}");
    let answered: Challenge = serde_json::from_value(answered).unwrap();
    assert_eq!(answered.status, ChallengeStatus::Approved);
    assert_eq!(answered.date_responded.map(Timestamp::unix), Some(created_at + 10));
    assert_eq!(answered.date_created.unix(), created_at);
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &sid)).await.unwrap();
    assert_eq!(fetched, answered);
    server.stop().await;
}

#[tokio::test]
async fn after_five_wrong_answers_a_challenge_answers_429() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let code = factor.otp.at(server.now());
    // The creation's wrong code is the first wrong answer; four more are allowed.
    let c = create(&server, sa, &factor.sid, Some(&wrong(&code))).await;
    assert_eq!(c.status, ChallengeStatus::Pending);
    for n in 2..=5 {
        let answered =
            server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &wrong(&code))).await.unwrap();
        assert_eq!(answered.status, ChallengeStatus::Pending, "wrong answer {n}");
    }
    let message = assert_error(
        server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &wrong(&code))).await,
        429,
        60308,
    );
    assert!(!message.is_empty());
    assert_error(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &code)).await, 429, 60308);
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.unwrap();
    assert_eq!(fetched.status, ChallengeStatus::Pending);

    // The limit is the challenge's: a new one is approved by the right code.
    let fresh = create(&server, sa, &factor.sid, Some(&code)).await;
    assert_eq!(fresh.status, ChallengeStatus::Approved);

    // Five wrong answers after an empty creation are allowed too.
    let next = factor.otp.steps_from(server.now(), 1);
    let c = create(&server, sa, &factor.sid, None).await;
    for n in 1..=5 {
        let answered =
            server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &wrong(&next))).await.unwrap();
        assert_eq!(answered.status, ChallengeStatus::Pending, "wrong answer {n}");
    }
    assert_error(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &next)).await, 429, 60308);
    server.stop().await;
}

#[tokio::test]
async fn an_unverified_factor_cannot_be_challenged() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    let factor = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let code = factor.otp.at(server.now());
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, &factor.sid, None)).await, 403, 60318);
    let message = assert_error(
        server.client.create_challenge(&new_challenge(sa, IDENTITY, &factor.sid, Some(&code))).await,
        403,
        60318,
    );
    assert!(!message.is_empty());
    // The refused challenge did not use the code: it still verifies the factor.
    let verified = server.client.update_factor(&verify_factor(sa, IDENTITY, &factor.sid, &code)).await.unwrap();
    assert_eq!(verified.status, FactorStatus::Verified);
    let listed = server.client.list_challenges(&list_challenges(sa, IDENTITY)).await.unwrap();
    assert!(listed.challenges.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn long_codes_allow_fifty_challenges_an_hour_and_a_hundred_a_day() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let fs = &factor.sid;
    for n in 1..=50 {
        let c = server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, None)).await;
        assert!(c.is_ok(), "challenge {n}: {c:?}");
    }
    let message =
        assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, None)).await, 429, 60312);
    assert!(!message.is_empty());
    // Even with the right code.
    let code = factor.otp.at(server.now());
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, Some(&code))).await, 429, 60312);
    // Another factor of the entity has its own count.
    let other = server.verified_factor(sa, IDENTITY, |_| {}).await;
    create(&server, sa, &other.sid, None).await;

    server.clock.advance(3599);
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, None)).await, 429, 60312);
    server.clock.advance(1);
    for n in 51..=100 {
        let c = server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, None)).await;
        assert!(c.is_ok(), "challenge {n}: {c:?}");
    }
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, None)).await, 429, 60312);
    // A new hour, but a hundred in the last day.
    server.clock.advance(3600);
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, fs, None)).await, 429, 60312);
    // A day after the first fifty, fifty are within the day: one more is allowed.
    server.clock.advance(86_400 - 7200);
    let c = create(&server, sa, fs, Some(&factor.otp.at(server.now()))).await;
    assert_eq!(c.status, ChallengeStatus::Approved);
    let all: Vec<Challenge> =
        server.client.list_challenges_stream(&list_challenges(sa, IDENTITY)).try_collect().await.unwrap();
    assert_eq!(all.len(), 102);
    server.stop().await;
}

#[tokio::test]
async fn short_codes_allow_ten_challenges_a_day() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    server.advance_to_step_start(30);
    let four = server.verified_factor(sa, IDENTITY, |r| r.config_code_length = Some(4)).await;
    let five = server.verified_factor(sa, IDENTITY, |r| r.config_code_length = Some(5)).await;
    for n in 1..=10 {
        let c = server.client.create_challenge(&new_challenge(sa, IDENTITY, &four.sid, None)).await;
        assert!(c.is_ok(), "challenge {n}: {c:?}");
    }
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, &four.sid, None)).await, 429, 60312);
    server.clock.advance(3600);
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, &four.sid, None)).await, 429, 60312);
    server.clock.advance(86_400 - 3600 - 1);
    assert_error(server.client.create_challenge(&new_challenge(sa, IDENTITY, &four.sid, None)).await, 429, 60312);
    server.clock.advance(1);
    create(&server, sa, &four.sid, None).await;

    // Five digits are a long code: more than ten within a day.
    for n in 1..=11 {
        let c = server.client.create_challenge(&new_challenge(sa, IDENTITY, &five.sid, None)).await;
        assert!(c.is_ok(), "five-digit challenge {n}: {c:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn challenges_are_listed_by_factor_status_and_order_page_by_page() {
    let server = TestServer::start().await;
    let (service, a) = setup(&server).await;
    let sa = &service.sid;
    let b = server.verified_factor(sa, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    let now = server.now();
    // a: approved, pending, pending (expires), pending; b: approved, pending.
    let a1 = create(&server, sa, &a.sid, Some(&a.otp.at(now))).await;
    let a2 = create(&server, sa, &a.sid, None).await;
    let mut short = new_challenge(sa, IDENTITY, &a.sid, None);
    short.expiration_date = Timestamp::from_unix(now + 60);
    let a3 = server.client.create_challenge(&short).await.unwrap();
    let a4 = create(&server, sa, &a.sid, Some("000")).await;
    let b1 = create(&server, sa, &b.sid, Some(&b.otp.at(now))).await;
    let b2 = create(&server, sa, &b.sid, None).await;
    assert_eq!(
        (a1.status.clone(), b1.status.clone()),
        (ChallengeStatus::Approved.into(), ChallengeStatus::Approved.into())
    );
    server.clock.advance(60);

    let sids = |list: &[Challenge]| list.iter().map(|c| c.sid.clone()).collect::<Vec<_>>();
    let list = |change: &dyn Fn(&mut ListChallengesRequest)| {
        let mut request = list_challenges(sa, IDENTITY);
        change(&mut request);
        request
    };
    let everything = server.client.list_challenges(&list(&|_| {})).await.unwrap();
    assert_eq!(sids(&everything.challenges), [&a1, &a2, &a3, &a4, &b1, &b2].map(|c| c.sid.clone()));
    assert_eq!(everything.meta.key, "challenges");
    assert_eq!(everything.challenges[2].status, ChallengeStatus::Expired, "a3 is past its expiration");

    let of_a = server.client.list_challenges(&list(&|r| r.factor_sid = Some(a.sid.clone()))).await.unwrap();
    assert_eq!(sids(&of_a.challenges), [&a1, &a2, &a3, &a4].map(|c| c.sid.clone()));
    let desc = server
        .client
        .list_challenges(&list(&|r| {
            r.factor_sid = Some(a.sid.clone());
            r.order = Some(ChallengeListOrder::Desc);
        }))
        .await
        .unwrap();
    assert_eq!(sids(&desc.challenges), [&a4, &a3, &a2, &a1].map(|c| c.sid.clone()));
    let asc = server.client.list_challenges(&list(&|r| r.order = Some(ChallengeListOrder::Asc))).await.unwrap();
    assert_eq!(asc.challenges, everything.challenges);

    let approved = server.client.list_challenges(&list(&|r| r.status = Some(ChallengeStatus::Approved))).await.unwrap();
    assert_eq!(sids(&approved.challenges), [&a1, &b1].map(|c| c.sid.clone()));
    let pending = server.client.list_challenges(&list(&|r| r.status = Some(ChallengeStatus::Pending))).await.unwrap();
    assert_eq!(sids(&pending.challenges), [&a2, &a4, &b2].map(|c| c.sid.clone()));
    let expired = server.client.list_challenges(&list(&|r| r.status = Some(ChallengeStatus::Expired))).await.unwrap();
    assert_eq!(sids(&expired.challenges), std::slice::from_ref(&a3.sid));
    let pending_b_desc = server
        .client
        .list_challenges(&list(&|r| {
            r.status = Some(ChallengeStatus::Pending);
            r.factor_sid = Some(b.sid.clone());
            r.order = Some(ChallengeListOrder::Desc);
        }))
        .await
        .unwrap();
    assert_eq!(sids(&pending_b_desc.challenges), std::slice::from_ref(&b2.sid));
    let denied = server.client.list_challenges(&list(&|r| r.status = Some(ChallengeStatus::Denied))).await.unwrap();
    assert!(denied.challenges.is_empty());

    // Pages of two, followed to the end.
    let first = server.client.list_challenges(&list(&|r| r.page_size = Some(2))).await.unwrap();
    assert_eq!(sids(&first.challenges), [&a1, &a2].map(|c| c.sid.clone()));
    assert_eq!(first.meta.page_size, 2);
    let next = first.meta.next_page_url.clone().expect("a next page");
    assert!(next.as_str().starts_with(&format!("{}{}?", server.root, challenges_path(sa, IDENTITY))), "{next}");
    let streamed: Vec<Challenge> =
        server.client.list_challenges_stream(&list(&|r| r.page_size = Some(2))).try_collect().await.unwrap();
    assert_eq!(streamed, everything.challenges);
    // With filters, which the next pages keep.
    let filtered = list(&|r| {
        r.page_size = Some(2);
        r.factor_sid = Some(a.sid.clone());
        r.order = Some(ChallengeListOrder::Desc);
    });
    let page = server.client.list_challenges(&filtered).await.unwrap();
    let next = page.meta.next_page_url.clone().expect("a next page").to_string();
    assert!(next.contains(&format!("FactorSid={}", a.sid)) && next.contains("Order=desc"), "{next}");
    let streamed: Vec<Challenge> = server.client.list_challenges_stream(&filtered).try_collect().await.unwrap();
    assert_eq!(sids(&streamed), [&a4, &a3, &a2, &a1].map(|c| c.sid.clone()));
    let streamed: Vec<Challenge> = server
        .client
        .list_challenges_stream(&list(&|r| {
            r.page_size = Some(2);
            r.status = Some(ChallengeStatus::Pending);
        }))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sids(&streamed), [&a2, &a4, &b2].map(|c| c.sid.clone()));
    server.stop().await;
}

#[tokio::test]
async fn a_pending_challenge_past_its_expiration_is_expired() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let start = server.now();
    let c = create(&server, sa, &factor.sid, None).await;
    assert_eq!(c.expiration_date.map(Timestamp::unix), Some(start + 300));

    server.clock.advance(299);
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.unwrap();
    assert_eq!(fetched.status, ChallengeStatus::Pending);
    server.clock.advance(1);
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.unwrap();
    assert_eq!((fetched.status, fetched.date_responded), (ChallengeStatus::Expired.into(), None));
    let code = factor.otp.at(server.now());
    let message =
        assert_error(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &code)).await, 403, 60323);
    assert!(!message.is_empty());
    // Maintenance stores what reads already showed; the code was not used by the refusal.
    server.maintain().await;
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.unwrap();
    assert_eq!(fetched.status, ChallengeStatus::Expired);
    assert_error(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &code)).await, 403, 60323);
    let other = create(&server, sa, &factor.sid, Some(&code)).await;
    assert_eq!(other.status, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn an_approved_challenge_cannot_be_answered_again() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let now = server.now();
    let c = create(&server, sa, &factor.sid, Some(&factor.otp.at(now))).await;
    assert_eq!(c.status, ChallengeStatus::Approved);
    let next = factor.otp.steps_from(now, 1);
    let message =
        assert_error(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &next)).await, 403, 60322);
    assert!(!message.is_empty());
    assert_error(
        server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &wrong(&next))).await,
        403,
        60322,
    );
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.unwrap();
    assert_eq!(fetched, c);
    // Answered later, the same.
    let later = create(&server, sa, &factor.sid, None).await;
    let answered = server.client.update_challenge(&answer_challenge(sa, IDENTITY, &later.sid, &next)).await.unwrap();
    assert_eq!(answered.status, ChallengeStatus::Approved);
    server.clock.advance(30);
    let fresh = factor.otp.steps_from(server.now(), 1);
    assert_error(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &later.sid, &fresh)).await, 403, 60322);
    // An approved challenge stays approved past its expiration.
    server.clock.advance(600);
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &later.sid)).await.unwrap();
    assert_eq!(fetched.status, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn an_expiration_date_lies_within_the_next_hour() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let now = server.now();
    let with_expiry = |at: i64| CreateChallengeRequest {
        expiration_date: Timestamp::from_unix(at),
        ..new_challenge(sa, IDENTITY, &factor.sid, None)
    };
    for at in [now - 3600, now - 1, now, now + 3601, now + 86_400] {
        let message = assert_error(server.client.create_challenge(&with_expiry(at)).await, 400, 60306);
        assert_eq!(message, "Invalid parameter: ExpirationDate", "{at}");
    }
    for at in [now + 1, now + 3600] {
        let c = server.client.create_challenge(&with_expiry(at)).await.unwrap();
        assert_eq!(c.expiration_date.map(Timestamp::unix), Some(at));
    }
    // Any offset is read; a date that is no date is refused.
    let path = challenges_path(sa, IDENTITY);
    let fs = factor.sid.as_str();
    let (status, body) =
        server.raw_post(&path, &[("FactorSid", fs), ("ExpirationDate", "2026-01-01T01:30:00+01:00")]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expiration_date"], "2026-01-01T00:30:00Z");
    let answer = server.raw_post(&path, &[("FactorSid", fs), ("ExpirationDate", "tomorrow")]).await;
    assert_eq!(assert_wire_error(&answer, 400, 60306), "Invalid parameter: ExpirationDate");
    server.stop().await;
}

/// The checks of a creation, all made on the factor as the writer reads it, answer in their
/// order: a missing factor before a bad `ExpirationDate`, that before an unverified factor.
#[tokio::test]
async fn a_creation_answers_its_first_failed_check() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let unverified = server.totp_factor(sa, IDENTITY, |_| {}).await;
    let bad_expiry = |factor: &Sid| CreateChallengeRequest {
        expiration_date: Timestamp::from_unix(server.now() - 1),
        ..new_challenge(sa, IDENTITY, factor, None)
    };
    let missing: Sid = format!("YF{}", "0".repeat(32)).parse().unwrap();
    assert_error(server.client.create_challenge(&bad_expiry(&missing)).await, 404, 20404);
    assert_error(server.client.create_challenge(&bad_expiry(&unverified.sid)).await, 400, 60306);
    assert_error(server.client.create_challenge(&bad_expiry(&factor.sid)).await, 400, 60306);
    let plain = new_challenge(sa, IDENTITY, &unverified.sid, None);
    assert_error(server.client.create_challenge(&plain).await, 403, 60318);
    let stored = server.client.list_challenges(&list_challenges(sa, IDENTITY)).await.unwrap();
    assert!(stored.challenges.is_empty(), "no refused creation stored a challenge: {stored:?}");
    server.stop().await;
}

#[tokio::test]
async fn bad_challenge_requests_are_refused() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let fs = factor.sid.as_str();
    let c = create(&server, sa, &factor.sid, None).await;
    let path = challenges_path(sa, IDENTITY);

    // Malformed or mistyped SIDs in the path are "not found".
    let wrong_prefix = format!("YX{}", &c.sid.as_str()[2..]);
    for bad in ["YC123", "xyz", factor.sid.as_str(), &wrong_prefix, &format!("{}0", c.sid)] {
        let at = format!("{path}/{bad}");
        assert_wire_error(&server.raw_get(&at).await, 404, 20404);
        assert_wire_error(&server.raw_post(&at, &[("AuthPayload", "123456")]).await, 404, 20404);
    }
    for bad_service in ["VA123", "ZZ0123456789abcdef0123456789abcdef"] {
        let other = format!("/v2/Services/{bad_service}/Entities/{IDENTITY}/Challenges");
        assert_wire_error(&server.raw_get(&other).await, 404, 20404);
        assert_wire_error(&server.raw_post(&other, &[("FactorSid", fs)]).await, 404, 20404);
        assert_wire_error(&server.raw_get(&format!("{other}/{}", c.sid)).await, 404, 20404);
    }
    let unknown = unknown_sid("YC");
    let message = assert_wire_error(&server.raw_get(&format!("{path}/{unknown}")).await, 404, 20404);
    assert_eq!(
        message,
        format!("The requested resource /Services/{sa}/Entities/{IDENTITY}/Challenges/{unknown} was not found")
    );
    assert_wire_error(&server.raw_post(&format!("{path}/{unknown}"), &[("AuthPayload", "123456")]).await, 404, 20404);

    // A bad identity in the path.
    for bad in ["abcdefg", "user_1234", "user--1234"] {
        let other = challenges_path(sa, bad);
        let answers = [
            server.raw_get(&other).await,
            server.raw_post(&other, &[("FactorSid", fs)]).await,
            server.raw_get(&format!("{other}/{}", c.sid)).await,
            server.raw_post(&format!("{other}/{}", c.sid), &[("AuthPayload", "123456")]).await,
        ];
        for answer in &answers {
            assert_eq!(assert_wire_error(answer, 400, 60306), "Invalid parameter: Identity", "{bad}");
        }
    }

    // The factor: missing, malformed, unknown, or another entity's.
    let message = assert_wire_error(&server.raw_post(&path, &[]).await, 400, 60306);
    assert_eq!(message, "Missing required parameter FactorSid in the request");
    let message = assert_wire_error(&server.raw_post(&path, &[("FactorSid", "YF123")]).await, 400, 60306);
    assert_eq!(message, "Invalid parameter: FactorSid");
    assert_wire_error(&server.raw_post(&path, &[("FactorSid", unknown_sid("YF").as_str())]).await, 404, 20404);
    let elsewhere = server.verified_factor(sa, "other-user", |_| {}).await;
    assert_wire_error(&server.raw_post(&path, &[("FactorSid", elsewhere.sid.as_str())]).await, 404, 20404);
    assert_wire_error(&server.raw_post(&challenges_path(sa, "other-user"), &[("FactorSid", fs)]).await, 404, 20404);

    // AuthPayload: 3 to 8 characters at creation; required to answer.
    for payload in ["12", "123456789"] {
        let answer = server.raw_post(&path, &[("FactorSid", fs), ("AuthPayload", payload)]).await;
        assert_eq!(assert_wire_error(&answer, 400, 60306), "Invalid parameter: AuthPayload", "{payload}");
    }
    let at = format!("{path}/{}", c.sid);
    let message = assert_wire_error(&server.raw_post(&at, &[]).await, 400, 60306);
    assert!(message.contains("AuthPayload"), "{message}");
    let message = assert_wire_error(&server.raw_post(&at, &[("AuthPayload", "")]).await, 400, 60306);
    assert!(message.contains("AuthPayload"), "{message}");
    // Bad list filters.
    for (key, value) in [("Status", "done"), ("Order", "sideways"), ("FactorSid", "YF1"), ("PageToken", "nope")] {
        let answer = server.raw_get(&format!("{path}?{key}={value}")).await;
        assert_eq!(assert_wire_error(&answer, 400, 60306), format!("Invalid parameter: {key}"));
    }
    // None of this touched the challenge.
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.unwrap();
    assert_eq!(fetched, c);
    server.stop().await;
}

#[tokio::test]
async fn another_accounts_challenges_are_not_found() {
    let server = TestServer::start().await;
    let (service, factor) = setup(&server).await;
    let sa = &service.sid;
    let c = create(&server, sa, &factor.sid, None).await;
    let b = server.core.create_account("b").await.unwrap();
    let intruder = server.client_as(b.sid.as_str(), &b.secret);
    let code = factor.otp.at(server.now());

    assert_error(intruder.create_challenge(&new_challenge(sa, IDENTITY, &factor.sid, None)).await, 404, 20404);
    assert_error(intruder.create_challenge(&new_challenge(sa, IDENTITY, &factor.sid, Some(&code))).await, 404, 20404);
    assert_error(intruder.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await, 404, 20404);
    for _ in 0..6 {
        let answer = intruder.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &wrong(&code))).await;
        assert_error(answer, 404, 20404);
    }
    assert_error(intruder.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &code)).await, 404, 20404);
    assert_error(intruder.list_challenges(&list_challenges(sa, IDENTITY)).await, 404, 20404);

    // The owner's challenge is untouched and the code unused.
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.unwrap();
    assert_eq!(fetched, c);
    let answered = server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &code)).await.unwrap();
    assert_eq!(answered.status, ChallengeStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_factor_or_its_entity_deletes_only_their_challenges() {
    let server = TestServer::start().await;
    let (service, first) = setup(&server).await;
    let sa = &service.sid;
    let second = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let other_identity = "someone-else";
    let theirs = server.verified_factor(sa, other_identity, |_| {}).await;
    for _ in 0..2 {
        create(&server, sa, &first.sid, None).await;
        create(&server, sa, &second.sid, None).await;
    }
    server.client.create_challenge(&new_challenge(sa, other_identity, &theirs.sid, None)).await.unwrap();
    let factors_of =
        |listed: ChallengeList| listed.challenges.into_iter().filter_map(|c| c.factor_sid).collect::<Vec<_>>();

    server.client.delete_factor(&delete_factor(sa, IDENTITY, &first.sid)).await.unwrap();
    let left = factors_of(server.client.list_challenges(&list_challenges(sa, IDENTITY)).await.unwrap());
    assert_eq!(left, vec![second.sid.clone(), second.sid.clone()], "only the deleted factor's challenges went");
    assert!(server.stored_challenges(sa, IDENTITY, Some(&first.sid)).await.is_empty());

    server.client.delete_entity(&delete_entity(sa, IDENTITY)).await.unwrap();
    assert!(server.stored_challenges(sa, IDENTITY, None).await.is_empty(), "the entity's challenges are gone with it");
    let kept = factors_of(server.client.list_challenges(&list_challenges(sa, other_identity)).await.unwrap());
    assert_eq!(kept, vec![theirs.sid.clone()], "another identity's challenges stay");
    server.stop().await;
}
