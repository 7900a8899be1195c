//! Phone numbers through libphonenumber's metadata: a `To` that cannot exist (an unknown
//! country calling code, a length no number of its country has) is refused naming `To`;
//! fictional ranges are kept; each send attempt keeps the number's country.

use verifyd_models::*;

use super::attempt_sid;
use crate::common::*;

#[tokio::test]
async fn numbers_that_cannot_exist_are_refused_naming_to() {
    let server = TestServer::start().await;
    let service = server.service().await;
    for to in ["+999123456789", "+1555123", "+4412"] {
        for channel in [VerificationChannel::Sms, VerificationChannel::Call, VerificationChannel::Whatsapp] {
            let message = assert_error(server.try_send(&service.sid, to, channel).await, 400, 60200);
            assert!(message.starts_with("Invalid parameter: To"), "{to} by {channel:?}: {message}");
        }
        assert_eq!(server.newest_verification(&service.sid, to).await, None, "nothing kept for {to}");
    }
    assert!(server.outbox("+999123456789").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn fictional_numbers_are_accepted_and_attempts_keep_the_country() {
    let server = TestServer::start().await;
    let service = server.service().await;
    for (to, country) in [
        ("+15555550100", "US"),
        ("+15017122661", "US"),
        ("+16135550123", "CA"),
        ("+33612345678", "FR"),
        ("+447400123456", "GB"),
        ("+4915112345678", "DE"),
    ] {
        let v = server.try_send(&service.sid, to, VerificationChannel::Sms).await.expect("a start");
        assert_eq!(v.status, Some(VerificationStatus::Pending.into()), "{to}");
        let attempt = server.attempt(&attempt_sid(&v, 0)).await;
        assert_eq!(attempt.country.as_deref(), Some(country), "{to}");
        assert_eq!((attempt.provider.as_str(), attempt.to.as_str()), ("outbox", to));
    }
    // Written with spaces, a number is normalized before its country is read.
    let v = server.try_send(&service.sid, " +33 6 12 34 56 79 ", VerificationChannel::Call).await.expect("a start");
    assert_eq!(v.to.as_deref(), Some("+33612345679"));
    assert_eq!(server.attempt(&attempt_sid(&v, 0)).await.country.as_deref(), Some("FR"));
    server.stop().await;
}
