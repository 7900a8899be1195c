//! SMS, WhatsApp and calls through Twilio's Messages and Calls APIs (a stand-in that checks the
//! Basic credentials): the form fields, the sender a service's messaging configuration names
//! per country, the inline TwiML of a call, Twilio's error JSON, and the settings refused at
//! start-up.

use std::collections::HashMap;

use verifyd_core::domain::sending::SendStatus;
use verifyd_models::*;
use verifyd_runtime::Sid;

use super::stand_in::{Answer, StandIn};
use super::{attempt_sid, pairs};
use crate::common::*;

const TWILIO_ACCOUNT: &str = "ACfedcba9876543210fedcba9876543210";
const TWILIO_TOKEN: &str = "twilio auth token";
const FROM: &str = "+15005550006";
const API_KEY: &str = "SK00112233445566778899aabbccddeeff";
const API_SECRET: &str = "twilio api secret";

fn twilio_env(stand_in: &StandIn, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("VERIFYD_SMS_PROVIDER", "twilio"),
        ("VERIFYD_CALL_PROVIDER", "twilio"),
        ("VERIFYD_WHATSAPP_PROVIDER", "twilio"),
        ("VERIFYD_TWILIO_ACCOUNT_SID", TWILIO_ACCOUNT),
        ("VERIFYD_TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("VERIFYD_TWILIO_FROM", FROM),
        ("VERIFYD_TWILIO_API_URL", &stand_in.url),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

async fn twilio() -> (StandIn, TestServer) {
    let stand_in = StandIn::twilio(TWILIO_ACCOUNT, TWILIO_TOKEN).await;
    let server = TestServer::start_with(&pairs(&twilio_env(&stand_in, &[]))).await;
    (stand_in, server)
}

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json")
}

fn mg(n: u8) -> Sid {
    Sid::from_parts("MG", [n; 16])
}

fn configure(service: &Sid, country: &str, messaging_service: &Sid) -> CreateMessagingConfigurationRequest {
    CreateMessagingConfigurationRequest {
        service_sid: service.clone(),
        country: country.to_owned(),
        messaging_service_sid: messaging_service.clone(),
    }
}

/// Sends an SMS to `to` and answers the request Twilio got for it.
async fn sms(server: &TestServer, stand_in: &StandIn, service: &Sid, to: &str) -> super::stand_in::Request {
    let before = stand_in.count();
    let v = server.try_send(service, to, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));
    assert_eq!(stand_in.count(), before + 1);
    let request = stand_in.last();
    assert_eq!(request.field("To"), Some(to));
    request
}

/// The sender fields of a Messages request: (`From`, `MessagingServiceSid`).
fn sender(request: &super::stand_in::Request) -> (Option<&str>, Option<&str>) {
    (request.field("From"), request.field("MessagingServiceSid"))
}

#[tokio::test]
async fn an_sms_goes_from_the_configured_number() {
    let (stand_in, server) = twilio().await;
    let service = server.service().await;
    let to = "+15017122661";
    let v = server.try_send(&service.sid, to, VerificationChannel::Sms).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));

    stand_in.assert_all_authentic();
    let request = stand_in.last();
    assert_eq!(request.path, messages_path());
    let code = server.code_for(to).await;
    let names: Vec<&str> = request.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["To", "From", "Body"]);
    assert_eq!((request.field("To"), request.field("From")), (Some(to), Some(FROM)));
    let body = request.field("Body").expect("a Body");
    assert!(body.contains(&code), "{body:?} does not carry {code}");

    let attempt = server.attempt(&attempt_sid(&v, 0)).await;
    assert_eq!((attempt.status, attempt.provider.as_str()), (SendStatus::Sent, "twilio"));
    assert_eq!(attempt.message_id, Some(format!("SM{:032x}", 1)));
    assert_eq!(attempt.country.as_deref(), Some("US"));
    server.stop().await;
}

#[tokio::test]
async fn the_messaging_configuration_for_the_numbers_country_names_the_sender() {
    let (stand_in, server) = twilio().await;
    let service = server.service().await.sid;

    // No configuration: the provider's own number.
    assert_eq!(sender(&sms(&server, &stand_in, &service, "+15017122661").await), (Some(FROM), None));

    // The number's own country.
    server.client.create_messaging_configuration(&configure(&service, "us", &mg(1))).await.unwrap();
    let mg1 = mg(1).to_string();
    assert_eq!(sender(&sms(&server, &stand_in, &service, "+15017122662").await), (None, Some(mg1.as_str())));
    // Another country, and no `all`: the provider's number.
    assert_eq!(sender(&sms(&server, &stand_in, &service, "+33612345678").await), (Some(FROM), None));

    // `all` for every country without one of its own.
    server.client.create_messaging_configuration(&configure(&service, "all", &mg(2))).await.unwrap();
    let mg2 = mg(2).to_string();
    assert_eq!(sender(&sms(&server, &stand_in, &service, "+33612345679").await), (None, Some(mg2.as_str())));
    assert_eq!(sender(&sms(&server, &stand_in, &service, "+447400123456").await), (None, Some(mg2.as_str())));
    assert_eq!(sender(&sms(&server, &stand_in, &service, "+15017122663").await), (None, Some(mg1.as_str())));

    // Updated, then deleted: the update applies, then `all` does.
    let update = UpdateMessagingConfigurationRequest {
        service_sid: service.clone(),
        country: "US".to_owned(),
        messaging_service_sid: mg(3),
    };
    server.client.update_messaging_configuration(&update).await.unwrap();
    let mg3 = mg(3).to_string();
    assert_eq!(sender(&sms(&server, &stand_in, &service, "+15017122664").await), (None, Some(mg3.as_str())));
    let delete = DeleteMessagingConfigurationRequest { service_sid: service.clone(), country: "US".to_owned() };
    server.client.delete_messaging_configuration(&delete).await.unwrap();
    assert_eq!(sender(&sms(&server, &stand_in, &service, "+15017122665").await), (None, Some(mg2.as_str())));

    // Another service's configurations are its own.
    let other = server.service().await.sid;
    assert_eq!(sender(&sms(&server, &stand_in, &other, "+15017122666").await), (Some(FROM), None));
    stand_in.assert_all_authentic();
    server.stop().await;
}

#[tokio::test]
async fn whatsapp_goes_with_whatsapp_prefixes() {
    let (stand_in, server) = twilio().await;
    let service = server.service().await;
    let to = "+15017122661";
    let v = server.try_send(&service.sid, to, VerificationChannel::Whatsapp).await.expect("a start");
    let request = stand_in.last();
    assert_eq!(request.path, messages_path());
    assert_eq!(request.field("To"), Some(format!("whatsapp:{to}").as_str()));
    assert_eq!(request.field("From"), Some(format!("whatsapp:{FROM}").as_str()));
    let code = server.code_for(to).await;
    assert!(request.field("Body").is_some_and(|b| b.contains(&code)), "{request:?}");
    let attempt = server.attempt(&attempt_sid(&v, 0)).await;
    assert_eq!((attempt.status, attempt.channel), (SendStatus::Sent, VerificationChannel::Whatsapp));
    server.stop().await;
}

/// The spec: a messaging configuration names the Messaging Service of the service's "SMS and
/// WhatsApp messages" (createMessagingConfiguration), and the delivery README says WhatsApp
/// goes "the same" as SMS.
#[tokio::test]
async fn whatsapp_follows_the_messaging_configuration_too() {
    let (stand_in, server) = twilio().await;
    let service = server.service().await.sid;
    server.client.create_messaging_configuration(&configure(&service, "US", &mg(4))).await.unwrap();
    server.try_send(&service, "+15017122661", VerificationChannel::Whatsapp).await.expect("a start");
    let request = stand_in.last();
    assert_eq!(request.field("To"), Some("whatsapp:+15017122661"));
    assert_eq!(sender(&request), (None, Some(mg(4).to_string().as_str())), "{:?}", request.fields);
    server.stop().await;
}

#[tokio::test]
async fn a_call_speaks_the_code_from_inline_twiml() {
    let (stand_in, server) = twilio().await;
    let service = server.service().await;
    let to = "+15017122661";
    let request = CreateVerificationRequest {
        send_digits: Some("ww12#".to_owned()),
        ..start(&service.sid, to, VerificationChannel::Call)
    };
    let v = server.client.create_verification(&request).await.expect("a start");
    assert_eq!(v.status, Some(VerificationStatus::Pending.into()));

    stand_in.assert_all_authentic();
    let call = stand_in.last();
    assert_eq!(call.path, format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Calls.json"));
    assert_eq!((call.field("To"), call.field("From")), (Some(to), Some(FROM)));
    assert_eq!(call.field("Url"), None, "no URL of verifyd's to fetch");
    let twiml = call.field("Twiml").expect("inline TwiML");
    let code = server.code_for(to).await;
    let spoken = code.chars().map(String::from).collect::<Vec<_>>().join(", ");
    assert!(twiml.contains(&spoken), "{twiml} does not speak {code}");
    assert!(twiml.contains("<Say"), "{twiml}");
    assert!(twiml.contains(r#"<Play digits="ww12#"/>"#), "{twiml}");

    let attempt = server.attempt(&attempt_sid(&v, 0)).await;
    assert_eq!(attempt.status, SendStatus::Sent);
    assert_eq!(attempt.message_id, Some(format!("CA{:032x}", 1)));
    server.stop().await;
}

#[tokio::test]
async fn twilios_error_fails_the_start_naming_it() {
    let (stand_in, server) = twilio().await;
    let service = server.service().await;
    let to = "+15017122661";
    let error = serde_json::json!({
        "code": 21211,
        "message": "The 'To' number +15017122661 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    });
    stand_in.then(Answer::Reply(400, error.to_string()));
    let message = assert_error(server.try_send(&service.sid, to, VerificationChannel::Sms).await, 503, 20503);
    let reason = "Twilio 21211: The 'To' number +15017122661 is not a valid phone number.";
    assert_eq!(message, format!("The sms message could not be delivered by twilio: {reason}"));
    assert_eq!(stand_in.count(), 1);

    let v = server.newest_verification(&service.sid, to).await.expect("kept");
    assert_eq!(server.stored_status(&service.sid, &v.sid).await, "failed");
    let attempts = server.attempts_of(&v.sid).await;
    assert_eq!((attempts[0].status, attempts[0].error.as_deref()), (SendStatus::Failed, Some(reason)));

    // A call refused the same way names its channel.
    stand_in.then(Answer::Reply(400, error.to_string()));
    let message = assert_error(server.try_send(&service.sid, to, VerificationChannel::Call).await, 503, 20503);
    assert_eq!(message, format!("The call message could not be delivered by twilio: {reason}"));
    server.stop().await;
}

#[tokio::test]
async fn an_api_key_authenticates_for_the_account() {
    let stand_in = StandIn::twilio(API_KEY, API_SECRET).await;
    let env = twilio_env(&stand_in, &[("VERIFYD_TWILIO_API_KEY", API_KEY), ("VERIFYD_TWILIO_API_SECRET", API_SECRET)]);
    let env: Vec<_> = env.into_iter().filter(|(k, _)| k != "VERIFYD_TWILIO_AUTH_TOKEN").collect();
    let server = TestServer::start_with(&pairs(&env)).await;
    let service = server.service().await;
    let v = server.try_send(&service.sid, "+15017122661", VerificationChannel::Sms).await.expect("a start");
    stand_in.assert_all_authentic();
    assert_eq!(stand_in.last().path, messages_path(), "the account's resources, with the key's credentials");
    assert_eq!(server.attempt(&attempt_sid(&v, 0)).await.status, SendStatus::Sent);
    server.stop().await;
}

#[tokio::test]
async fn a_messaging_service_sender_sends_sms_but_cannot_place_calls() {
    let stand_in = StandIn::twilio(TWILIO_ACCOUNT, TWILIO_TOKEN).await;
    let from = mg(7).to_string();

    // Refused at start-up when Twilio carries calls.
    let env = twilio_env(&stand_in, &[("VERIFYD_TWILIO_FROM", &from)]);
    let vars: HashMap<String, String> = env.iter().cloned().collect();
    let error = verifyd::config::Config::load(None, &|name| vars.get(name).cloned()).expect_err("refused");
    let message = error.to_string();
    assert!(message.starts_with("VERIFYD_TWILIO_FROM: "), "{message}");
    assert!(message.contains("cannot place calls"), "{message}");

    // Fine for SMS alone: the Messaging Service sends them.
    let env: Vec<_> = env.into_iter().filter(|(k, _)| k != "VERIFYD_CALL_PROVIDER").collect();
    let server = TestServer::start_with(&pairs(&env)).await;
    let service = server.service().await;
    let request = sms(&server, &stand_in, &service.sid, "+15017122661").await;
    assert_eq!(sender(&request), (None, Some(from.as_str())));
    // A messaging configuration still wins over it.
    server.client.create_messaging_configuration(&configure(&service.sid, "all", &mg(8))).await.unwrap();
    let request = sms(&server, &stand_in, &service.sid, "+15017122662").await;
    assert_eq!(sender(&request), (None, Some(mg(8).to_string().as_str())));
    server.stop().await;
}
