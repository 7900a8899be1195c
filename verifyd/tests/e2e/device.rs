//! A simulated Verify Push device: a real P-256 key, the factor binding and verification
//! signature the Android SDK sends, its device JWT (Basic `token:<JWT>`), and its signed
//! answers to challenges. Plus the requests and raw calls the push tests share.
//!

#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use serde_json::{Map, Value, json};
use verifyd_models::*;
use verifyd_runtime::Sid;

use crate::common::{ACCOUNT, TestServer, read_json};

/// The fields a pending push challenge's fetch names in `Twilio-Verify-Signature-Fields`.
pub const SIGNATURE_FIELDS: &str = "sid,factor_sid,details,hidden_details,expiration_date,date_created";
/// A device JWT's longest allowed life.
pub const JWT_LIFETIME: i64 = 600;

/// The pairs of a form body.
pub type Form<'a> = Vec<(&'a str, &'a str)>;
/// A raw call: method, path below the root, form.
pub type Call<'a> = (reqwest::Method, String, Form<'a>);

/// One device and its key.
pub struct Device {
    pub key: SigningKey,
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}

impl Device {
    /// A device with a fresh random P-256 key.
    pub fn new() -> Self {
        Self { key: SigningKey::random(&mut rand::rngs::OsRng) }
    }

    /// DER SubjectPublicKeyInfo of the device's public key.
    pub fn public_key_der(&self) -> Vec<u8> {
        p256::PublicKey::from(self.key.verifying_key()).to_public_key_der().expect("SPKI DER").as_bytes().to_vec()
    }

    /// `Binding.PublicKey`: base64 (standard alphabet, no wrap) of the DER SubjectPublicKeyInfo.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.public_key_der())
    }

    /// The factor verification's `AuthPayload`: base64 of the DER ECDSA-SHA256 signature over
    /// the ASCII factor SID.
    pub fn sign_factor_sid(&self, sid: &str) -> String {
        let signature: Signature = self.key.sign(sid.as_bytes());
        STANDARD.encode(signature.to_der().as_bytes())
    }

    /// Any compact ES256 JWT: base64url (no padding) of the header and payload JSON, and the
    /// raw `r‖s` signature.
    pub fn es256(&self, header: &Value, payload: &Value) -> String {
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload.to_string()));
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The device JWT the SDK sends as the Basic password (user `token`).
    pub fn auth_jwt(&self, credential_sid: &str, account_sid: &str, nbf: i64, exp: i64) -> String {
        self.es256(&auth_header(credential_sid), &json!({"sub": account_sid, "exp": exp, "nbf": nbf}))
    }

    /// The answer to a challenge: the listed fields as the fetch showed them, plus `status`.
    pub fn answer_jwt(&self, fields: Map<String, Value>, status: &str) -> String {
        let mut payload = fields;
        payload.insert("status".to_owned(), Value::String(status.to_owned()));
        self.es256(&json!({"typ": "JWT", "alg": "ES256"}), &Value::Object(payload))
    }
}

/// The header of a device JWT.
pub fn auth_header(credential_sid: &str) -> Value {
    json!({"cty": "twilio-pba;v=1", "kid": credential_sid, "typ": "JWT", "alg": "ES256"})
}

/// The fields named by a `Twilio-Verify-Signature-Fields` header, copied from the fetched JSON.
pub fn signed_fields(challenge: &Value, header: &str) -> Map<String, Value> {
    header
        .split(',')
        .map(|name| (name.to_owned(), challenge.get(name).cloned().unwrap_or_else(|| panic!("{name} in {challenge}"))))
        .collect()
}

/// A device's notification token (FCM registration tokens are long; 32–255 here).
pub fn notification_token(n: u32) -> String {
    format!("fcm-registration-token-{n:04}-0123456789abcdef")
}

/// A push factor creation as the Android SDK sends it, for `device`, platform `fcm`.
pub fn new_push(service: &Sid, identity: &str, device: &Device, token: &str) -> CreateFactorRequest {
    CreateFactorRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        friendly_name: "Jane's Pixel".to_owned(),
        factor_type: FactorType::Push,
        binding_alg: Some(BindingAlgorithm::Es256),
        binding_code_length: None,
        binding_time_step: None,
        binding_secret: None,
        binding_public_key: Some(device.public_key_base64()),
        config_sdk_version: Some("0.8.0".to_owned()),
        config_app_id: Some("com.example.verifyd".to_owned()),
        config_notification_platform: Some(NotificationPlatform::Fcm),
        config_notification_token: Some(token.to_owned()),
        config_alg: None,
        config_code_length: None,
        config_time_step: None,
        config_skew: None,
        metadata: None,
    }
}

pub fn access_token_request(service: &Sid, identity: &str, ttl: Option<i64>) -> CreateAccessTokenRequest {
    CreateAccessTokenRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        factor_type: FactorType::Push,
        factor_friendly_name: Some("Jane's Pixel".to_owned()),
        ttl,
    }
}

/// A push challenge with a message, two fields and hidden details.
pub fn push_challenge(service: &Sid, identity: &str, factor: &Sid, message: &str) -> CreateChallengeRequest {
    CreateChallengeRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        factor_sid: factor.clone(),
        expiration_date: None,
        details_message: Some(message.to_owned()),
        details_fields: Some(vec![
            ChallengeDetailsField { label: "Action".to_owned(), value: "Sign in".to_owned() },
            ChallengeDetailsField { label: "Location".to_owned(), value: "Berlin, DE".to_owned() },
        ]),
        hidden_details: Some([("ip".to_owned(), "203.0.113.7".to_owned())].into_iter().collect()),
        auth_payload: None,
    }
}

pub fn notify(service: &Sid, identity: &str, challenge: &Sid, ttl: Option<i64>) -> CreateNotificationRequest {
    CreateNotificationRequest {
        service_sid: service.clone(),
        identity: identity.to_owned(),
        challenge_sid: challenge.clone(),
        ttl,
    }
}

/// A push factor enrolled by a device, with the device that holds its key.
pub struct Enrolled {
    pub device: Device,
    pub created: NewFactor,
    pub sid: Sid,
    pub credential_sid: Sid,
    pub notification_token: String,
    pub service: Sid,
    pub identity: String,
}

impl Enrolled {
    /// A fresh device JWT: `nbf` now, `exp` ten minutes later.
    pub fn jwt(&self, server: &TestServer) -> String {
        let now = server.now();
        self.device.auth_jwt(self.credential_sid.as_str(), ACCOUNT, now, now + JWT_LIFETIME)
    }

    /// The generated client authenticated as this device.
    pub fn client(&self, server: &TestServer) -> verifyd_client::Client {
        server.client_as("token", &self.jwt(server))
    }

    /// Verifies the factor as the device does: signature over the factor SID.
    pub async fn verify(&self, server: &TestServer) -> Factor {
        let request = crate::common::verify_factor(
            &self.service,
            &self.identity,
            &self.sid,
            &self.device.sign_factor_sid(self.sid.as_str()),
        );
        let factor = self.client(server).update_factor(&request).await.expect("verify the push factor");
        assert_eq!(factor.status, FactorStatus::Verified);
        factor
    }

    /// A fetch of one of its challenges as the device, with its signature-fields header.
    pub async fn fetch(&self, server: &TestServer, challenge: &Sid) -> DeviceAnswer {
        device_get(server, &self.jwt(server), &challenge_path(&self.service, &self.identity, challenge)).await
    }

    /// Answers a pending challenge as the SDK does: fetch, sign every listed field + status.
    pub async fn answer(&self, server: &TestServer, challenge: &Sid, status: &str) -> Challenge {
        let fetched = self.fetch(server, challenge).await;
        assert_eq!(fetched.status, 200, "{}", fetched.body);
        let header = fetched.signature_fields.clone().expect("a signature-fields header on a pending challenge");
        let payload = self.device.answer_jwt(signed_fields(&fetched.body, &header), status);
        self.client(server)
            .update_challenge(&crate::common::answer_challenge(&self.service, &self.identity, challenge, &payload))
            .await
            .expect("answer the challenge")
    }
}

/// A raw answer to a device's GET.
#[derive(Debug)]
pub struct DeviceAnswer {
    pub status: u16,
    pub signature_fields: Option<String>,
    pub date: Option<String>,
    pub body: Value,
}

/// `/v2/Services/VA…/Entities/{identity}/Challenges/YC…`
pub fn challenge_path(service: &Sid, identity: &str, challenge: &Sid) -> String {
    format!("/v2/Services/{service}/Entities/{identity}/Challenges/{challenge}")
}

/// A GET of `path` (below the root) with Basic `token:<jwt>`, bypassing the typed client.
pub async fn device_get(server: &TestServer, jwt: &str, path: &str) -> DeviceAnswer {
    raw_request(server, reqwest::Method::GET, path, ("token", jwt), &[]).await
}

/// Any request to `path` (below the root) with these Basic credentials and, for a POST, this
/// form; the answer with the headers the push tests look at.
pub async fn raw_request(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    (user, password): (&str, &str),
    form: &[(&str, &str)],
) -> DeviceAnswer {
    let mut builder = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", server.root))
        .basic_auth(user, Some(password));
    if method == reqwest::Method::POST {
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish());
    }
    let response = builder.send().await.expect("request");
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (signature_fields, date) = (header("Twilio-Verify-Signature-Fields"), header("Date"));
    let (status, body) = read_json(response).await;
    DeviceAnswer { status, signature_fields, date, body }
}

impl TestServer {
    /// An access token from the backend, a device that creates its push factor with it, and
    /// (unless `verify` is false) verifies it.
    pub async fn enrol(&self, service: &Sid, identity: &str, n: u32, verify: bool) -> Enrolled {
        let token = self
            .client
            .create_access_token(&access_token_request(service, identity, None))
            .await
            .expect("an access token");
        let device = Device::new();
        let notification_token = notification_token(n);
        let created = self
            .client_as("token", token.token.as_deref().expect("the token"))
            .create_factor(&new_push(service, identity, &device, &notification_token))
            .await
            .expect("the device creates its push factor");
        assert_eq!(created.status, FactorStatus::Unverified);
        let credential_sid =
            created.config.as_ref().and_then(|c| c.credential_sid.clone()).expect("config.credential_sid");
        let enrolled = Enrolled {
            device,
            sid: created.sid.clone(),
            created,
            credential_sid,
            notification_token,
            service: service.clone(),
            identity: identity.to_owned(),
        };
        if verify {
            enrolled.verify(self).await;
        }
        enrolled
    }
}
