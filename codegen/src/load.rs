//! Reads the OpenAPI document into the intermediate model. The only module that knows
//! OpenAPI: every construct the generator does not understand is an error here, never a
//! silent `String`.

use std::collections::{BTreeMap, BTreeSet};

use openapiv3::{ObjectType, OpenAPI, Parameter, ReferenceOr, RequestBody, Response, Schema, SchemaKind, Type};
use serde_json::Value;

use crate::ir::{Api, Method, Operation, Rules, Tag, TypeDef};
use crate::{Error, names};

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const DEFAULT_INVALID_PARAMETER_CODE: u32 = 60200;
/// Extensions the spec uses (see spec/CONVENTIONS.md).
const X_ERROR_CODE: &str = "x-twilio-error-code";
const X_OPERATION_CODE: &str = "x-twilio-invalid-parameter-code";
const X_JSON_MAX_LENGTH: &str = "x-json-max-length";
const X_ENUM_VARNAMES: &str = "x-enum-varnames";

mod access;
mod links;
mod operation;
mod schema;

/// What reading the operations learns about the components.
#[derive(Default)]
struct Seen {
    /// Component schemas used as request bodies (not types of their own).
    request_components: BTreeSet<String>,
    /// The schemas of error responses (one, in a valid spec).
    error_types: BTreeSet<String>,
}

/// Operation names, request type names and type names must not collide.
fn check_names(operations: &[Operation], types: &BTreeMap<String, TypeDef>) -> Result<(), Error> {
    names::check_unique("operations", operations.iter().map(|op| (op.id.as_str(), op.fn_name.as_str())))?;
    names::check_unique(
        "types",
        operations
            .iter()
            .flat_map(|op| [(op.id.as_str(), op.request_type.as_str()), (op.id.as_str(), op.field_type.as_str())])
            .chain(types.keys().map(|name| (name.as_str(), name.as_str()))),
    )
}

pub fn load(yaml: &str) -> Result<Api, Error> {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(yaml).map_err(|e| Error::Spec(e.to_string()))?;
    let links = links::take(&mut doc)?;
    let spec: OpenAPI = serde_yaml::from_value(doc).map_err(|e| Error::Spec(e.to_string()))?;
    if !spec.openapi.starts_with("3.0.") {
        return Err(Error::Spec(format!("openapi {} is not 3.0.x", spec.openapi)));
    }
    let api = Loader { spec: &spec, types: BTreeMap::new(), in_progress: BTreeSet::new() }.api()?;
    links::check(&api, &links)?;
    Ok(api)
}

struct Loader<'a> {
    spec: &'a OpenAPI,
    types: BTreeMap<String, TypeDef>,
    in_progress: BTreeSet<String>,
}

/// What a schema says about one value, beside its type.
#[derive(Default)]
struct Facets {
    rules: Rules,
    nullable: bool,
    error_code: Option<u32>,
    default: Option<Value>,
    doc: Option<String>,
}

impl<'a> Loader<'a> {
    fn api(mut self) -> Result<Api, Error> {
        let (default_base_url, base_path) = self.server_url()?;
        let principals = access::principals(&self.spec.extensions)?;
        let tags = self.tags()?;
        let mut seen = Seen::default();
        let mut operations = Vec::new();
        for (path, item) in &self.spec.paths.paths {
            let item = item.as_item().ok_or_else(|| Error::Spec(format!("{path}: path item $ref is not supported")))?;
            if item.put.is_some() || item.patch.is_some() || item.head.is_some() || item.options.is_some() {
                return Err(Error::Spec(format!("{path}: only GET, POST and DELETE are supported")));
            }
            for (method, op) in [(Method::Get, &item.get), (Method::Post, &item.post), (Method::Delete, &item.delete)] {
                if let Some(op) = op {
                    let at =
                        operation::At { path, method, shared: &item.parameters, principals: &principals, tags: &tags };
                    operations.push(self.operation(&at, op, &mut seen)?);
                }
            }
        }
        let error_type = match seen.error_types.len() {
            1 => seen.error_types.into_iter().next().unwrap_or_default(),
            0 => return Err(Error::Spec("no 4xx/5xx response names an error schema".into())),
            _ => return Err(Error::Spec(format!("error responses use several schemas: {:?}", seen.error_types))),
        };
        // Every component schema that is not only a request body is a type of the models crate.
        if let Some(components) = &self.spec.components {
            for name in components.schemas.keys() {
                if !seen.request_components.contains(name) {
                    self.component_ty(name)?;
                }
            }
        }
        check_names(&operations, &self.types)?;
        // Only the tags some operation uses make traits; indices follow.
        let used: Vec<usize> = (0..tags.len()).filter(|t| operations.iter().any(|op| op.tag == *t)).collect();
        for op in &mut operations {
            op.tag = used.iter().position(|t| *t == op.tag).unwrap_or_default();
        }
        let tags = used.iter().filter_map(|t| tags.get(*t).cloned()).collect();
        Ok(Api {
            tags,
            title: self.spec.info.title.clone(),
            description: self.spec.info.description.clone().unwrap_or_default(),
            base_path,
            default_base_url,
            operations,
            types: self.types,
            error_type,
            principals,
        })
    }

    /// The document's tags, each with the trait name it gives.
    fn tags(&self) -> Result<Vec<Tag>, Error> {
        let tags = self
            .spec
            .tags
            .iter()
            .map(|t| {
                Ok(Tag {
                    name: t.name.clone(),
                    trait_name: format!("{}Api", names::type_name(&t.name)?),
                    doc: t.description.clone(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        names::check_unique("tags", tags.iter().map(|t| (t.name.as_str(), t.trait_name.as_str())))?;
        Ok(tags)
    }

    /// The server URL without a trailing `/`, and its path (`/v2`).
    fn server_url(&self) -> Result<(String, String), Error> {
        let server = self.spec.servers.first().ok_or_else(|| Error::Spec("no server URL".into()))?;
        let url = server.url.trim_end_matches('/').to_owned();
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or_default().to_owned(),
            None => return Err(Error::Spec(format!("server URL {url} is not absolute"))),
        };
        Ok((url, path))
    }

    fn parameter(&self, p: &'a ReferenceOr<Parameter>) -> Result<&'a Parameter, Error> {
        match p {
            ReferenceOr::Item(p) => Ok(p),
            ReferenceOr::Reference { reference } => {
                let name = component_name(reference, "parameters")?;
                let found = self.spec.components.as_ref().and_then(|c| c.parameters.get(name));
                match found {
                    Some(ReferenceOr::Item(p)) => Ok(p),
                    _ => Err(Error::Spec(format!("{reference}: no such parameter"))),
                }
            }
        }
    }

    fn request_body(&self, b: &'a ReferenceOr<RequestBody>) -> Result<&'a RequestBody, Error> {
        match b {
            ReferenceOr::Item(b) => Ok(b),
            ReferenceOr::Reference { reference } => {
                let name = component_name(reference, "requestBodies")?;
                match self.spec.components.as_ref().and_then(|c| c.request_bodies.get(name)) {
                    Some(ReferenceOr::Item(b)) => Ok(b),
                    _ => Err(Error::Spec(format!("{reference}: no such request body"))),
                }
            }
        }
    }

    fn response(&self, r: &'a ReferenceOr<Response>) -> Result<&'a Response, Error> {
        match r {
            ReferenceOr::Item(r) => Ok(r),
            ReferenceOr::Reference { reference } => {
                let name = component_name(reference, "responses")?;
                match self.spec.components.as_ref().and_then(|c| c.responses.get(name)) {
                    Some(ReferenceOr::Item(r)) => Ok(r),
                    _ => Err(Error::Spec(format!("{reference}: no such response"))),
                }
            }
        }
    }

    fn component_schema(&self, name: &str) -> Result<&'a Schema, Error> {
        match self.spec.components.as_ref().and_then(|c| c.schemas.get(name)) {
            Some(ReferenceOr::Item(s)) => Ok(s),
            Some(ReferenceOr::Reference { reference }) => self.component_schema(component_name(reference, "schemas")?),
            None => Err(Error::Spec(format!("no component schema {name}"))),
        }
    }

    fn resolve<'s>(&self, s: &'s ReferenceOr<Schema>) -> Result<&'s Schema, Error>
    where
        'a: 's,
    {
        match s {
            ReferenceOr::Item(s) => Ok(s),
            ReferenceOr::Reference { reference } => self.component_schema(component_name(reference, "schemas")?),
        }
    }

    /// The object a request body describes (through `$ref` and a one-element `allOf`).
    fn object_of<'s>(&self, s: &'s ReferenceOr<Schema>) -> Result<&'s ObjectType, Error>
    where
        'a: 's,
    {
        let schema = self.resolve(s)?;
        match &schema.schema_kind {
            SchemaKind::Type(Type::Object(o)) => Ok(o),
            SchemaKind::AllOf { all_of } if all_of.len() == 1 => self.object_of(&all_of[0]),
            _ => Err(Error::Spec("a request body must be an object".into())),
        }
    }

    fn resolve_boxed<'s>(&self, s: &'s ReferenceOr<Box<Schema>>) -> Result<&'s Schema, Error>
    where
        'a: 's,
    {
        match s {
            ReferenceOr::Item(s) => Ok(s),
            ReferenceOr::Reference { reference } => self.component_schema(component_name(reference, "schemas")?),
        }
    }
}

fn unbox(s: &ReferenceOr<Box<Schema>>) -> ReferenceOr<Schema> {
    match s {
        ReferenceOr::Item(b) => ReferenceOr::Item((**b).clone()),
        ReferenceOr::Reference { reference } => ReferenceOr::Reference { reference: reference.clone() },
    }
}

fn component_name<'r>(reference: &'r str, kind: &str) -> Result<&'r str, Error> {
    reference
        .strip_prefix("#/components/")
        .and_then(|r| r.strip_prefix(kind))
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| Error::Spec(format!("{reference}: expected a reference to #/components/{kind}")))
}

fn code(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}
