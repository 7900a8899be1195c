//! Storage faults over HTTP: a server whose store reaches its files through a fault-injecting
//! SQLite VFS (tests run as root, so file modes cannot make a disk fail). A full disk or an
//! I/O error answers 503 `20503` with Twilio's error body, keeps nothing of the refused
//! request, and the same request succeeds once the fault is gone.

use verifyd_models::*;
use verifyd_store_sqlite::faults::Fault;

use crate::common::*;

const PHONE: &str = "+15017122661";

fn verifications(service: &Sid) -> String {
    format!("/v2/Services/{service}/Verifications")
}

/// Asserts a 503 `20503` that tells nothing of the fault (SQLite's message, a path).
fn assert_unavailable(answer: &(u16, serde_json::Value)) {
    let message = assert_wire_error(answer, 503, 20503);
    assert!(!message.is_empty());
    for detail in ["disk", "i/o", "sqlite", "full", "/"] {
        assert!(!message.to_lowercase().contains(detail), "{message}");
    }
}

#[tokio::test]
async fn a_failing_disk_answers_503_stores_nothing_and_recovers() {
    let (server, vfs) = TestServer::start_on_faulty_disk().await;
    let service = server.service().await.sid;
    for (n, fault) in [Fault::DiskFull, Fault::WriteError, Fault::SyncError].into_iter().enumerate() {
        let to = format!("+1501712266{n}");
        let form = [("To", to.as_str()), ("Channel", "sms")];
        vfs.set(Some(fault));
        assert_unavailable(&server.raw_post(&verifications(&service), &form).await);
        // The generated client sees Twilio's error too.
        assert_error(
            server.client.create_verification(&start(&service, &to, VerificationChannel::Sms)).await,
            503,
            20503,
        );
        vfs.set(None);

        assert!(server.newest_verification(&service, &to).await.is_none(), "{fault:?}: a verification was kept");
        assert!(server.outbox(&to).await.is_empty(), "{fault:?}: a message was kept");

        let (status, body) = server.raw_post(&verifications(&service), &form).await;
        assert_eq!(status, 201, "{fault:?}: {body}");
        assert_eq!(body["status"], "pending");
        assert_eq!(server.outbox(&to).await.len(), 1, "{fault:?}: one send, one message");
        let code = server.code_for(&to).await;
        let checked = server.client.create_verification_check(&check_to(&service, &to, &code)).await.unwrap();
        assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));
    }
    server.stop().await;
}

/// Every kind of write refuses the same way, never a 500, and nothing of any is kept.
#[tokio::test]
async fn every_write_during_a_full_disk_is_a_503_and_leaves_no_trace() {
    let (server, vfs) = TestServer::start_on_faulty_disk().await;
    let service = server.service().await.sid;
    let service_path = format!("/v2/Services/{service}");
    vfs.set(Some(Fault::DiskFull));
    let writes: [(String, Vec<(&str, &str)>); 6] = [
        ("/v2/Services".to_owned(), vec![("FriendlyName", "Second")]),
        (service_path.clone(), vec![("FriendlyName", "Renamed")]),
        (format!("{service_path}/Entities"), vec![("Identity", IDENTITY)]),
        (format!("{service_path}/RateLimits"), vec![("UniqueName", "end_user_ip_address")]),
        (format!("{service_path}/AccessTokens"), vec![("Identity", IDENTITY), ("FactorType", "push")]),
        (
            format!("{service_path}/Entities/{IDENTITY}/Factors"),
            vec![("FriendlyName", "Jane's phone"), ("FactorType", "totp")],
        ),
    ];
    for (path, form) in &writes {
        let answer = server.raw_post(path, form).await;
        assert_unavailable(&answer);
    }
    vfs.set(None);

    let services = server.client.list_services(&list_services(Some(50))).await.unwrap();
    assert_eq!(services.services.len(), 1);
    assert_eq!(services.services.first().and_then(|s| s.friendly_name.as_deref()), Some("Acme"));
    assert!(server.stored_factors(&service, IDENTITY).await.is_empty());
    let (status, body) = server.raw_get(&format!("{service_path}/Entities/{IDENTITY}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.raw_get(&format!("{service_path}/RateLimits")).await;
    assert_eq!((status, body["rate_limits"].as_array().map(Vec::len)), (200, Some(0)), "{body}");

    // And each goes through now.
    for (path, form) in &writes {
        let (status, body) = server.raw_post(path, form).await;
        assert!(status == 200 || status == 201, "{path}: {status} {body}");
    }
    server.stop().await;
}

/// Checks refused by the fault count nothing; the ones answered before it are not lost.
#[tokio::test]
async fn a_check_during_a_fault_neither_loses_nor_double_counts_attempts() {
    let (server, vfs) = TestServer::start_on_faulty_disk().await;
    let service = server.service().await.sid;
    let started = server.client.create_verification(&start(&service, PHONE, VerificationChannel::Sms)).await.unwrap();
    let code = server.code_for(PHONE).await;
    let bad = wrong(&code);
    for _ in 0..2 {
        let answer = server.client.create_verification_check(&check_to(&service, PHONE, &bad)).await.unwrap();
        assert_eq!(answer.status, Some(VerificationStatus::Pending.into()));
    }

    for fault in [Fault::DiskFull, Fault::WriteError, Fault::SyncError] {
        vfs.set(Some(fault));
        for code in [bad.as_str(), bad.as_str(), code.as_str()] {
            let path = format!("/v2/Services/{service}/VerificationCheck");
            assert_unavailable(&server.raw_post(&path, &[("To", PHONE), ("Code", code)]).await);
        }
        vfs.set(None);
        let stored = server.stored_verification(&service, &started.sid).await.expect("the verification");
        assert_eq!(stored.check_attempts, 2, "{fault:?}");
        assert_eq!(stored.status.to_string(), "pending", "{fault:?}: the refused right code approved");
    }

    // Two more wrong codes are the third and fourth; the fifth locks: exactly as without the fault.
    for _ in 0..2 {
        let answer = server.client.create_verification_check(&check_to(&service, PHONE, &bad)).await.unwrap();
        assert_eq!(answer.status, Some(VerificationStatus::Pending.into()));
    }
    let fifth = server.client.create_verification_check(&check_to(&service, PHONE, &bad)).await.unwrap();
    assert_eq!((fifth.status, fifth.valid), (Some(VerificationStatus::MaxAttemptsReached.into()), Some(false)));
    server.stop().await;
}

/// A disk that cannot be read fails reads (and the authentication that reads the account)
/// the same way; they answer again once it is back.
#[tokio::test]
async fn a_failing_read_answers_503_and_recovers() {
    let (server, vfs) = TestServer::start_on_faulty_disk().await;
    let service = server.service().await.sid;
    let started = server.client.create_verification(&start(&service, PHONE, VerificationChannel::Sms)).await.unwrap();
    let path = format!("{}/{}", verifications(&service), started.sid);
    // Written after the last read: no page cache holds these pages, so reads reach the files.
    vfs.set(Some(Fault::ReadError));
    assert_unavailable(&server.raw_get(&path).await);
    vfs.set(None);
    let (status, body) = server.raw_get(&path).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pending")), "{body}");
    server.stop().await;
}

/// `/readyz` sees the full disk (its probe is a write) and its end, so a load balancer can
/// take the instance out and back in.
#[tokio::test]
async fn readyz_reports_a_full_disk_and_its_end() {
    let (server, vfs) = TestServer::start_on_faulty_disk().await;
    let readyz = || async { read_json(reqwest::get(format!("{}/readyz", server.root)).await.expect("GET")).await };
    assert_eq!(readyz().await.0, 200);
    vfs.set(Some(Fault::DiskFull));
    assert_unavailable(&readyz().await);
    vfs.set(None);
    let (status, body) = readyz().await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")), "{body}");
    server.stop().await;
}
