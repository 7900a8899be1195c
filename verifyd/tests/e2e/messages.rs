//! The messages a verification sends, as the development outbox records them: recipient,
//! channel, locale and text.

use crate::common::*;
use verifyd_models::*;

/// The one message to `to`.
async fn only_message(server: &TestServer, to: &str) -> serde_json::Value {
    let messages = server.outbox(to).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    messages.into_iter().next().unwrap()
}

#[tokio::test]
async fn the_outbox_records_recipient_channel_locale_and_text() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server
        .client
        .create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Sms))
        .await
        .unwrap();
    let message = only_message(&server, "+15017122661").await;
    let code = message["code"].as_str().unwrap();
    assert_eq!(message["to"], "+15017122661");
    assert_eq!(message["channel"], "sms");
    assert_eq!(message["locale"], "en");
    assert_eq!(message["service_sid"], service.sid.as_str());
    assert_eq!(message["verification_sid"], v.sid.as_str());
    assert_eq!(message["body"], format!("Your Acme verification code is: {code}."));
    assert_eq!(message["sid"].as_str().map(|s| s.len()), Some(34));

    // A call reads the code digit by digit.
    let service = server.client.create_service(&service_with("Acme", |s| s.code_length = Some(4))).await.unwrap();
    server.client.create_verification(&start(&service.sid, "+15017122662", VerificationChannel::Call)).await.unwrap();
    let message = only_message(&server, "+15017122662").await;
    assert_eq!(message["channel"], "call");
    let spoken: Vec<String> = message["code"].as_str().unwrap().chars().map(String::from).collect();
    assert_eq!(message["body"], format!("Your Acme verification code is: {}.", spoken.join(", ")));
    server.stop().await;
}

#[tokio::test]
async fn the_locale_chooses_the_language() {
    let server = TestServer::start().await;
    let service = server.service().await;
    // `CODE` stands for the code.
    let cases = [
        (Some("es"), "+15017122661", "es", "Tu código de verificación de Acme es: CODE."),
        (Some("fr"), "+15017122662", "fr", "Votre code de vérification Acme est : CODE."),
        (Some("de"), "+15017122663", "de", "Ihr Acme-Bestätigungscode lautet: CODE."),
        (Some("pt"), "+15017122664", "pt", "O seu código de verificação Acme é: CODE."),
        (Some("es-MX"), "+15017122665", "es", "Tu código de verificación de Acme es: CODE."),
        (Some("xx"), "+15017122666", "en", "Your Acme verification code is: CODE."),
        (Some("ja"), "+15017122667", "ja", "Acmeの認証コードは CODE です。"),
        (Some("pt_br"), "+15017122668", "pt-BR", "Seu código de verificação Acme é: CODE."),
        (Some("zh"), "+15017122669", "zh-CN", "您的Acme验证码是：CODE。"),
        (Some("it"), "+15017122670", "it", "Il tuo codice di verifica Acme è: CODE."),
        (Some("nl"), "+15017122671", "nl", "Je Acme-verificatiecode is: CODE."),
        // Without a Locale, the number's country chooses.
        (None, "+33612345678", "fr", "Votre code de vérification Acme est : CODE."),
        (None, "+5511912345678", "pt-BR", "Seu código de verificação Acme é: CODE."),
        (None, "+447700900123", "en", "Your Acme verification code is: CODE."),
        // A Locale wins over the country.
        (Some("de"), "+34612345678", "de", "Ihr Acme-Bestätigungscode lautet: CODE."),
    ];
    for (locale, to, expected_locale, expected) in cases {
        let mut request = start(&service.sid, to, VerificationChannel::Sms);
        request.locale = locale.map(str::to_owned);
        server.client.create_verification(&request).await.unwrap();
        let message = only_message(&server, to).await;
        let code = message["code"].as_str().unwrap();
        assert_eq!(message["locale"], expected_locale, "{locale:?} {to}");
        assert_eq!(message["body"], expected.replace("CODE", code), "{locale:?} {to}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_custom_friendly_name_replaces_the_service_name() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let mut request = start(&service.sid, "+15017122661", VerificationChannel::Sms);
    request.custom_friendly_name = Some("Shop Deluxe".into());
    server.client.create_verification(&request).await.unwrap();
    let message = only_message(&server, "+15017122661").await;
    let body = message["body"].as_str().unwrap();
    assert_eq!(body, format!("Your Shop Deluxe verification code is: {}.", message["code"].as_str().unwrap()));
    assert!(!body.contains("Acme"), "{body}");

    // In another language too.
    request.to = "+15017122662".into();
    request.locale = Some("de".into());
    server.client.create_verification(&request).await.unwrap();
    let body = only_message(&server, "+15017122662").await["body"].as_str().unwrap().to_owned();
    assert!(body.starts_with("Ihr Shop Deluxe-Bestätigungscode"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_do_not_share_warning_is_added_when_enabled() {
    let server = TestServer::start().await;
    let plain = server.service().await;
    let warned = server
        .client
        .create_service(&service_with("Acme", |s| s.do_not_share_warning_enabled = Some(true)))
        .await
        .unwrap();
    assert_eq!(warned.do_not_share_warning_enabled, Some(true));

    server.client.create_verification(&start(&plain.sid, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    let body = only_message(&server, "+15017122661").await["body"].as_str().unwrap().to_owned();
    assert!(!body.contains("share"), "{body}");

    server.client.create_verification(&start(&warned.sid, "+15017122662", VerificationChannel::Sms)).await.unwrap();
    let message = only_message(&server, "+15017122662").await;
    let code = message["code"].as_str().unwrap();
    assert_eq!(
        message["body"],
        format!(
            "Your Acme verification code is: {code}. \
             Don't share this code with anyone; our employees will never ask for the code."
        )
    );

    let mut spanish = start(&warned.sid, "+15017122663", VerificationChannel::Sms);
    spanish.locale = Some("es".into());
    server.client.create_verification(&spanish).await.unwrap();
    let body = only_message(&server, "+15017122663").await["body"].as_str().unwrap().to_owned();
    assert!(body.ends_with("No compartas este código con nadie; nuestros empleados nunca te lo pedirán."), "{body}");

    // Turning the warning on later applies to the next message.
    let mut update = update_service(&plain.sid);
    update.do_not_share_warning_enabled = Some(true);
    server.client.update_service(&update).await.unwrap();
    server.client.create_verification(&start(&plain.sid, "+15017122664", VerificationChannel::Sms)).await.unwrap();
    let body = only_message(&server, "+15017122664").await["body"].as_str().unwrap().to_owned();
    assert!(body.contains("Don't share this code"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn an_email_goes_to_the_email_address() {
    let server = TestServer::start().await;
    let service = server.service().await;
    let v = server
        .client
        .create_verification(&start(&service.sid, "Jane.Doe@Example.com", VerificationChannel::Email))
        .await
        .unwrap();
    let message = only_message(&server, "jane.doe@example.com").await;
    assert_eq!(message["to"], "jane.doe@example.com");
    assert_eq!(message["channel"], "email");
    assert_eq!(message["verification_sid"], v.sid.as_str());
    let code = message["code"].as_str().unwrap();
    assert_eq!(
        message["body"],
        format!(
            "Your Acme verification code is: {code}.\n\n\
             This code expires in 10 minutes. If you did not ask for it, you can ignore this email."
        )
    );
    let checked =
        server.client.create_verification_check(&check_to(&service.sid, "jane.doe@example.com", code)).await.unwrap();
    assert_eq!(checked.status, Some(VerificationStatus::Approved.into()));

    // An email address over a phone channel, or a phone number over email, is refused.
    let message = assert_error(
        server.client.create_verification(&start(&service.sid, "jane@example.com", VerificationChannel::Sms)).await,
        400,
        60200,
    );
    assert_eq!(message, "Invalid parameter: To");
    let message = assert_error(
        server.client.create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Email)).await,
        400,
        60200,
    );
    assert_eq!(message, "Invalid parameter: To");
    server.stop().await;
}

#[tokio::test]
async fn the_outbox_shows_only_the_callers_messages() {
    let server = TestServer::start().await;
    let service = server.service().await;
    server.client.create_verification(&start(&service.sid, "+15017122661", VerificationChannel::Sms)).await.unwrap();
    let other = server.core.create_account("b").await.unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}/dev/outbox", server.root))
        .basic_auth(other.sid.as_str(), Some(&other.secret))
        .send()
        .await
        .unwrap();
    let (status, body) = read_json(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["messages"], serde_json::json!([]));

    let response = reqwest::Client::new().get(format!("{}/dev/outbox", server.root)).send().await.unwrap();
    assert_wire_error(&read_json(response).await, 401, 20003);
    server.stop().await;
}
