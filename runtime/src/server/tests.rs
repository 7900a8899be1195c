//! A JSON operation through the router's handler: a hand-written `WireRequest` as the generator
//! writes one for an `application/json` body, served by [`serve`] from the HTTP request on.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use serde_json::{Value, json};

use super::{
    Authenticate, Caller, Credentials, Endpoint, Grant, Refusal, Reply, RouterOptions, Served, WireError, serve,
};
use crate::form::FormPairs;
use crate::json::{self, JsonBody, JsonWriter};
use crate::{Body, BodyKind, DecodeError, Rejection, Rules, Sid, TwilioError, WireRequest};

const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";
const FACTOR: &str = "YF0123456789abcdef0123456789abcdef";
const OTHER_FACTOR: &str = "YFffffffffffffffffffffffffffffffff";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Account,
    Device,
    /// Listed for no operation here.
    Enrolment,
}

struct Principal(Role);

impl Caller for Principal {
    type Role = Role;
    fn role(&self) -> Role {
        self.0
    }
    fn claim(&self, key: &str) -> Option<&str> {
        (self.0 == Role::Device && key == "FactorSid").then_some(FACTOR)
    }
}

struct Refused;

impl WireError for Refused {
    fn to_wire(&self) -> TwilioError {
        TwilioError::unauthenticated()
    }
}

struct Api;

impl Authenticate for Api {
    type Principal = Principal;
    type Role = Role;
    type Error = Refused;

    async fn authenticate(&self, credentials: Credentials) -> Result<Principal, Refused> {
        match credentials.username.as_str() {
            "AC1" => Ok(Principal(Role::Account)),
            "token" => Ok(Principal(Role::Device)),
            "enrolment" => Ok(Principal(Role::Enrolment)),
            _ => Err(Refused),
        }
    }
}

/// `POST /Services/{ServiceSid}/Passkeys/Approve` with a JSON body.
#[derive(Debug, Clone, PartialEq)]
struct ApproveRequest {
    service_sid: Sid,
    factor_sid: Sid,
    attempts: Option<i64>,
    transports: Option<Vec<String>>,
}

const ATTEMPTS: Rules = Rules { minimum: Some(1), maximum: Some(5), ..Rules::NONE };
const TRANSPORTS: Rules = Rules { max_items: Some(2), max_length: Some(8), ..Rules::NONE };

impl WireRequest for ApproveRequest {
    const OPERATION_ID: &'static str = "approve";
    const METHOD: &'static str = "POST";
    const PATH_TEMPLATE: &'static str = "/Services/{ServiceSid}/Passkeys/Approve";
    const SUCCESS_STATUS: u16 = 200;
    const BODY: BodyKind = BodyKind::Json;
    type Response = Value;

    fn path_params(&self) -> Vec<String> {
        vec![self.service_sid.to_string()]
    }
    fn query(&self) -> FormPairs {
        FormPairs::default()
    }
    fn body(&self) -> Body {
        let mut w = JsonWriter::new();
        w.one("FactorSid", &self.factor_sid);
        w.optional("Attempts", self.attempts.as_ref());
        if let Some(values) = &self.transports {
            w.many("Transports", values);
        }
        Body::Json(w.finish())
    }
    fn decode(path: &[&str], _: &FormPairs, body: &Body) -> Result<Self, DecodeError> {
        let &[service_sid] = path else {
            return Err(DecodeError::new(Self::PATH_TEMPLATE, 20404, Rejection::NotFound));
        };
        let body = body.as_json()?;
        let sid = |prefix| Rules { sid_prefix: Some(prefix), ..Rules::NONE };
        Ok(Self {
            service_sid: crate::form::path(service_sid, "ServiceSid", 60200, &sid("VA"))?,
            factor_sid: json::required(body, "FactorSid", 60311, &sid("YF"))?,
            attempts: json::optional(body, "Attempts", 60200, &ATTEMPTS)?,
            transports: json::optional_many(body, "Transports", 60200, &TRANSPORTS)?,
        })
    }
}

struct Approve;

impl Endpoint<Api> for Approve {
    type Request = ApproveRequest;
    const ACCESS: &'static [Grant<Role>] = &[
        Grant { role: Role::Account, bound: &[], outside: Refusal::Unauthenticated },
        Grant { role: Role::Device, bound: &["FactorSid"], outside: Refusal::NotFound },
    ];

    fn call<'a>(
        _: &'a Api,
        _: &'a Principal,
        request: ApproveRequest,
    ) -> impl Future<Output = Result<Reply<Value>, Refused>> + Send + 'a {
        // The answer echoes what was decoded.
        std::future::ready(Ok(Reply::new(json!({
            "factor_sid": request.factor_sid.to_string(),
            "attempts": request.attempts,
            "transports": request.transports,
        }))))
    }
}

/// `(status, JSON body)` of a POST with these credentials, content type and body.
async fn post(user: &str, content_type: Option<&str>, body: &str) -> (u16, Value) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:secret"));
    let mut request = Request::builder()
        .method("POST")
        .uri(format!("/v2/Services/{SERVICE}/Passkeys/Approve"))
        .header(header::AUTHORIZATION, format!("Basic {basic}"));
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request.body(axum::body::Body::from(body.to_owned())).unwrap();
    let served = Served::new(Arc::new(Api), RouterOptions { body_limit: 256 }, "/v2");
    let response = serve::<Api, Approve>(State(served), request).await;
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn post_json(user: &str, body: &str) -> (u16, Value) {
    post(user, Some("application/json"), body).await
}

/// `(status, code, message)` of an error answer.
fn error(answer: &(u16, Value)) -> (u16, i64, &str) {
    (answer.0, answer.1["code"].as_i64().unwrap_or_default(), answer.1["message"].as_str().unwrap_or_default())
}

#[tokio::test]
async fn a_json_body_is_decoded_with_null_as_absent_and_unknown_keys_ignored() {
    let body = json!({"FactorSid": FACTOR, "Attempts": null, "Transports": ["usb", "nfc"], "Unknown": {"a": 1}});
    let (status, echo) = post_json("AC1", &body.to_string()).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo, json!({"factor_sid": FACTOR, "attempts": null, "transports": ["usb", "nfc"]}));
}

#[tokio::test]
async fn what_the_client_writes_the_router_reads() {
    let request = ApproveRequest {
        service_sid: Sid::parse(SERVICE).unwrap(),
        factor_sid: Sid::parse(FACTOR).unwrap(),
        attempts: Some(3),
        transports: Some(vec!["usb".into()]),
    };
    let text = request.body().to_text();
    assert_eq!(text, format!(r#"{{"FactorSid":"{FACTOR}","Attempts":3,"Transports":["usb"]}}"#));
    let (status, echo) = post_json("AC1", &text).await;
    assert_eq!((status, echo["attempts"].as_i64()), (200, Some(3)));
    let decoded = ApproveRequest::decode(&[SERVICE], &FormPairs::default(), &request.body()).unwrap();
    assert_eq!(decoded, request);
}

#[tokio::test]
async fn values_the_spec_rejects_get_the_forms_errors() {
    let missing = post_json("AC1", r#"{"FactorSid":null}"#).await;
    assert_eq!(error(&missing), (400, 60311, "Missing required parameter FactorSid in the request"));
    assert_eq!(error(&post_json("AC1", "").await), (400, 60311, "Missing required parameter FactorSid in the request"));
    let cases = [
        (json!({"FactorSid": 1}), 60311, "Invalid parameter: FactorSid"),
        (json!({"FactorSid": SERVICE}), 60311, "Invalid parameter: FactorSid"),
        (json!({"FactorSid": FACTOR, "Attempts": 6}), 60200, "Invalid parameter: Attempts"),
        (json!({"FactorSid": FACTOR, "Attempts": "3"}), 60200, "Invalid parameter: Attempts"),
        (json!({"FactorSid": FACTOR, "Transports": ["a", "b", "c"]}), 60200, "Invalid parameter: Transports"),
        (json!({"FactorSid": FACTOR, "Transports": ["hybrid-usb"]}), 60200, "Invalid parameter: Transports"),
        (json!({"FactorSid": FACTOR, "Transports": "usb"}), 60200, "Invalid parameter: Transports"),
    ];
    for (body, code, message) in cases {
        assert_eq!(error(&post_json("AC1", &body.to_string()).await), (400, code, message), "{body}");
    }
    let twice = format!(r#"{{"FactorSid":"{FACTOR}","FactorSid":"{FACTOR}"}}"#);
    assert_eq!(
        error(&post_json("AC1", &twice).await),
        (400, 60311, "Invalid parameter: FactorSid (sent more than once)")
    );
}

#[tokio::test]
async fn the_body_must_be_one_json_object_of_the_right_type_and_size() {
    let body = json!({"FactorSid": FACTOR}).to_string();
    let form = post("AC1", Some("application/x-www-form-urlencoded"), &format!("FactorSid={FACTOR}")).await;
    assert_eq!(error(&form), (415, 20415, "Request bodies must be application/json"));
    assert_eq!(error(&post("AC1", None, &body).await), (415, 20415, "Request bodies must be application/json"));
    assert_eq!(post("AC1", Some("application/json; charset=utf-8"), &body).await.0, 200);
    for bad in ["{", "[]", "null", r#"{"FactorSid":"YF"} trailing"#] {
        assert_eq!(error(&post_json("AC1", bad).await), (400, 20001, "The request body must be one JSON object"));
    }
    let large = json!({"FactorSid": FACTOR, "Unknown": "x".repeat(256)}).to_string();
    assert_eq!(error(&post_json("AC1", &large).await).0, 413);
}

#[tokio::test]
async fn a_bound_key_in_a_json_body_must_be_the_principals_claim() {
    assert_eq!(post_json("token", &json!({"FactorSid": FACTOR}).to_string()).await.0, 200);
    for other in [json!(OTHER_FACTOR), json!([FACTOR]), json!({"sid": FACTOR})] {
        let answer = post_json("token", &json!({"FactorSid": other}).to_string()).await;
        assert_eq!(error(&answer).0, 404, "{other}");
    }
    // The account is not bound: another factor reaches decoding.
    assert_eq!(post_json("AC1", &json!({"FactorSid": OTHER_FACTOR}).to_string()).await.0, 200);
    let unauthenticated = post_json("nobody", &json!({"FactorSid": FACTOR}).to_string()).await;
    assert_eq!(error(&unauthenticated).0, 401);
}

#[tokio::test]
async fn a_caller_the_operation_does_not_list_is_refused_before_its_body_is_read() {
    // Whatever the body: neither its media type, its form nor its size is told to a caller
    // that may not call the operation at all.
    let form = post("enrolment", Some("application/x-www-form-urlencoded"), "FactorSid=x").await;
    assert_eq!(error(&form).0, 401);
    assert_eq!(error(&form).1, 20003);
    assert_eq!(error(&post_json("enrolment", "{").await).0, 401);
    assert_eq!(error(&post_json("enrolment", &"x".repeat(1000)).await).0, 401);
}

#[test]
fn a_form_is_refused_where_json_is_taken() {
    let err = ApproveRequest::decode(&[SERVICE], &FormPairs::default(), &Body::Form(FormPairs::default()));
    assert_eq!(err.map_err(|e| (e.status(), e.code)), Err((415, 20415)));
    let members = JsonBody::from_members([("FactorSid", json!(FACTOR))]);
    assert!(ApproveRequest::decode(&[SERVICE], &FormPairs::default(), &Body::Json(members)).is_ok());
}
