//! `GET /v2/Templates`: the bundled template, the operator's from `VERIFYD_TEMPLATES_DIR`
//! (SIDs from their file names), the `FriendlyName` filter, pages, and a bad file stopping
//! the start.

use futures_util::TryStreamExt as _;

use crate::common::*;
use verifyd_core::domain::template::{BUNDLED_SID, operator_sid};
use verifyd_models::*;

fn list(friendly_name: Option<&str>, page_size: Option<i64>) -> ListVerificationTemplateRequest {
    ListVerificationTemplateRequest {
        friendly_name: friendly_name.map(str::to_owned),
        page_size,
        page: None,
        page_token: None,
    }
}

/// A directory holding `count` templates, `t0.toml` … (friendly names `Shop 0` …), and an
/// e-mail one, `login.toml`.
fn templates_dir(count: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..count {
        let text = format!(
            "friendly_name = \"Shop {i}\"\nchannels = [\"sms\"]\n[translations.en]\ntext = \"{{{{code}}}} is your code\"\n"
        );
        std::fs::write(dir.path().join(format!("t{i}.toml")), text).unwrap();
    }
    let login = r#"
friendly_name = "Acme login"
channels = ["sms", "email"]
default_locale = "de"
[translations.de]
text = "{{code}} ist Ihr Anmeldecode."
subject = "Anmeldung"
[translations.en]
text = "{{code}} is your login code."
subject = "Login"
"#;
    std::fs::write(dir.path().join("login.toml"), login).unwrap();
    dir
}

#[tokio::test]
async fn the_bundled_template_is_listed_as_twilio_shows_templates() {
    let server = TestServer::start().await;
    let listed = server.client.list_verification_template(&list(None, None)).await.unwrap();
    assert_eq!(listed.templates.len(), 1);
    let t = &listed.templates[0];
    assert_eq!(t.sid.as_str(), BUNDLED_SID);
    assert_eq!(t.account_sid, server.account);
    assert_eq!(t.friendly_name.as_deref(), Some("Verify default"));
    assert_eq!(t.channels.as_deref(), Some(&["sms", "call", "email", "whatsapp"].map(String::from)[..]));
    let translations = t.translations.as_ref().unwrap();
    let locales: Vec<&str> = translations.keys().map(String::as_str).collect();
    assert_eq!(locales, ["de", "en", "es", "fr", "it", "ja", "nl", "pt", "pt-BR", "zh-CN"]);
    let en = &translations["en"];
    assert_eq!(en["is_default_translation"], true);
    assert_eq!(en["status"], "approved");
    assert_eq!(en["locale"], "en");
    assert_eq!(en["text"], "Your {{friendly_name}} verification code is: {{code}}.");
    assert_eq!(en["date_created"], "2026-01-01T00:00:00Z");
    assert_eq!(en["date_updated"], "2026-01-01T00:00:00Z");
    assert_eq!(translations["fr"]["is_default_translation"], false);

    assert_eq!(listed.meta.key, "templates");
    let base = format!("{}/v2/Templates", server.root);
    assert_eq!(listed.meta.url.as_str(), format!("{base}?PageSize=50&Page=0"));
    assert_eq!((listed.meta.previous_page_url, listed.meta.next_page_url), (None, None));

    // The wire keys, as twilio-python reads them.
    let (status, body) = server.raw_get("/v2/Templates").await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body["templates"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["account_sid", "channels", "friendly_name", "sid", "translations"]);

    // A wrong token lists nothing.
    let stranger = server.client_as(ACCOUNT, "wrong-token");
    assert_error(stranger.list_verification_template(&list(None, None)).await, 401, 20003);
    server.stop().await;
}

#[tokio::test]
async fn the_operators_templates_follow_pages_and_the_filter() {
    let dir = templates_dir(4);
    let server = TestServer::start_with(&[("VERIFYD_TEMPLATES_DIR", dir.path().to_str().unwrap())]).await;

    // The bundled template first, then the operator's by SID; SIDs follow the file names.
    let mut operators: Vec<String> =
        ["t0", "t1", "t2", "t3", "login"].iter().map(|stem| operator_sid(stem).to_string()).collect();
    operators.sort();
    let mut expected = vec![BUNDLED_SID.to_owned()];
    expected.extend(operators);
    let all: Vec<VerificationTemplate> =
        server.client.list_verification_template_stream(&list(None, Some(2))).try_collect().await.unwrap();
    assert_eq!(all.iter().map(|t| t.sid.to_string()).collect::<Vec<_>>(), expected);

    // Page by page: 2, 2, 2, then back.
    let base = format!("{}/v2/Templates", server.root);
    let first = server.client.list_verification_template(&list(None, Some(2))).await.unwrap();
    assert_eq!(first.meta.first_page_url.as_str(), format!("{base}?PageSize=2&Page=0"));
    let mut pages = vec![first.templates.len()];
    let mut meta = first.meta;
    while let Some(next) = meta.next_page_url.clone() {
        let (status, body) = server.raw_get(next.as_str().strip_prefix(&server.root).unwrap()).await;
        assert_eq!(status, 200, "{body}");
        let page: ListVerificationTemplateResponse = serde_json::from_value(body).unwrap();
        assert_eq!(page.meta.page, meta.page + 1);
        pages.push(page.templates.len());
        meta = page.meta;
    }
    assert_eq!(pages, [2, 2, 2]);
    let previous = meta.previous_page_url.expect("the last page links back");
    let (status, body) = server.raw_get(previous.as_str().strip_prefix(&server.root).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let page: ListVerificationTemplateResponse = serde_json::from_value(body).unwrap();
    assert_eq!(page.templates.iter().map(|t| t.sid.to_string()).collect::<Vec<_>>(), expected[2..4]);

    // The filter: the friendly name contains it, letter case ignored; pages keep it.
    let shops = server.client.list_verification_template(&list(Some("shop"), Some(3))).await.unwrap();
    let names: Vec<_> = shops.templates.iter().map(|t| t.friendly_name.clone().unwrap()).collect();
    assert_eq!(names.len(), 3);
    assert!(names.iter().all(|n| n.starts_with("Shop ")), "{names:?}");
    let next = shops.meta.next_page_url.expect("a fourth shop");
    assert!(next.as_str().starts_with(&format!("{base}?FriendlyName=shop&PageSize=3&Page=1&PageToken=")), "{next}");
    let (_, body) = server.raw_get(next.as_str().strip_prefix(&server.root).unwrap()).await;
    let rest: ListVerificationTemplateResponse = serde_json::from_value(body).unwrap();
    assert_eq!(rest.templates.len(), 1);
    assert_eq!(rest.meta.next_page_url, None);

    let login = server.client.list_verification_template(&list(Some("ACME LOGIN"), None)).await.unwrap();
    assert_eq!(login.templates.len(), 1);
    let t = &login.templates[0];
    assert_eq!(t.sid, operator_sid("login"));
    assert_eq!(t.channels.as_deref(), Some(&["sms", "email"].map(String::from)[..]));
    let translations = t.translations.as_ref().unwrap();
    assert_eq!(translations["de"]["is_default_translation"], true);
    assert_eq!(translations["en"]["is_default_translation"], false);
    assert_eq!(translations["en"]["text"], "{{code}} is your login code.");
    let none = server.client.list_verification_template(&list(Some("nothing like it"), None)).await.unwrap();
    assert!(none.templates.is_empty());

    // A token the server did not issue.
    let mut bad = list(None, None);
    bad.page_token = Some("nope".into());
    let message = assert_error(server.client.list_verification_template(&bad).await, 400, 60200);
    assert_eq!(message, "Invalid parameter: PageToken");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_template_file_stops_the_start_naming_it() {
    let templates = templates_dir(1);
    std::fs::write(templates.path().join("broken.toml"), "friendly_name = \"x\"\nchannels = [\"fax\"]\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [("VERIFYD_TEMPLATES_DIR", templates.path().to_str().unwrap())];
    let Err((error, _)) = TestServer::try_start_in(dir, &env).await else { panic!("a bad template file started") };
    let message = error.to_string();
    assert!(message.starts_with("template file ") && message.contains("broken.toml: "), "{message}");
    assert!(message.contains("VERIFYD_TEMPLATES_DIR"), "{message}");

    let dir = tempfile::tempdir().unwrap();
    let missing = templates.path().join("nowhere");
    let env = [("VERIFYD_TEMPLATES_DIR", missing.to_str().unwrap())];
    let Err((error, _)) = TestServer::try_start_in(dir, &env).await else { panic!("a missing directory started") };
    assert!(error.to_string().starts_with("cannot read the templates directory "), "{error}");
}
