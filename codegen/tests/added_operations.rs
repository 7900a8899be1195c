//! The generator is data-driven: operations added to a copy of the spec, one of each kind (a
//! form body, a JSON body, a list, a path only), come out with their model, codec, validation, field codes,
//! access policy, client method, trait method and route, with no other edit.

use verifyd_codegen::{GeneratedFile, generate};

fn spec() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml")).expect("spec/openapi.yaml")
}

/// Two paths with four operations, and the schema they answer with.
const ADDED_PATHS: &str = r#"
  /Services/{ServiceSid}/Pings:
    get:
      operationId: listPings
      x-verifyd-access: [account, api_key]
      summary: List pings
      description: A list that exists only in this test.
      tags: [Services]
      parameters:
        - $ref: '#/components/parameters/ServiceSid'
        - $ref: '#/components/parameters/PageSize'
        - $ref: '#/components/parameters/Page'
        - $ref: '#/components/parameters/PageToken'
      responses:
        '200':
          description: One page
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/PingList'
        '401':
          $ref: '#/components/responses/Unauthorized'
    post:
      operationId: createPing
      x-verifyd-access: [account, api_key, device]
      summary: Create a ping
      description: A form operation that exists only in this test.
      tags: [Services]
      parameters:
        - $ref: '#/components/parameters/ServiceSid'
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [Note]
              properties:
                Note:
                  type: string
                  maxLength: 20
                  x-twilio-error-code: 60999
                Count:
                  type: integer
                  minimum: 1
                  maximum: 5
      responses:
        '201':
          description: The ping
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Ping'
        '400':
          $ref: '#/components/responses/BadRequest'
  /Services/{ServiceSid}/Pings/{PingSid}:
    get:
      operationId: fetchPing
      x-verifyd-access: [account, api_key]
      summary: Fetch a ping
      description: A path-only operation that exists only in this test.
      tags: [Services]
      parameters:
        - $ref: '#/components/parameters/ServiceSid'
        - name: PingSid
          in: path
          required: true
          schema:
            type: string
            pattern: ^PG[0-9a-fA-F]{32}$
      responses:
        '200':
          description: The ping
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Ping'
        '404':
          $ref: '#/components/responses/NotFound'
    post:
      operationId: updatePing
      x-verifyd-access: [account, api_key, device]
      summary: Update a ping
      description: A JSON operation that exists only in this test.
      tags: [Services]
      parameters:
        - $ref: '#/components/parameters/ServiceSid'
        - name: PingSid
          in: path
          required: true
          schema:
            type: string
            pattern: ^PG[0-9a-fA-F]{32}$
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [note]
              properties:
                note:
                  type: string
                  maxLength: 20
                  x-twilio-error-code: 60998
                loud:
                  type: boolean
      responses:
        '200':
          description: The ping
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Ping'
        '400':
          $ref: '#/components/responses/BadRequest'
"#;

const ADDED_SCHEMAS: &str = r#"
    Ping:
      type: object
      required: [sid, note]
      properties:
        sid:
          type: string
          pattern: ^PG[0-9a-fA-F]{32}$
        note:
          type: string
          nullable: true
    PingList:
      type: object
      required: [pings, meta]
      properties:
        pings:
          type: array
          items:
            $ref: '#/components/schemas/Ping'
        meta:
          $ref: '#/components/schemas/PaginationMeta'
"#;

fn extended_spec() -> String {
    let spec = spec();
    let spec = spec.replacen("\npaths:\n", &format!("\npaths:{ADDED_PATHS}"), 1);
    let spec = spec.replacen("\n  schemas:\n", &format!("\n  schemas:{ADDED_SCHEMAS}"), 1);
    assert_ne!(spec, self::spec());
    spec
}

/// The generated file at `path`, parsed, then squashed, so assertions read like code whatever
/// the printer's line breaks.
fn squashed(files: &[GeneratedFile], path: &str) -> String {
    let file = files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("{path} is generated"));
    syn::parse_file(&file.contents).unwrap_or_else(|e| panic!("{path} parses: {e}"));
    squash(&file.contents)
}

/// Without whitespace, and without the trailing commas a line break brings.
fn squash(code: &str) -> String {
    let text: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    text.replace(",}", "}").replace(",)", ")").replace(",]", "]")
}

fn has(text: &str, code: &str) -> bool {
    text.contains(&squash(code))
}

#[test]
fn the_committed_spec_does_not_have_them() {
    let files = generate(&spec()).expect("generates");
    assert!(!has(&squashed(&files, "models/src/requests.rs"), "Ping"));
}

#[test]
fn a_form_operation_gets_its_model_codec_rules_codes_access_and_methods() {
    let files = generate(&extended_spec()).expect("the extended spec generates");
    let requests = squashed(&files, "models/src/requests.rs");
    assert!(has(&requests, "pub struct CreatePingRequest"));
    assert!(has(&requests, "pub note: String"));
    assert!(has(&requests, "pub count: Option<i64>"));
    assert!(has(&requests, r#"const OPERATION_ID: &'static str = "createPing";"#));
    assert!(has(&requests, r#"const METHOD: &'static str = "POST";"#));
    assert!(has(&requests, "const SUCCESS_STATUS: u16 = 201;"));
    // Codec and validation, with the spec's codes.
    assert!(has(&requests, r#"w.one("Note", &self.note);"#));
    assert!(has(&requests, r#"form::required(body, "Note", 60999, &verifyd_runtime::Rules { max_length: Some(20),"#));
    assert!(has(
        &requests,
        r#"form::optional(body, "Count", 60200, &verifyd_runtime::Rules { minimum: Some(1), maximum: Some(5),"#
    ));
    // Field codes.
    assert!(has(&requests, "pub enum CreatePingField"));
    assert!(has(&requests, "Self::Note => 60999"));
    assert!(has(&requests, "Self::Count => 60200"));
    // Access: the device is bound to its service.
    let endpoints = squashed(&files, "server/src/endpoints.rs");
    assert!(has(&endpoints, "pub struct CreatePing;"));
    assert!(has(&endpoints, r#"Grant { role: Role::Device, bound: &["ServiceSid"], outside: Refusal::NotFound }"#));
    assert!(has(&endpoints, "type Request = verifyd_models::CreatePingRequest;"));
    assert!(has(&endpoints, "api.create_ping(principal, request)"));
    assert!(has(&squashed(&files, "server/src/api.rs"), "fn create_ping("));
    assert!(has(&squashed(&files, "client/src/client.rs"), "pub async fn create_ping("));
    let router = squashed(&files, "server/src/router.rs");
    assert!(has(
        &router,
        r#".route("/v2/Services/{ServiceSid}/Pings", MethodRouter::new().get(serve::<A, endpoints::ListPings>).post(serve::<A, endpoints::CreatePing>)"#
    ));
}

#[test]
fn a_list_gets_a_stream_and_a_path_only_operation_its_path_codec() {
    let files = generate(&extended_spec()).expect("the extended spec generates");
    let client = squashed(&files, "client/src/client.rs");
    assert!(has(&client, "pub async fn list_pings("));
    assert!(has(&client, "pub fn list_pings_stream<'a>("));
    assert!(has(&client, "Result<verifyd_models::Ping, ClientError>"));
    let types = squashed(&files, "models/src/types.rs");
    assert!(has(&types, "impl verifyd_runtime::ListPage for PingList"));
    let requests = squashed(&files, "models/src/requests.rs");
    assert!(has(
        &requests,
        r#"form::path(path_ping_sid, "PingSid", 60200, &verifyd_runtime::Rules { sid_prefix: Some("PG"),"#
    ));
    assert!(has(&requests, "pub enum FetchPingField"));
    let endpoints = squashed(&files, "server/src/endpoints.rs");
    assert!(has(&endpoints, "pub struct FetchPing;"));
    let grants = endpoints.split("implFetchPing{").nth(1).and_then(|rest| rest.split("];").next()).expect("its grants");
    assert!(
        grants.contains("Role::Account") && grants.contains("Role::ApiKey") && !grants.contains("Role::Device"),
        "{grants}"
    );
    let router = squashed(&files, "server/src/router.rs");
    assert!(has(
        &router,
        r#".route("/v2/Services/{ServiceSid}/Pings/{PingSid}", MethodRouter::new().get(serve::<A, endpoints::FetchPing>)"#
    ));
}

#[test]
fn a_json_operation_gets_its_json_codec_rules_codes_access_and_methods() {
    let files = generate(&extended_spec()).expect("the extended spec generates");
    let requests = squashed(&files, "models/src/requests.rs");
    assert!(has(&requests, "pub struct UpdatePingRequest"));
    let codec = requests.split("implverifyd_runtime::WireRequestforUpdatePingRequest{").nth(1).expect("its codec");
    assert!(has(codec, "const BODY: verifyd_runtime::BodyKind = verifyd_runtime::BodyKind::Json;"));
    assert!(has(codec, r#"let mut w = verifyd_runtime::json::JsonWriter::new(); w.one("note", &self.note);"#));
    assert!(has(codec, r#"json::required(body, "note", 60998, &verifyd_runtime::Rules { max_length: Some(20),"#));
    assert!(has(codec, r#"json::optional(body, "loud", 60200, &verifyd_runtime::Rules::NONE)"#));
    assert!(has(&requests, "pub enum UpdatePingField"));
    assert!(has(&requests, "Self::Note => 60998"));
    let endpoints = squashed(&files, "server/src/endpoints.rs");
    let grants =
        endpoints.split("implUpdatePing{").nth(1).and_then(|rest| rest.split("];").next()).expect("its grants");
    let device = r#"Grant { role: Role::Device, bound: &["ServiceSid"], outside: Refusal::NotFound }"#;
    assert!(has(grants, device), "{grants}");
    assert!(has(&squashed(&files, "server/src/api.rs"), "fn update_ping("));
    assert!(has(&squashed(&files, "client/src/client.rs"), "pub async fn update_ping("));
    let router = squashed(&files, "server/src/router.rs");
    assert!(has(&router, ".get(serve::<A, endpoints::FetchPing>).post(serve::<A, endpoints::UpdatePing>)"));
}
