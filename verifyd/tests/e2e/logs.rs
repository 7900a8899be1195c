//! The request log, read from a running binary's standard error: with
//! `VERIFYD_LOG_FORMAT=json` one JSON object a line; a request ID (the client's
//! `X-Request-Id` when it is one we may echo, else a new one) in the answer, in the request's
//! line and in every line logged while it is served; the operation each line names.

use serde_json::Value;
use verifyd_authenticator::{Algorithm, Authenticator};

use crate::common::{ACCOUNT, TOKEN};
use crate::instances::Instance;

async fn launch(dir: &tempfile::TempDir, format: &str) -> Instance {
    let database = format!("sqlite:{}", dir.path().join("verifyd.db").display());
    Instance::launch(&database, &[("VERIFYD_LOG", "info"), ("VERIFYD_LOG_FORMAT", format)]).await
}

/// POSTs a form as the account, with `X-Request-Id: id` when given; the answer's status and
/// request ID.
async fn post(server: &Instance, path: &str, form: &[(&str, &str)], id: Option<&str>) -> (u16, String) {
    let mut request = form_post(server, path, form);
    if let Some(id) = id {
        request = request.header("X-Request-Id", id);
    }
    let answer = request.send().await.expect("an answer");
    let echoed = answer.headers().get("x-request-id").and_then(|v| v.to_str().ok()).expect("an X-Request-Id");
    (answer.status().as_u16(), echoed.to_owned())
}

fn form_post(server: &Instance, path: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    server
        .http
        .post(format!("{}{path}", server.root))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

fn json_post(server: &Instance, path: &str, body: &Value) -> reqwest::RequestBuilder {
    server
        .http
        .post(format!("{}{path}", server.root))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .header("content-type", "application/json")
        .body(body.to_string())
}

async fn json_of(request: reqwest::RequestBuilder) -> Value {
    let bytes = request.send().await.expect("an answer").bytes().await.expect("a body");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The log's lines, each parsed as one JSON object.
fn json_lines(server: &Instance) -> Vec<Value> {
    let text = server.log_text();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
        .collect()
}

/// The request ID a JSON line was logged under (its request span's field).
fn request_id_of(line: &Value) -> Option<&str> {
    line["spans"].as_array()?.iter().find_map(|span| span["request_id"].as_str())
}

fn is_made_id(id: &str) -> bool {
    id.len() == 34 && id.starts_with("RQ") && id[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn json_lines_carry_the_request_id_the_answer_echoes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = launch(&dir, "json").await;
    let (status, id) = post(&server, "/v2/Services", &[("FriendlyName", "Logs")], Some("client-7_a.b")).await;
    assert_eq!((status, id.as_str()), (201, "client-7_a.b"), "a client's usable ID is taken and echoed");
    let too_long = "x".repeat(129);
    for unusable in ["has space", "semi;colon", "quote\"d", too_long.as_str()] {
        let (_, id) = post(&server, "/v2/Services", &[("FriendlyName", "Logs")], Some(unusable)).await;
        assert!(is_made_id(&id), "{unusable:?} replaced by {id}");
    }
    let (status, made) = post(&server, "/v2/Services", &[], None).await;
    assert_eq!(status, 400);
    assert!(is_made_id(&made), "{made}");
    let unauthenticated = server.http.get(format!("{}/v2/Services", server.root)).send().await.expect("an answer");
    let refused_id = unauthenticated.headers()["x-request-id"].to_str().expect("text").to_owned();
    assert!(is_made_id(&refused_id));
    assert_ne!(refused_id, made, "every request its own ID");

    let lines = json_lines(&server);
    let request_line = |id: &str| {
        lines
            .iter()
            .find(|l| l["message"] == "request" && request_id_of(l) == Some(id))
            .unwrap_or_else(|| panic!("no request line for {id} in {lines:#?}"))
    };
    let created = request_line("client-7_a.b");
    assert_eq!(created["level"], "INFO");
    assert_eq!(created["operation"], "createService");
    assert_eq!(created["status"], 201);
    assert_eq!(created["method"], "POST");
    assert_eq!(created["path"], "/v2/Services");
    assert!(created["micros"].as_u64().is_some() && created["timestamp"].as_str().is_some(), "{created}");
    let invalid = request_line(&made);
    assert_eq!((invalid["operation"].as_str(), invalid["status"].as_u64()), (Some("createService"), Some(400)));
    // Refused before any operation ran: the router never reached one.
    assert_eq!(request_line(&refused_id)["status"], 401);
    assert!(!server.log_text().contains(TOKEN), "no credential in the log");
}

#[tokio::test]
async fn a_line_logged_while_a_request_is_served_names_its_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = launch(&dir, "json").await;
    let form = [("FriendlyName", "Logs"), ("Passkeys.RelyingParty.Id", "example.com")];
    let service = json_of(form_post(&server, "/v2/Services", &form)).await;
    let service = service["sid"].as_str().expect("a SID");
    let path = format!("/v2/Services/{service}/Passkeys/Factors");
    let factor =
        json_of(json_post(&server, &path, &serde_json::json!({"friendly_name": "Key", "identity": "logs-0001"})));
    let factor = factor.await;
    // A registration from another origin: refused, with a line logged inside the operation.
    let credential = Authenticator::new(Algorithm::Es256)
        .create(&factor["options"]["publicKey"], "https://evil.example")
        .expect("a credential");
    let answer = json_post(&server, &format!("/v2/Services/{service}/Passkeys/VerifyFactor"), &credential)
        .header("X-Request-Id", "refused-registration")
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 403);
    let lines = json_lines(&server);
    let inside = lines
        .iter()
        .find(|l| l["message"] == "passkey registration refused")
        .unwrap_or_else(|| panic!("no refusal line in {lines:#?}"));
    assert_eq!(request_id_of(inside), Some("refused-registration"), "{inside}");
}

#[tokio::test]
async fn text_lines_carry_the_request_id_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = launch(&dir, "text").await;
    let (_, id) = post(&server, "/v2/Services", &[("FriendlyName", "Logs")], Some("text-id-1")).await;
    assert_eq!(id, "text-id-1");
    let text = server.log_text();
    let line = text.lines().find(|l| l.contains("request_id=text-id-1")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("operation=\"createService\"") && line.contains("status=201"), "{line}");
    assert!(serde_json::from_str::<Value>(line).is_err(), "text, not JSON");
}
