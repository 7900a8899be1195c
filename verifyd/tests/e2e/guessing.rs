//! Guessing over HTTP: consecutive wrong codes counted per subscriber, across the
//! verifications of a `To` (429 `60202`) and across the TOTP factors and challenges of an
//! entity (429 `60308`, `60310` for a factor's verification), with a small configured
//! ceiling; other subscribers of the same service are unaffected; a right code before the
//! ceiling clears the count; the lockout passes on the test clock; and the defaults (100
//! failures, an hour) are in force when nothing is configured.

use crate::common::*;
use verifyd_models::*;
use verifyd_runtime::Sid;

const PHONE: &str = "+15017122661";
const OTHER_PHONE: &str = "+15017122662";
const THREE: (&str, &str) = ("VERIFYD_GUESS_LIMIT", "3");

async fn send(server: &TestServer, service: &Sid, to: &str) -> Verification {
    server.client.create_verification(&start(service, to, VerificationChannel::Sms)).await.expect("a send")
}

/// The status a check answers (it must answer 200).
async fn checked(server: &TestServer, request: &CreateVerificationCheckRequest) -> VerificationStatus {
    let answer = server.client.create_verification_check(request).await.expect("a check answer");
    assert_eq!(answer.valid, Some(answer.status == Some(VerificationStatus::Approved.into())));
    answer.status.and_then(|s| s.known()).expect("a known status")
}

/// Asserts that a check is refused as guessing: 429 `60202`.
async fn assert_locked_out(server: &TestServer, request: &CreateVerificationCheckRequest) {
    let message = assert_error(server.client.create_verification_check(request).await, 429, 60202);
    assert_eq!(message, "Max check attempts reached");
}

async fn cancel(server: &TestServer, service: &Sid, sid: &Sid) {
    let canceled = server
        .client
        .update_verification(&set_status(service, sid, VerificationUpdateStatus::Canceled))
        .await
        .expect("a cancel");
    assert_eq!(canceled.status, Some(VerificationStatus::Canceled.into()));
}

#[tokio::test]
async fn wrong_codes_across_the_verifications_of_a_to_lock_it_out() {
    let server = TestServer::start_with(&[THREE]).await;
    let service = server.service().await;
    let sa = &service.sid;
    let first = send(&server, sa, PHONE).await;
    let code = server.code_for(PHONE).await;
    for n in 1..=2 {
        assert_eq!(checked(&server, &check_to(sa, PHONE, &wrong(&code))).await, VerificationStatus::Pending, "{n}");
    }
    // Starting again does not start the count again.
    cancel(&server, sa, &first.sid).await;
    let second = send(&server, sa, PHONE).await;
    assert_ne!(second.sid, first.sid);
    let code = server.code_for(PHONE).await;
    // The third wrong code (by SID: the same subscriber) reaches the ceiling and is answered
    // as usual.
    assert_eq!(checked(&server, &check_sid(sa, &second.sid, &wrong(&code))).await, VerificationStatus::Pending);
    // From now on every check of the To is refused, the right code too, by To or by SID.
    assert_locked_out(&server, &check_to(sa, PHONE, &code)).await;
    assert_locked_out(&server, &check_sid(sa, &second.sid, &code)).await;
    assert_locked_out(&server, &check_to(sa, PHONE, &wrong(&code))).await;
    // A refused check counts against nothing: the verification keeps its one wrong check.
    let stored = server.stored_verification(sa, &second.sid).await.expect("kept");
    assert_eq!((stored.status, stored.check_attempts), (VerificationStatus::Pending, 1));
    let fetched = server.client.fetch_verification(&fetch(sa, &second.sid)).await.expect("still pending");
    assert_eq!(fetched.status, Some(VerificationStatus::Pending.into()));

    // Never account-wide: another To of the service and the same To in another service are
    // checked as usual.
    send(&server, sa, OTHER_PHONE).await;
    let other_code = server.code_for(OTHER_PHONE).await;
    assert_eq!(checked(&server, &check_to(sa, OTHER_PHONE, &wrong(&other_code))).await, VerificationStatus::Pending);
    assert_eq!(checked(&server, &check_to(sa, OTHER_PHONE, &other_code)).await, VerificationStatus::Approved);
    let elsewhere = server.client.create_service(&create_service("Elsewhere")).await.expect("a service");
    send(&server, &elsewhere.sid, PHONE).await;
    let elsewhere_code = server.code_for(PHONE).await;
    let request = check_to(&elsewhere.sid, PHONE, &wrong(&elsewhere_code));
    assert_eq!(checked(&server, &request).await, VerificationStatus::Pending);
    let request = check_to(&elsewhere.sid, PHONE, &elsewhere_code);
    assert_eq!(checked(&server, &request).await, VerificationStatus::Approved);
    // The locked To is still locked.
    assert_locked_out(&server, &check_to(sa, PHONE, &code)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_right_code_before_the_ceiling_clears_the_count() {
    let server = TestServer::start_with(&[THREE]).await;
    let service = server.service().await;
    let sa = &service.sid;
    send(&server, sa, PHONE).await;
    let code = server.code_for(PHONE).await;
    for _ in 1..=2 {
        assert_eq!(checked(&server, &check_to(sa, PHONE, &wrong(&code))).await, VerificationStatus::Pending);
    }
    assert_eq!(checked(&server, &check_to(sa, PHONE, &code)).await, VerificationStatus::Approved);
    // Cleared: three more wrong codes are answered before the lockout.
    let next = send(&server, sa, PHONE).await;
    let code = server.code_for(PHONE).await;
    for n in 1..=3 {
        let status = checked(&server, &check_sid(sa, &next.sid, &wrong(&code))).await;
        assert_eq!(status, VerificationStatus::Pending, "wrong code {n} after the right one");
    }
    assert_locked_out(&server, &check_sid(sa, &next.sid, &code)).await;
    server.stop().await;
}

#[tokio::test]
async fn the_lockout_passes_after_an_hour_and_counting_starts_over() {
    // Only the ceiling is configured: the lockout is the default hour.
    let server = TestServer::start_with(&[THREE]).await;
    let service = server.service().await;
    let sa = &service.sid;
    let first = send(&server, sa, PHONE).await;
    let code = server.code_for(PHONE).await;
    for _ in 1..=3 {
        assert_eq!(checked(&server, &check_to(sa, PHONE, &wrong(&code))).await, VerificationStatus::Pending);
    }
    assert_locked_out(&server, &check_to(sa, PHONE, &code)).await;
    server.clock.advance(599);
    assert_locked_out(&server, &check_sid(sa, &first.sid, &code)).await;

    // The verification expires; a new one of the same To is locked out as well.
    server.clock.advance(1);
    let second = send(&server, sa, PHONE).await;
    assert_ne!(second.sid, first.sid);
    let code = server.code_for(PHONE).await;
    assert_locked_out(&server, &check_to(sa, PHONE, &code)).await;
    server.clock.advance(2_999);
    let third = send(&server, sa, PHONE).await;
    let code = server.code_for(PHONE).await;
    assert_locked_out(&server, &check_sid(sa, &third.sid, &code)).await;

    // An hour after the third wrong code: checks are compared again, counted from zero.
    server.clock.advance(1);
    for n in 1..=2 {
        let status = checked(&server, &check_sid(sa, &third.sid, &wrong(&code))).await;
        assert_eq!(status, VerificationStatus::Pending, "wrong code {n} after the lockout");
    }
    assert_eq!(checked(&server, &check_sid(sa, &third.sid, &code)).await, VerificationStatus::Approved);
    server.stop().await;
}

#[tokio::test]
async fn by_default_the_hundredth_wrong_code_locks_a_to_out_for_an_hour() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let sa = &service.sid;
    // Four wrong codes per verification (the fifth would close it), five sends per ten
    // minutes: 25 verifications.
    let mut failures = 0;
    let mut last = None;
    for round in 0..25 {
        if let Some(previous) = &last {
            cancel(&server, sa, previous).await;
        }
        if round > 0 && round % 5 == 0 {
            server.clock.advance(600);
        }
        let v = send(&server, sa, PHONE).await;
        let code = server.code_for(PHONE).await;
        for _ in 0..4 {
            failures += 1;
            let status = checked(&server, &check_sid(sa, &v.sid, &wrong(&code))).await;
            assert_eq!(status, VerificationStatus::Pending, "wrong code {failures}");
        }
        last = Some(v.sid);
    }
    assert_eq!(failures, 100);
    let last = last.expect("a verification");
    let code = server.code_for(PHONE).await;
    assert_locked_out(&server, &check_sid(sa, &last, &code)).await;

    server.clock.advance(3_599);
    send(&server, sa, PHONE).await;
    let code = server.code_for(PHONE).await;
    assert_locked_out(&server, &check_to(sa, PHONE, &code)).await;
    server.clock.advance(1);
    assert_eq!(checked(&server, &check_to(sa, PHONE, &code)).await, VerificationStatus::Approved);
    server.stop().await;
}

async fn create_challenge(server: &TestServer, service: &Sid, factor: &Sid, code: Option<&str>) -> Challenge {
    server.client.create_challenge(&new_challenge(service, IDENTITY, factor, code)).await.expect("a challenge")
}

async fn answer(server: &TestServer, service: &Sid, challenge: &Sid, code: &str) -> ChallengeStatus {
    server
        .client
        .update_challenge(&answer_challenge(service, IDENTITY, challenge, code))
        .await
        .expect("an answer")
        .status
        .known()
        .expect("a known status")
}

/// Asserts that a TOTP answer to a challenge (at creation or later) is refused as guessing.
fn assert_challenge_locked_out<T: std::fmt::Debug>(result: Result<T, verifyd_client::ClientError>) {
    let message = assert_error(result, 429, 60308);
    assert_eq!(message, "Too many attempts to answer the challenge");
}

#[tokio::test]
async fn wrong_codes_across_the_factors_and_challenges_of_an_entity_lock_it_out() {
    let server = TestServer::start_with(&[THREE]).await;
    let service = server.service().await;
    let sa = &service.sid;
    server.advance_to_step_start(30);
    let first = server.verified_factor(sa, IDENTITY, |_| {}).await;
    let second = server.totp_factor(sa, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    let now = server.now();

    // One wrong code verifying the second factor, one creating a challenge of the first, one
    // answering it: the third reaches the ceiling and is answered as usual.
    let verifying = verify_factor(sa, IDENTITY, &second.sid, &wrong(&second.otp.at(now)));
    let unverified = server.client.update_factor(&verifying).await.expect("a verification");
    assert_eq!(unverified.status, FactorStatus::Unverified);
    let c = create_challenge(&server, sa, &first.sid, Some(&wrong(&first.otp.at(now)))).await;
    assert_eq!(c.status, ChallengeStatus::Pending);
    assert_eq!(answer(&server, sa, &c.sid, &wrong(&first.otp.at(now))).await, ChallengeStatus::Pending);

    // Locked out: right codes are refused everywhere in the entity.
    let right = first.otp.at(now);
    assert_challenge_locked_out(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &right)).await);
    let creation = new_challenge(sa, IDENTITY, &first.sid, Some(&right));
    assert_challenge_locked_out(server.client.create_challenge(&creation).await);
    let verifying = verify_factor(sa, IDENTITY, &second.sid, &second.otp.at(now));
    let message = assert_error(server.client.update_factor(&verifying).await, 429, 60310);
    assert_eq!(message, "Too many verification attempts for the factor");
    // Nothing was counted or created by the refusals; a challenge without a code is created.
    let fetched = server.client.fetch_challenge(&fetch_challenge(sa, IDENTITY, &c.sid)).await.expect("a challenge");
    assert_eq!(fetched.status, ChallengeStatus::Pending);
    let stored = server.stored_challenges(sa, IDENTITY, None).await;
    assert_eq!(stored.iter().map(|c| c.answer_attempts).collect::<Vec<_>>(), [2], "one challenge, two wrong answers");
    let factors = server.stored_factors(sa, IDENTITY).await;
    let attempts: Vec<_> = factors.iter().map(|f| (f.status, f.verify_attempts)).collect();
    assert_eq!(attempts, [(FactorStatus::Verified, 0), (FactorStatus::Unverified, 1)]);
    let pending = create_challenge(&server, sa, &first.sid, None).await;
    assert_eq!(pending.status, ChallengeStatus::Pending);

    // Never service-wide: another entity, and the same identity in another service, verify
    // and answer as usual.
    let other = "user-5678";
    let theirs = server.verified_factor(sa, other, |_| {}).await;
    let elsewhere = server.client.create_service(&create_service("Elsewhere")).await.expect("a service");
    let mine_elsewhere = server.verified_factor(&elsewhere.sid, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    let later = server.now();
    let challenge = new_challenge(sa, other, &theirs.sid, Some(&theirs.otp.at(later)));
    assert_eq!(
        server.client.create_challenge(&challenge).await.expect("a challenge").status,
        ChallengeStatus::Approved
    );
    let challenge = new_challenge(&elsewhere.sid, IDENTITY, &mine_elsewhere.sid, Some(&mine_elsewhere.otp.at(later)));
    assert_eq!(
        server.client.create_challenge(&challenge).await.expect("a challenge").status,
        ChallengeStatus::Approved
    );
    // The locked entity is still locked.
    let creation = new_challenge(sa, IDENTITY, &first.sid, Some(&first.otp.at(later)));
    assert_challenge_locked_out(server.client.create_challenge(&creation).await);
    server.stop().await;
}

#[tokio::test]
async fn an_entitys_count_clears_on_a_right_code_and_its_lockout_passes() {
    let server = TestServer::start_with(&[THREE, ("VERIFYD_GUESS_LOCKOUT_SECONDS", "600")]).await;
    let service = server.service().await;
    let sa = &service.sid;
    server.advance_to_step_start(30);
    let factor = server.verified_factor(sa, IDENTITY, |_| {}).await;
    server.clock.advance(30);
    let code = factor.otp.at(server.now());

    // Two wrong codes, then the right one: cleared.
    let c = create_challenge(&server, sa, &factor.sid, Some(&wrong(&code))).await;
    assert_eq!(answer(&server, sa, &c.sid, &wrong(&code)).await, ChallengeStatus::Pending);
    assert_eq!(answer(&server, sa, &c.sid, &code).await, ChallengeStatus::Approved);

    // Three more wrong codes are answered (over two challenges); the fourth answer is refused.
    server.clock.advance(30);
    let code = factor.otp.at(server.now());
    let c = create_challenge(&server, sa, &factor.sid, Some(&wrong(&code))).await;
    assert_eq!(answer(&server, sa, &c.sid, &wrong(&code)).await, ChallengeStatus::Pending);
    let third = create_challenge(&server, sa, &factor.sid, Some(&wrong(&code))).await;
    assert_eq!(third.status, ChallengeStatus::Pending);
    assert_challenge_locked_out(server.client.update_challenge(&answer_challenge(sa, IDENTITY, &c.sid, &code)).await);

    // The configured ten minutes: refused until they pass, then the right code approves.
    server.clock.advance(599);
    let code = factor.otp.at(server.now());
    let creation = new_challenge(sa, IDENTITY, &factor.sid, Some(&code));
    assert_challenge_locked_out(server.client.create_challenge(&creation).await);
    server.clock.advance(1);
    let code = factor.otp.at(server.now());
    assert_eq!(create_challenge(&server, sa, &factor.sid, Some(&code)).await.status, ChallengeStatus::Approved);
    server.stop().await;
}
