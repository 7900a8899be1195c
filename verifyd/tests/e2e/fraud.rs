//! The fraud controls on a send: geo permissions (403 `60605`), Fraud Guard against SMS
//! pumping (403 `60410`), the Safe List that passes both, and what a blocked send leaves
//! behind: nothing sent, no attempt, nothing counted in a bucket.

use serde_json::json;
use verifyd_core::domain::fraud::{Level, MIN_BASELINE_CONVERSIONS};
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::*;

const HOUR: i64 = 3_600;

fn attempts_to(to: &str) -> ListVerificationAttemptRequest {
    ListVerificationAttemptRequest { channel_data_to: Some(to.to_owned()), ..ListVerificationAttemptRequest::new() }
}

async fn safe_list(server: &TestServer, number: &str) {
    server.client.create_safelist(&CreateSafelistRequest::new(number.to_owned())).await.unwrap();
}

/// `count` SMS verifications to numbers of ordinary prefixes (+1 415, +1 212, +44 770,
/// +33 612), `converted` of them approved: the service's baseline.
async fn normal_traffic(server: &TestServer, service: &Sid, count: u32, converted: u32, offset: u32) {
    let prefixes = ["+1415555", "+1212555", "+44770090", "+3361234"];
    for i in 0..count {
        let n = offset + i;
        let prefix = prefixes[(n % 4) as usize];
        let to = format!("{prefix}{:04}", n % 10_000);
        let v = server.client.create_verification(&start(service, &to, VerificationChannel::Sms)).await.unwrap();
        if i < converted {
            server
                .client
                .update_verification(&set_status(service, &v.sid, VerificationUpdateStatus::Approved))
                .await
                .unwrap();
        }
    }
}

/// A number of the premium prefix the attack targets: Moldova's +373 601.
fn premium(n: u32) -> String {
    format!("+373601{n:05}")
}

#[tokio::test]
async fn geo_permissions_block_a_country_per_channel_and_a_blocked_send_leaves_nothing() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let france = "+33612345678";

    server.core.set_geo_permissions(&server.account, &["sms".into()], &["FR".into()], false).await.unwrap();
    let message = assert_error(
        server.client.create_verification(&start(&service, france, VerificationChannel::Sms)).await,
        403,
        60605,
    );
    assert!(message.contains("Geo-Permissions"), "{message}");
    assert!(server.outbox(france).await.is_empty());
    let listed = server.client.list_verification_attempt(&attempts_to(france)).await.unwrap();
    assert!(listed.attempts.is_empty(), "a blocked send records no attempt");
    // Only SMS is denied: a call to the same number goes.
    server.client.create_verification(&start(&service, france, VerificationChannel::Call)).await.unwrap();

    // Deny every country on WhatsApp but the US.
    server.core.set_geo_permissions(&server.account, &["whatsapp".into()], &["all".into()], false).await.unwrap();
    server.core.set_geo_permissions(&server.account, &["whatsapp".into()], &["us".into()], true).await.unwrap();
    server.client.create_verification(&start(&service, "+15017122661", VerificationChannel::Whatsapp)).await.unwrap();
    assert_error(
        server.client.create_verification(&start(&service, "+447700900123", VerificationChannel::Whatsapp)).await,
        403,
        60605,
    );
    let rules: Vec<(String, String, bool)> = server
        .core
        .geo_permissions(&server.account)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.channel, r.country, r.allowed))
        .collect();
    assert_eq!(
        rules,
        [
            ("sms".to_owned(), "FR".to_owned(), false),
            ("whatsapp".to_owned(), "US".to_owned(), true),
            ("whatsapp".to_owned(), "all".to_owned(), false),
        ]
    );

    // A safe-listed number passes.
    safe_list(&server, france).await;
    server.client.create_verification(&start(&service, france, VerificationChannel::Sms)).await.unwrap();
    // `allow all` resets WhatsApp: every country again.
    server.core.set_geo_permissions(&server.account, &["whatsapp".into()], &["all".into()], true).await.unwrap();
    server.client.create_verification(&start(&service, "+447700900123", VerificationChannel::Whatsapp)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_blocked_send_counts_in_no_bucket() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    let limit = server
        .client
        .create_rate_limit(&CreateRateLimitRequest {
            service_sid: service.clone(),
            unique_name: "end_user_ip_address".into(),
            description: None,
        })
        .await
        .unwrap();
    server
        .client
        .create_bucket(&CreateBucketRequest {
            service_sid: service.clone(),
            rate_limit_sid: limit.sid.clone(),
            max: 1,
            interval: 600,
        })
        .await
        .unwrap();
    let metered = |to: &str| {
        let mut request = start(&service, to, VerificationChannel::Sms);
        request.rate_limits = Some([("end_user_ip_address".to_owned(), json!("203.0.113.7"))].into_iter().collect());
        request
    };
    server.core.set_geo_permissions(&server.account, &[], &["DE".into()], false).await.unwrap();
    for _ in 0..3 {
        assert_error(server.client.create_verification(&metered("+4915123456789")).await, 403, 60605);
    }
    // The bucket (one per 10 minutes) is still whole: the blocked sends took nothing of it.
    server.client.create_verification(&metered("+15017122661")).await.unwrap();
    assert_error(server.client.create_verification(&metered("+15017122662")).await, 429, 20429);
    server.stop().await;
}

#[tokio::test]
async fn a_pumping_attack_is_blocked_while_normal_traffic_continues() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    // A baseline: 40 ordinary verifications, 32 converted (80 %).
    normal_traffic(&server, &service, 40, 32, 0).await;

    // The attack: 3000 codes to distinct numbers of one premium prefix, none ever entered,
    // with ordinary users signing up in between.
    let (mut accepted, mut blocked, mut normal) = (0, 0, 0);
    for n in 0..3_000 {
        match server.client.create_verification(&start(&service, &premium(n), VerificationChannel::Sms)).await {
            Ok(_) => accepted += 1,
            Err(e) => {
                let e = api_error::<()>(Err(e));
                assert_eq!((e.status, e.code), (403, 60410), "{e:?}");
                blocked += 1;
            }
        }
        if n % 100 == 99 {
            normal_traffic(&server, &service, 1, 1, 1_000 + n).await;
            normal += 1;
        }
    }
    // Standard: the prefix is judged from its 30th send on, and blocked at once (0 % converted).
    assert_eq!((accepted, blocked, normal), (30, 2_970, 30));
    assert_eq!(server.outbox(&premium(2_999)).await.len(), 0);

    // Its attempts, as the summary counts them: 30, none converted.
    let mut summary = FetchVerificationAttemptsSummaryRequest {
        verify_service_sid: Some(service.clone()),
        destination_prefix: Some("+373601".into()),
        ..FetchVerificationAttemptsSummaryRequest::new()
    };
    let counted = server.client.fetch_verification_attempts_summary(&summary).await.unwrap();
    assert_eq!((counted.total_attempts, counted.total_converted), (30, 0));
    summary.destination_prefix = None;
    summary.country = Some("MD".into());
    assert_eq!(server.client.fetch_verification_attempts_summary(&summary).await.unwrap().total_attempts, 30);

    // Other prefixes of the same country, other channels, and safe-listed numbers still go.
    server.client.create_verification(&start(&service, "+37369123456", VerificationChannel::Sms)).await.unwrap();
    server.client.create_verification(&start(&service, &premium(5_000), VerificationChannel::Call)).await.unwrap();
    safe_list(&server, &premium(5_001)).await;
    server.client.create_verification(&start(&service, &premium(5_001), VerificationChannel::Sms)).await.unwrap();
    assert_error(
        server.client.create_verification(&start(&service, &premium(5_002), VerificationChannel::Sms)).await,
        403,
        60410,
    );

    // The block is temporary: once the unconverted sends are 12 hours old, the prefix opens.
    server.clock.advance(12 * HOUR);
    server.client.create_verification(&start(&service, &premium(5_003), VerificationChannel::Sms)).await.unwrap();

    // A service can turn it off (or up) on its own.
    let other = server.client.create_service(&create_service("Other")).await.unwrap().sid;
    normal_traffic(&server, &other, 25, 25, 2_000).await;
    for n in 0..30 {
        server.client.create_verification(&start(&other, &premium(6_000 + n), VerificationChannel::Sms)).await.unwrap();
    }
    assert_error(
        server.client.create_verification(&start(&other, &premium(6_100), VerificationChannel::Sms)).await,
        403,
        60410,
    );
    server.core.set_fraud_guard(&server.account, &other, Some(Level::Off)).await.unwrap();
    server.client.create_verification(&start(&other, &premium(6_101), VerificationChannel::Sms)).await.unwrap();
    assert_eq!(server.core.fraud_guard_overrides(&server.account).await.unwrap(), [(other.clone(), "off".to_owned())]);
    server.core.set_fraud_guard(&server.account, &other, None).await.unwrap();
    assert_error(
        server.client.create_verification(&start(&other, &premium(6_102), VerificationChannel::Sms)).await,
        403,
        60410,
    );
    server.stop().await;
}

#[tokio::test]
async fn a_service_without_a_baseline_is_never_blocked() {
    let server = TestServer::start().await;
    let service = server.service().await.sid;
    // A fresh service (a test suite, a benchmark): a few conversions, many unconverted codes
    // to one prefix.
    normal_traffic(&server, &service, 30, u32::try_from(MIN_BASELINE_CONVERSIONS - 1).unwrap(), 0).await;
    for n in 0..300 {
        server.client.create_verification(&start(&service, &premium(n), VerificationChannel::Sms)).await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn strict_blocks_sooner_and_off_never_blocks() {
    let server = TestServer::start_with(&[("VERIFYD_FRAUD_GUARD", "strict")]).await;
    let service = server.service().await.sid;
    normal_traffic(&server, &service, 25, 25, 0).await;
    let accepted = {
        let mut accepted = 0;
        for n in 0..50 {
            if server.client.create_verification(&start(&service, &premium(n), VerificationChannel::Sms)).await.is_ok()
            {
                accepted += 1;
            }
        }
        accepted
    };
    assert_eq!(accepted, 10, "strict judges a prefix from its 10th send");
    server.stop().await;

    let server = TestServer::start_with(&[("VERIFYD_FRAUD_GUARD", "off")]).await;
    let service = server.service().await.sid;
    normal_traffic(&server, &service, 25, 25, 0).await;
    for n in 0..100 {
        server.client.create_verification(&start(&service, &premium(n), VerificationChannel::Sms)).await.unwrap();
    }
    server.stop().await;
}
