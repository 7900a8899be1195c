//! The generated client against the generated router over real HTTP on 127.0.0.1, with a
//! small in-memory implementation of the server trait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::TryStreamExt as _;
use verifyd_client::{Client, ClientError};
use verifyd_models::*;
use verifyd_server::*;

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "secret-token";

/// What the test server answers with when it refuses.
#[derive(Debug)]
struct TestError {
    status: u16,
    code: u32,
    message: String,
}

impl TestError {
    fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
}

impl WireError for TestError {
    fn to_wire(&self) -> TwilioError {
        TwilioError::new(self.status, self.code, self.message.clone())
    }
}

/// The one caller this server knows: the account.
struct TestAccount;

impl Caller for TestAccount {
    type Role = Role;

    fn role(&self) -> Role {
        Role::Account
    }

    fn claim(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Services kept in memory; every other operation is refused with 501.
struct TestApi {
    base_url: String,
    services: Mutex<Vec<VerifyService>>,
    next_sid: AtomicUsize,
    calls: AtomicUsize,
}

impl TestApi {
    fn new(base_url: String) -> Self {
        Self { base_url, services: Mutex::new(Vec::new()), next_sid: AtomicUsize::new(1), calls: AtomicUsize::new(0) }
    }

    fn url(&self, path: &str) -> HttpUrl {
        HttpUrl::parse(&format!("{}{path}", self.base_url)).expect("test URLs are absolute")
    }

    fn service_of(&self, sid: &Sid) -> Result<VerifyService, TestError> {
        let services = self.services.lock().expect("not poisoned");
        services.iter().find(|s| &s.sid == sid).cloned().ok_or_else(|| not_found(sid))
    }

    fn counted(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

fn not_found(sid: &Sid) -> TestError {
    TestError::new(404, 20404, format!("The requested resource /Services/{sid} was not found"))
}

impl Authenticate for TestApi {
    type Principal = TestAccount;
    type Role = Role;
    type Error = TestError;

    async fn authenticate(&self, credentials: Credentials) -> Result<TestAccount, TestError> {
        if credentials.username == ACCOUNT && credentials.password == TOKEN {
            Ok(TestAccount)
        } else {
            Err(TestError::new(401, 20003, "Authenticate"))
        }
    }
}

/// Methods of an `impl` that answer 501.
macro_rules! refused_in_impl {
    ($($method:ident: $request:ident => $response:ty;)*) => {
        $(
            async fn $method(&self, _: &TestAccount, _: $request) -> Result<Reply<$response>, TestError> {
                self.counted();
                Err(TestError::new(501, 20501, concat!(stringify!($method), " is not part of this test")))
            }
        )*
    };
}

/// Whole `impl`s whose methods answer 501.
macro_rules! refused {
    ($(impl $api:ident { $($method:ident: $request:ident => $response:ty;)* })*) => {
        $(
            impl $api for TestApi {
                refused_in_impl! { $($method: $request => $response;)* }
            }
        )*
    };
}

impl ServicesApi for TestApi {
    async fn list_services(
        &self,
        _: &TestAccount,
        request: ListServicesRequest,
    ) -> Result<Reply<ServiceList>, TestError> {
        self.counted();
        let page_size = usize::try_from(request.page_size_or_default()).unwrap_or(50);
        let start: usize = request
            .page_token
            .as_deref()
            .map_or(Ok(0), str::parse)
            .map_err(|_| TestError::new(400, 60200, "Invalid parameter: PageToken"))?;
        let services = self.services.lock().expect("not poisoned").clone();
        let page: Vec<_> = services.iter().skip(start).take(page_size).cloned().collect();
        let end = start + page.len();
        let page_url = |token: usize| self.url(&format!("/Services?PageSize={page_size}&PageToken={token}"));
        let meta = PaginationMeta {
            page: i64::try_from(start / page_size.max(1)).unwrap_or(0),
            page_size: i64::try_from(page_size).unwrap_or(0),
            first_page_url: page_url(0),
            previous_page_url: (start > 0).then(|| page_url(start.saturating_sub(page_size))),
            next_page_url: (end < services.len()).then(|| page_url(end)),
            url: page_url(start),
            key: "services".to_owned(),
        };
        Ok(ServiceList { services: page, meta }.into())
    }

    async fn create_service(
        &self,
        _: &TestAccount,
        request: CreateServiceRequest,
    ) -> Result<Reply<VerifyService>, TestError> {
        self.counted();
        let n = self.next_sid.fetch_add(1, Ordering::SeqCst);
        let sid = Sid::parse(&format!("VA{n:032x}")).expect("well-formed");
        let path = format!("/Services/{sid}");
        let now = Timestamp::from_unix(1_700_000_000).expect("in range");
        let service = VerifyService {
            sid: sid.clone(),
            account_sid: Sid::parse(ACCOUNT).expect("well-formed"),
            friendly_name: Some(request.friendly_name.clone()),
            code_length: request.code_length_or_default(),
            lookup_enabled: Some(request.lookup_enabled_or_default()),
            psd2_enabled: Some(false),
            skip_sms_to_landlines: Some(false),
            dtmf_input_required: Some(true),
            tts_name: None,
            do_not_share_warning_enabled: Some(false),
            custom_code_enabled: Some(false),
            push: None,
            totp: None,
            whatsapp: None,
            passkeys: VerifyServicePasskeys {
                relying_party: PasskeysRelyingParty { id: None, name: None, origins: None },
                authenticator_attachment: None,
                discoverable_credentials: None,
                user_verification: None,
            },
            default_template_sid: None,
            verify_event_subscription_enabled: Some(false),
            date_created: now,
            date_updated: now,
            url: self.url(&path),
            links: VerifyServiceLinks {
                verification_checks: self.url(&format!("{path}/VerificationCheck")),
                verifications: self.url(&format!("{path}/Verifications")),
                rate_limits: self.url(&format!("{path}/RateLimits")),
                entities: self.url(&format!("{path}/Entities")),
                webhooks: self.url(&format!("{path}/Webhooks")),
                access_tokens: self.url(&format!("{path}/AccessTokens")),
            },
        };
        self.services.lock().expect("not poisoned").push(service.clone());
        Ok(service.into())
    }

    async fn fetch_service(
        &self,
        _: &TestAccount,
        request: FetchServiceRequest,
    ) -> Result<Reply<VerifyService>, TestError> {
        self.counted();
        let service = self.service_of(&request.service_sid)?;
        Ok(Reply::new(service).with_header("X-Verifyd-Test", "fetched"))
    }

    async fn update_service(
        &self,
        _: &TestAccount,
        request: UpdateServiceRequest,
    ) -> Result<Reply<VerifyService>, TestError> {
        self.counted();
        let mut services = self.services.lock().expect("not poisoned");
        let service = services
            .iter_mut()
            .find(|s| s.sid == request.service_sid)
            .ok_or_else(|| not_found(&request.service_sid))?;
        if let Some(name) = request.friendly_name {
            service.friendly_name = Some(name);
        }
        if let Some(n) = request.code_length {
            service.code_length = n;
        }
        Ok(service.clone().into())
    }

    async fn delete_service(&self, _: &TestAccount, request: DeleteServiceRequest) -> Result<Reply<()>, TestError> {
        self.counted();
        let mut services = self.services.lock().expect("not poisoned");
        let before = services.len();
        services.retain(|s| s.sid != request.service_sid);
        if services.len() == before { Err(not_found(&request.service_sid)) } else { Ok(().into()) }
    }
}

impl VerificationsApi for TestApi {
    /// A bug: the router must still answer.
    async fn create_verification(
        &self,
        _: &TestAccount,
        r: CreateVerificationRequest,
    ) -> Result<Reply<Verification>, TestError> {
        self.counted();
        panic!("a bug in the implementation, sending to {:?}", r.to);
    }

    refused_in_impl! {
        fetch_verification: FetchVerificationRequest => Verification;
        update_verification: UpdateVerificationRequest => Verification;
    }
}

refused! {
    impl VerificationChecksApi {
        create_verification_check: CreateVerificationCheckRequest => VerificationCheck;
    }
    impl RateLimitsApi {
        list_rate_limits: ListRateLimitsRequest => RateLimitList;
        create_rate_limit: CreateRateLimitRequest => RateLimit;
        fetch_rate_limit: FetchRateLimitRequest => RateLimit;
        update_rate_limit: UpdateRateLimitRequest => RateLimit;
        delete_rate_limit: DeleteRateLimitRequest => ();
        list_buckets: ListBucketsRequest => BucketList;
        create_bucket: CreateBucketRequest => Bucket;
        fetch_bucket: FetchBucketRequest => Bucket;
        update_bucket: UpdateBucketRequest => Bucket;
        delete_bucket: DeleteBucketRequest => ();
    }
    impl EntitiesApi {
        list_entities: ListEntitiesRequest => EntityList;
        create_entity: CreateEntityRequest => Entity;
        fetch_entity: FetchEntityRequest => Entity;
        delete_entity: DeleteEntityRequest => ();
    }
    impl FactorsApi {
        list_factors: ListFactorsRequest => FactorList;
        create_factor: CreateFactorRequest => NewFactor;
        fetch_factor: FetchFactorRequest => Factor;
        update_factor: UpdateFactorRequest => Factor;
        delete_factor: DeleteFactorRequest => ();
    }
    impl ChallengesApi {
        list_challenges: ListChallengesRequest => ChallengeList;
        create_challenge: CreateChallengeRequest => Challenge;
        fetch_challenge: FetchChallengeRequest => Challenge;
        update_challenge: UpdateChallengeRequest => Challenge;
        create_notification: CreateNotificationRequest => Notification;
    }
    impl AccessTokensApi {
        create_access_token: CreateAccessTokenRequest => AccessToken;
        fetch_access_token: FetchAccessTokenRequest => AccessToken;
    }
    impl MessagingConfigurationsApi {
        list_messaging_configuration: ListMessagingConfigurationRequest => ListMessagingConfigurationResponse;
        create_messaging_configuration: CreateMessagingConfigurationRequest => MessagingConfiguration;
        fetch_messaging_configuration: FetchMessagingConfigurationRequest => MessagingConfiguration;
        update_messaging_configuration: UpdateMessagingConfigurationRequest => MessagingConfiguration;
        delete_messaging_configuration: DeleteMessagingConfigurationRequest => ();
    }
    impl TemplatesApi {
        list_verification_template: ListVerificationTemplateRequest => ListVerificationTemplateResponse;
    }
    impl AttemptsApi {
        list_verification_attempt: ListVerificationAttemptRequest => ListVerificationAttemptResponse;
        fetch_verification_attempts_summary: FetchVerificationAttemptsSummaryRequest => VerificationAttemptsSummary;
        fetch_verification_attempt: FetchVerificationAttemptRequest => VerificationAttempt;
    }
    impl SafeListApi {
        create_safelist: CreateSafelistRequest => Safelist;
        fetch_safelist: FetchSafelistRequest => Safelist;
        delete_safelist: DeleteSafelistRequest => ();
    }
    impl FormsApi {
        fetch_form: FetchFormRequest => VerifyForm;
    }
    impl PasskeysApi {
        create_new_factor_passkey: CreateNewFactorPasskeyRequest => NewFactor;
        update_passkeys_factor: UpdatePasskeysFactorRequest => Factor;
        create_challenge_passkeys: CreateChallengePasskeysRequest => PasskeysChallenge;
        update_challenge_passkeys: UpdateChallengePasskeysRequest => PasskeysChallenge;
    }
    impl WebhooksApi {
        list_webhooks: ListWebhooksRequest => WebhookList;
        create_webhook: CreateWebhookRequest => Webhook;
        fetch_webhook: FetchWebhookRequest => Webhook;
        update_webhook: UpdateWebhookRequest => Webhook;
        delete_webhook: DeleteWebhookRequest => ();
    }
}

struct Running {
    api: Arc<TestApi>,
    client: Client,
    root: String,
}

/// Serves the router on 127.0.0.1:0 with a small body limit.
async fn start() -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let root = format!("http://{}", listener.local_addr().expect("address"));
    let base_url = format!("{root}{}", verifyd_server::BASE_PATH);
    let api = Arc::new(TestApi::new(base_url.clone()));
    let router = verifyd_server::router(Arc::clone(&api), RouterOptions { body_limit: 4096 });
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let client = Client::new(base_url, ACCOUNT, TOKEN).expect("client");
    Running { api, client, root }
}

fn create(name: &str) -> CreateServiceRequest {
    CreateServiceRequest::new(name.to_owned())
}

fn update(sid: &Sid) -> UpdateServiceRequest {
    UpdateServiceRequest::new(sid.clone())
}

fn api_error(result: Result<impl std::fmt::Debug, ClientError>) -> TwilioError {
    match result {
        Err(ClientError::Api(e)) => e,
        other => panic!("expected an error body, got {other:?}"),
    }
}

#[tokio::test]
async fn create_fetch_update_delete() {
    let server = start().await;
    let client = &server.client;
    let created = client
        .create_service(&CreateServiceRequest { code_length: Some(8), ..create("My App") })
        .await
        .expect("create");
    assert_eq!(created.friendly_name.as_deref(), Some("My App"));
    assert_eq!(created.code_length, 8);
    assert_eq!(created.lookup_enabled, Some(false), "the spec's default, applied by the server");

    let fetched = client.fetch_service(&FetchServiceRequest { service_sid: created.sid.clone() }).await.expect("fetch");
    assert_eq!(fetched, created);

    let updated = client
        .update_service(&UpdateServiceRequest {
            friendly_name: Some("Renamed + more".to_owned()),
            ..update(&created.sid)
        })
        .await
        .expect("update");
    assert_eq!(updated.friendly_name.as_deref(), Some("Renamed + more"), "`+` and spaces survive the form");
    assert_eq!(updated.code_length, 8, "an update changes only what it is sent");

    let deleted: () =
        client.delete_service(&DeleteServiceRequest { service_sid: created.sid.clone() }).await.expect("delete");
    assert_eq!(deleted, ());

    let gone = api_error(client.fetch_service(&FetchServiceRequest { service_sid: created.sid.clone() }).await);
    assert_eq!((gone.status, gone.code), (404, 20404));
    assert_eq!(gone.more_info, "https://www.twilio.com/docs/errors/20404");
}

#[tokio::test]
async fn a_delete_answers_204_with_no_body() {
    let server = start().await;
    let created = server.client.create_service(&create("Gone")).await.expect("create");
    let response = reqwest::Client::new()
        .delete(format!("{}/v2/Services/{}", server.root, created.sid))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 204);
    assert!(response.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn a_list_is_followed_through_every_page() {
    let server = start().await;
    let mut names = Vec::new();
    for i in 0..7 {
        let name = format!("Service {i}");
        server.client.create_service(&create(&name)).await.expect("create");
        names.push(name);
    }
    let first = ListServicesRequest { page_size: Some(3), page: None, page_token: None };
    let page = server.client.list_services(&first).await.expect("first page");
    assert_eq!(page.services.len(), 3);
    assert!(page.meta.next_page_url.is_some());

    let listed: Vec<VerifyService> = server.client.list_services_stream(&first).try_collect().await.expect("all pages");
    let listed: Vec<_> = listed.into_iter().filter_map(|s| s.friendly_name).collect();
    assert_eq!(listed, names, "three pages of 3, 3 and 1, in order");
    // One call for the single page, three for the stream.
    assert_eq!(server.api.calls.load(Ordering::SeqCst), 7 + 1 + 3);
}

#[tokio::test]
async fn a_reply_carries_its_extra_headers() {
    let server = start().await;
    let created = server.client.create_service(&create("Headers")).await.expect("create");
    let response = reqwest::Client::new()
        .get(format!("{}/v2/Services/{}", server.root, created.sid))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("x-verifyd-test").and_then(|v| v.to_str().ok()), Some("fetched"));
    assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
}

#[tokio::test]
async fn wrong_or_missing_credentials_answer_401_with_a_date() {
    let server = start().await;
    let wrong = server.client.with_credentials(ACCOUNT, "not-the-token");
    let error =
        api_error(wrong.list_services(&ListServicesRequest { page_size: None, page: None, page_token: None }).await);
    assert_eq!((error.status, error.code, error.message.as_str()), (401, 20003, "Authenticate"));

    let response = reqwest::Client::new().get(format!("{}/v2/Services", server.root)).send().await.expect("send");
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().contains_key("date"));
    let body: TwilioError = serde_json_from(response).await;
    assert_eq!(body.code, 20003);
    assert_eq!(server.api.calls.load(Ordering::SeqCst), 0, "no operation ran");
}

#[tokio::test]
async fn a_malformed_sid_in_the_path_is_not_found() {
    let server = start().await;
    for sid in ["VA123", "VE00000000000000000000000000000001", "VA0000000000000000000000000000000g"] {
        let response = reqwest::Client::new()
            .get(format!("{}/v2/Services/{sid}", server.root))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 404, "{sid}");
        let body: TwilioError = serde_json_from(response).await;
        assert_eq!((body.code, body.status), (20404, 404));
        assert_eq!(body.message, format!("The requested resource /Services/{sid} was not found"));
    }
    assert_eq!(server.api.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_bodies_get_twilio_errors() {
    let server = start().await;
    let http = reqwest::Client::new();
    let unknown =
        http.get(format!("{}/v2/Nope", server.root)).basic_auth(ACCOUNT, Some(TOKEN)).send().await.expect("send");
    assert_eq!(unknown.status().as_u16(), 404);
    let body: TwilioError = serde_json_from(unknown).await;
    assert_eq!((body.code, body.message.as_str()), (20404, "The requested resource /Nope was not found"));

    let method =
        http.put(format!("{}/v2/Services", server.root)).basic_auth(ACCOUNT, Some(TOKEN)).send().await.expect("send");
    assert_eq!(method.status().as_u16(), 405);
    assert_eq!(serde_json_from::<TwilioError>(method).await.status, 405);

    let json = http
        .post(format!("{}/v2/Services", server.root))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .header("content-type", "application/json")
        .body(r#"{"FriendlyName":"x"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(json.status().as_u16(), 415);
    assert_eq!(serde_json_from::<TwilioError>(json).await.status, 415);

    let large = http
        .post(format!("{}/v2/Services", server.root))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("FriendlyName={}", "a".repeat(5000)))
        .send()
        .await
        .expect("send");
    assert_eq!(large.status().as_u16(), 413);
    assert_eq!(serde_json_from::<TwilioError>(large).await.status, 413);
    assert_eq!(server.api.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_error_from_the_implementation_keeps_its_code() {
    let server = start().await;
    let service = Sid::parse("VA00000000000000000000000000000099").expect("well-formed");
    let error = api_error(server.client.fetch_service(&FetchServiceRequest { service_sid: service }).await);
    assert_eq!((error.status, error.code), (404, 20404));
    let refused = api_error(
        server
            .client
            .fetch_webhook(&FetchWebhookRequest {
                service_sid: Sid::parse("VA00000000000000000000000000000099").expect("well-formed"),
                webhook_sid: Sid::parse("YW00000000000000000000000000000001").expect("well-formed"),
            })
            .await,
    );
    assert_eq!((refused.status, refused.code), (501, 20501));
}

#[tokio::test]
async fn a_panic_in_the_implementation_answers_500_and_the_server_goes_on() {
    let server = start().await;
    let service = server.client.create_service(&create("Acme")).await.expect("created");
    let request =
        CreateVerificationRequest::new(service.sid.clone(), "+15017122661".to_owned(), VerificationChannel::Sms);
    let error = api_error(server.client.create_verification(&request).await);
    assert_eq!((error.status, error.code, error.message.as_str()), (500, 20500, "An internal error occurred"));
    assert_eq!(error.more_info, "https://www.twilio.com/docs/errors/20500");
    // The same client, the same server: still answering.
    assert_eq!(
        server
            .client
            .fetch_service(&FetchServiceRequest { service_sid: service.sid })
            .await
            .expect("fetched")
            .friendly_name
            .as_deref(),
        Some("Acme")
    );
}

#[tokio::test]
async fn a_bad_dotted_field_is_refused_by_the_router() {
    let server = start().await;
    let response = reqwest::Client::new()
        .post(format!("{}/v2/Services/VA00000000000000000000000000000001/Entities/user-1234/Factors", server.root))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("FriendlyName=phone&FactorType=totp&Config.TimeStep=99")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);
    let body: TwilioError = serde_json_from(response).await;
    assert_eq!(body.code, 60306, "the operation's code from the spec");
    assert!(body.message.contains("Config.TimeStep"), "{}", body.message);
    assert_eq!(server.api.calls.load(Ordering::SeqCst), 0, "the trait was not called");

    let service =
        server.client.create_service(&CreateServiceRequest { code_length: Some(11), ..create("Too long") }).await;
    let error = api_error(service);
    assert_eq!((error.status, error.code, error.message.as_str()), (400, 60200, "Invalid parameter: CodeLength"));
}

#[tokio::test]
async fn a_value_an_enum_does_not_list_is_refused_by_the_router() {
    let server = start().await;
    let http = reqwest::Client::new();
    let services = format!("{}/v2/Services/VA00000000000000000000000000000001", server.root);
    let form = |path: &str, body: &'static str| {
        http.post(format!("{services}{path}"))
            .basic_auth(ACCOUNT, Some(TOKEN))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let cases = [
        ("Channel", form("/Verifications", "To=%2B15017122661&Channel=pigeon")),
        ("Channel", form("/Verifications", "To=%2B15017122661&Channel=SMS")),
        (
            "EventTypes",
            form(
                "/Webhooks",
                "FriendlyName=hook&WebhookUrl=https%3A%2F%2Fhooks.example&EventTypes=factor.created&EventTypes=factor.teleported",
            ),
        ),
        (
            "Order",
            http.get(format!("{services}/Entities/user-1234/Challenges?Order=sideways"))
                .basic_auth(ACCOUNT, Some(TOKEN)),
        ),
    ];
    for (key, request) in cases {
        let response = request.send().await.expect("send");
        assert_eq!(response.status().as_u16(), 400, "{key}");
        let body: TwilioError = serde_json_from(response).await;
        assert_eq!(body.message, format!("Invalid parameter: {key}"));
    }
    assert_eq!(server.api.calls.load(Ordering::SeqCst), 0, "the trait was not called");
}

async fn serde_json_from<T: serde_json_de::DeserializeOwned>(response: reqwest::Response) -> T {
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
}

mod serde_json_de {
    pub use serde::de::DeserializeOwned;
}
