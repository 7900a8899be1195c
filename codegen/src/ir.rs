//! The intermediate model: everything the emitters need, nothing about OpenAPI.
//!
//! `load` is the one module that reads the spec; the emitters read only these types.

use std::collections::BTreeMap;

/// The whole API as the generated crates see it.
#[derive(Debug, Clone)]
pub struct Api {
    pub title: String,
    pub description: String,
    /// The path of the spec's server URL (`/v2`): the router serves under it, the client
    /// appends operation paths to it.
    pub base_path: String,
    /// The server URL the client uses by default (`https://verify.twilio.com/v2`).
    pub default_base_url: String,
    pub operations: Vec<Operation>,
    /// Every named type, by name (sorted, so output order never depends on traversal).
    pub types: BTreeMap<String, TypeDef>,
    /// The type of every 4xx/5xx body.
    pub error_type: String,
    /// The kinds of caller the spec declares (`x-verifyd-principals`), in spec order.
    pub principals: Vec<Principal>,
    /// The document's tags that operations use, in the document's order: one server trait
    /// each.
    pub tags: Vec<Tag>,
}

/// A group of operations (the spec's `tags`): the server implements one trait per tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The tag (`Rate Limits`).
    pub name: String,
    /// Its trait (`RateLimitsApi`).
    pub trait_name: String,
    pub doc: Option<String>,
}

/// A kind of caller: who may call an operation is a list of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name in the spec (`api_key`).
    pub name: String,
    /// The Rust variant (`ApiKey`).
    pub variant: String,
    pub doc: Option<String>,
    /// Wire keys this caller is bound to (`ServiceSid`, `Identity`).
    pub claims: Vec<String>,
    /// What naming another value of a claim is answered.
    pub outside: Outside,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// 401, as for wrong credentials.
    Unauthenticated,
    /// 404, as for what does not exist.
    NotFound,
}

/// One kind of caller an operation admits, and the request's keys bound to its claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Index into `Api::principals`.
    pub principal: usize,
    /// The principal's claims this operation has an input for, in claim order.
    pub bound: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Operation {
    /// The spec's operationId (`createVerification`).
    pub id: String,
    /// Client and trait method name (`create_verification`).
    pub fn_name: String,
    /// The request type (`CreateVerificationRequest`): path, query and body together.
    pub request_type: String,
    /// The enum naming the request's inputs (`CreateVerificationField`).
    pub field_type: String,
    pub method: Method,
    /// The path below the base path, with `{Param}` placeholders (`/Services/{ServiceSid}`).
    pub path_template: String,
    pub path: Vec<PathPart>,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// Path parameters (in path order), then query parameters, then body fields (spec order).
    pub inputs: Vec<Input>,
    /// The request body's media type; `None` without a request body.
    pub body: Option<BodyKind>,
    pub success: Success,
    /// The 4xx/5xx statuses the spec lists.
    pub error_statuses: Vec<u16>,
    /// Set when the operation answers one page of a list.
    pub list: Option<ListInfo>,
    /// Who may call it (`x-verifyd-access`).
    pub access: Vec<Grant>,
    /// Index into `Api::tags`: the trait its method belongs to.
    pub tag: usize,
}

/// How an operation's body inputs travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`: dotted keys, arrays as repeated keys, objects as
    /// one JSON text each.
    Form,
    /// `application/json`: one object whose members are the inputs; arrays and objects are
    /// JSON arrays and objects.
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    Literal(String),
    /// Index into `Operation::inputs`.
    Param(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Body,
}

/// One request value: a path segment, a query key, or a key of the body (a form key or a
/// JSON body's top-level member).
#[derive(Debug, Clone)]
pub struct Input {
    /// The key on the wire (`Config.TimeStep`).
    pub wire: String,
    /// The Rust field (`config_time_step`).
    pub field: String,
    /// Its variant of the operation's field enum (`ConfigTimeStep`).
    pub variant: String,
    pub location: Location,
    pub required: bool,
    /// For an array, the item type (`repeated` says it repeats).
    pub ty: Ty,
    /// An array: a repeated key in a query or form, one JSON array in a JSON body.
    pub repeated: bool,
    pub rules: Rules,
    /// The Twilio code a rejected value gets.
    pub error_code: u32,
    pub default: Option<DefaultValue>,
    pub doc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    String,
    Integer,
    Boolean,
    DateTime,
    Url,
    Sid {
        prefix: String,
    },
    /// A generated enum.
    Enum(String),
    /// A generated struct (in a form: one JSON text; in a JSON body: an object).
    Struct(String),
    /// A JSON object of strings (in a form: one JSON text).
    StringMap,
    /// Any JSON object (in a form: one JSON text).
    JsonObject,
    Array(Box<Ty>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<String>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    /// For a map of strings: how many keys, and how long each value.
    pub max_properties: Option<u64>,
    pub max_value_length: Option<u64>,
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        *self == Rules::default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Integer(i64),
    Boolean(bool),
    /// A string, or an enum value.
    String(String),
}

#[derive(Debug, Clone)]
pub struct Success {
    pub status: u16,
    /// `None` for a response without a body (204).
    pub body: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ListInfo {
    /// The array property (`services`).
    pub key: String,
    /// Its Rust field.
    pub field: String,
    pub item: Ty,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeDef {
    Struct(StructDef),
    Enum(EnumDef),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StructDef {
    pub name: String,
    pub doc: Option<String>,
    pub fields: Vec<Field>,
}

/// A property of a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub json: String,
    pub field: String,
    pub ty: Ty,
    /// Whether the value may be `null` (or the key absent).
    pub nullable: bool,
    pub rules: Rules,
    pub doc: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumDef {
    pub name: String,
    pub doc: Option<String>,
    /// Wire values with their variant names, in spec order.
    pub variants: Vec<(String, String)>,
}

impl Api {
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|op| op.id == id)
    }
}
