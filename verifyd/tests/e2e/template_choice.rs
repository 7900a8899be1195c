//! Which template a verification's message is written with: `TemplateSid`, else the service's
//! `DefaultTemplateSid`, else the bundled one; its placeholders filled from
//! `TemplateCustomSubstitutions`; and the refusals that send nothing.

use verifyd_core::domain::template::operator_sid;
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::*;

const PHONE: &str = "+15017122661";

/// An operator's directory with a login template (custom `{{name}}`, SMS and e-mail) and a
/// call-only one.
fn operator_templates() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let login = r#"
friendly_name = "Acme login"
channels = ["sms", "email"]
[translations.en]
text = "Hi {{name}}, {{code}} signs you in to {{friendly_name}} for {{ttl}} minutes."
subject = "Your {{friendly_name}} code"
[translations.fr]
text = "Bonjour {{name}}, {{code}} est votre code."
subject = "Votre code"
"#;
    std::fs::write(dir.path().join("login.toml"), login).unwrap();
    let voice =
        "friendly_name = \"Voice only\"\nchannels = [\"call\"]\n[translations.en]\ntext = \"Your code: {{code}}\"\n";
    std::fs::write(dir.path().join("voice.toml"), voice).unwrap();
    dir
}

async fn server(dir: &tempfile::TempDir) -> TestServer {
    TestServer::start_with(&[("VERIFYD_TEMPLATES_DIR", dir.path().to_str().unwrap())]).await
}

fn substitutions(pairs: &[(&str, serde_json::Value)]) -> serde_json::Map<String, serde_json::Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

fn login() -> Sid {
    operator_sid("login")
}

#[tokio::test]
async fn template_sid_chooses_the_template_and_substitutions_fill_it() {
    let dir = operator_templates();
    let server = server(&dir).await;
    let service = server.service().await;
    let mut request = start(&service.sid, PHONE, VerificationChannel::Sms);
    request.template_sid = Some(login());
    request.template_custom_substitutions = Some(substitutions(&[("name", serde_json::json!("Jane"))]));
    server.client.create_verification(&request).await.expect("a start with the operator's template");
    let message = &server.outbox(PHONE).await[0];
    let code = message["code"].as_str().unwrap();
    assert_eq!(
        message["body"].as_str().unwrap(),
        format!("Hi Jane, {code} signs you in to Acme for 10 minutes."),
        "{message}"
    );

    // A value that is not a string is written as its JSON text; the locale picks the
    // translation.
    let other = "+33612345678";
    let mut request = start(&service.sid, other, VerificationChannel::Sms);
    request.template_sid = Some(login());
    request.template_custom_substitutions = Some(substitutions(&[("name", serde_json::json!(42))]));
    server.client.create_verification(&request).await.expect("a start");
    let message = &server.outbox(other).await[0];
    let code = message["code"].as_str().unwrap();
    assert_eq!(message["body"].as_str().unwrap(), format!("Bonjour 42, {code} est votre code."), "{message}");
    assert_eq!(message["locale"], "fr", "the number's country chose the language");
    server.stop().await;
}

#[tokio::test]
async fn the_services_default_template_is_used_when_a_verification_names_none() {
    let dir = operator_templates();
    let server = server(&dir).await;
    let service = server
        .client
        .create_service(&service_with("Acme", |s| s.default_template_sid = Some(login())))
        .await
        .expect("a service with a default template");
    assert_eq!(service.default_template_sid.as_ref(), Some(&login()));
    let mut request = start(&service.sid, PHONE, VerificationChannel::Sms);
    request.template_custom_substitutions = Some(substitutions(&[("name", serde_json::json!("Ann"))]));
    server.client.create_verification(&request).await.expect("a start");
    assert!(server.outbox(PHONE).await[0]["body"].as_str().unwrap().starts_with("Hi Ann, "));

    // A channel the default template does not carry falls back to the bundled template.
    let voice = "+14155552671";
    server.client.create_verification(&start(&service.sid, voice, VerificationChannel::Call)).await.expect("a call");
    let body = server.outbox(voice).await[0]["body"].as_str().unwrap().to_owned();
    assert!(body.contains("Acme") && !body.contains("Hi "), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn unknown_or_unfit_templates_and_missing_substitutions_are_refused_and_send_nothing() {
    let dir = operator_templates();
    let server = server(&dir).await;
    let service = server.service().await;

    let mut unknown = start(&service.sid, PHONE, VerificationChannel::Sms);
    unknown.template_sid = Some(operator_sid("no-such-file"));
    let message = assert_error(server.client.create_verification(&unknown).await, 400, 60200);
    assert_eq!(message, "Invalid parameter: TemplateSid");

    // The call-only template cannot write an SMS.
    let mut unfit = start(&service.sid, PHONE, VerificationChannel::Sms);
    unfit.template_sid = Some(operator_sid("voice"));
    let message = assert_error(server.client.create_verification(&unfit).await, 400, 60200);
    assert_eq!(message, "Invalid parameter: TemplateSid");

    let mut missing = start(&service.sid, PHONE, VerificationChannel::Sms);
    missing.template_sid = Some(login());
    missing.template_custom_substitutions = Some(substitutions(&[("nom", serde_json::json!("Jane"))]));
    let message = assert_error(server.client.create_verification(&missing).await, 400, 60200);
    assert_eq!(message, "Invalid parameter: TemplateCustomSubstitutions");

    assert!(server.outbox(PHONE).await.is_empty(), "nothing was sent");
    assert!(server.newest_verification(&service.sid, PHONE).await.is_none(), "nothing was saved");
    server.stop().await;
}

#[tokio::test]
async fn a_default_template_sid_must_name_a_listed_template() {
    let dir = operator_templates();
    let server = server(&dir).await;
    let message = assert_error(
        server
            .client
            .create_service(&service_with("Acme", |s| s.default_template_sid = Some(operator_sid("no-such-file"))))
            .await,
        400,
        60200,
    );
    assert_eq!(message, "Invalid parameter: DefaultTemplateSid");
    let service = server.service().await;
    let mut update = update_service(&service.sid);
    update.default_template_sid = Some(operator_sid("gone"));
    let message = assert_error(server.client.update_service(&update).await, 400, 60200);
    assert_eq!(message, "Invalid parameter: DefaultTemplateSid");
    update.default_template_sid = Some(login());
    let updated = server.client.update_service(&update).await.expect("a listed template");
    assert_eq!(updated.default_template_sid.as_ref(), Some(&login()));
    server.stop().await;
}
