//! Parallel checks of one verification: the attempt count and approval are atomic.

use crate::common::*;
use verifyd_models::*;

const PHONE: &str = "+15017122661";

/// What one check answered: a status, or an error's (HTTP status, code).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    Checked(VerificationStatus),
    Failed(i64, i64),
}

async fn run_parallel(server: &TestServer, requests: Vec<CreateVerificationCheckRequest>) -> Vec<Outcome> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let client = server.client.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                match client.create_verification_check(&request).await {
                    Ok(answer) => Outcome::Checked(answer.status.and_then(|s| s.known()).expect("a known status")),
                    Err(verifyd_client::ClientError::Api(e)) => Outcome::Failed(e.status, e.code),
                    Err(other) => panic!("{other}"),
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    outcomes.sort();
    outcomes
}

fn count(outcomes: &[Outcome], outcome: &Outcome) -> usize {
    outcomes.iter().filter(|o| *o == outcome).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_wrong_checks_count_exactly_five_attempts() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    let bad = wrong(&code);

    let requests = (0..50)
        .map(|i| if i % 2 == 0 { check_to(&service.sid, PHONE, &bad) } else { check_sid(&service.sid, &v.sid, &bad) })
        .collect();
    let outcomes = run_parallel(&server, requests).await;
    assert_eq!(count(&outcomes, &Outcome::Checked(VerificationStatus::Pending)), 4, "{outcomes:?}");
    assert_eq!(count(&outcomes, &Outcome::Checked(VerificationStatus::MaxAttemptsReached)), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, &Outcome::Failed(429, 60202)), 45, "{outcomes:?}");

    // The right code cannot slip in afterwards.
    assert_error(server.client.create_verification_check(&check_sid(&service.sid, &v.sid, &code)).await, 429, 60202);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_right_checks_approve_exactly_once() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server.client.create_verification(&start(&service.sid, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;

    let requests = (0..20)
        .map(|i| if i % 2 == 0 { check_to(&service.sid, PHONE, &code) } else { check_sid(&service.sid, &v.sid, &code) })
        .collect();
    let outcomes = run_parallel(&server, requests).await;
    assert_eq!(count(&outcomes, &Outcome::Checked(VerificationStatus::Approved)), 1, "{outcomes:?}");
    assert_eq!(count(&outcomes, &Outcome::Failed(404, 20404)), 19, "{outcomes:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_sends_to_one_number_make_one_verification_within_the_limit() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = server.client.clone();
            let request = start(&service.sid, PHONE, VerificationChannel::Sms);
            tokio::spawn(async move { client.create_verification(&request).await })
        })
        .collect();
    let mut sids = std::collections::BTreeSet::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(v) => {
                sids.insert(v.sid);
            }
            Err(e) => {
                assert_eq!((e.status(), e.code()), (Some(429), Some(60203)), "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!(sids.len(), 1, "one verification for one number");
    assert_eq!(refused, 15);
    let messages = server.outbox(PHONE).await;
    assert_eq!(messages.len(), 5);
    assert!(messages.iter().all(|m| m["code"] == messages[0]["code"]), "one code");
    server.stop().await;
}

/// One setting changed in an update request.
type Change = Box<dyn FnOnce(&mut UpdateServiceRequest) + Send>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_updates_of_different_settings_all_stick() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let changes: Vec<Change> = vec![
        Box::new(|u| u.friendly_name = Some("Renamed".into())),
        Box::new(|u| u.code_length = Some(8)),
        Box::new(|u| u.lookup_enabled = Some(true)),
        Box::new(|u| u.psd2_enabled = Some(true)),
        Box::new(|u| u.dtmf_input_required = Some(false)),
        Box::new(|u| u.tts_name = Some("Voice".into())),
        Box::new(|u| u.do_not_share_warning_enabled = Some(true)),
        Box::new(|u| u.custom_code_enabled = Some(true)),
        Box::new(|u| u.totp_issuer = Some("Issuer".into())),
        Box::new(|u| u.totp_time_step = Some(60)),
    ];
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(changes.len()));
    let tasks: Vec<_> = changes
        .into_iter()
        .map(|change| {
            let mut request = update_service(&service.sid);
            change(&mut request);
            let client = server.client.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                client.update_service(&request).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let s = server.client.fetch_service(&fetch_service(&service.sid)).await.unwrap();
    assert_eq!(s.friendly_name.as_deref(), Some("Renamed"));
    assert_eq!(s.code_length, 8);
    assert_eq!(s.lookup_enabled, Some(true));
    assert_eq!(s.psd2_enabled, Some(true));
    assert_eq!(s.dtmf_input_required, Some(false));
    assert_eq!(s.tts_name.as_deref(), Some("Voice"));
    assert_eq!(s.do_not_share_warning_enabled, Some(true));
    assert_eq!(s.custom_code_enabled, Some(true));
    let totp = s.totp.unwrap();
    assert_eq!((totp.issuer.as_deref(), totp.time_step), (Some("Issuer"), Some(60)));
    server.stop().await;
}
