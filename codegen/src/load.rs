//! Reads the OpenAPI document into the intermediate model. The only module that knows
//! OpenAPI: every construct the generator does not understand is an error here, never a
//! silent `String`.

use std::collections::{BTreeMap, BTreeSet};

use openapiv3::{
    AdditionalProperties, ArrayType, IntegerType, ObjectType, OpenAPI, Parameter, ReferenceOr, RequestBody, Response,
    Schema, SchemaKind, StatusCode, StringFormat, StringType, Type, VariantOrUnknownOrEmpty,
};
use serde_json::Value;

use crate::ir::{
    Api, DefaultValue, EnumDef, Field, Input, ListInfo, Location, Method, Operation, PathPart, Rules, StructDef,
    Success, Ty, TypeDef,
};
use crate::{Error, names};

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const DEFAULT_INVALID_PARAMETER_CODE: u32 = 60200;
/// Extensions the spec uses (see spec/CONVENTIONS.md).
const X_ERROR_CODE: &str = "x-twilio-error-code";
const X_OPERATION_CODE: &str = "x-twilio-invalid-parameter-code";
const X_JSON_MAX_LENGTH: &str = "x-json-max-length";
const X_ENUM_VARNAMES: &str = "x-enum-varnames";

mod links;

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
        let server = self.spec.servers.first().ok_or_else(|| Error::Spec("no server URL".into()))?;
        let default_base_url = server.url.trim_end_matches('/').to_owned();
        let base_path = match default_base_url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or(String::new(), |i| rest[i..].to_owned()),
            None => return Err(Error::Spec(format!("server URL {default_base_url} is not absolute"))),
        };

        let mut operations = Vec::new();
        let mut request_components = BTreeSet::new();
        let mut error_types = BTreeSet::new();
        for (path, item) in &self.spec.paths.paths {
            let item = item.as_item().ok_or_else(|| Error::Spec(format!("{path}: path item $ref is not supported")))?;
            if item.put.is_some() || item.patch.is_some() || item.head.is_some() || item.options.is_some() {
                return Err(Error::Spec(format!("{path}: only GET, POST and DELETE are supported")));
            }
            for (method, op) in [(Method::Get, &item.get), (Method::Post, &item.post), (Method::Delete, &item.delete)] {
                if let Some(op) = op {
                    let shared: Vec<_> = item.parameters.iter().collect();
                    operations.push(self.operation(
                        path,
                        method,
                        op,
                        &shared,
                        &mut request_components,
                        &mut error_types,
                    )?);
                }
            }
        }
        let error_type = match error_types.len() {
            1 => error_types.into_iter().next().unwrap_or_default(),
            0 => return Err(Error::Spec("no 4xx/5xx response names an error schema".into())),
            _ => return Err(Error::Spec(format!("error responses use several schemas: {error_types:?}"))),
        };

        // Every component schema that is not only a request body is a type of the models crate.
        if let Some(components) = &self.spec.components {
            for name in components.schemas.keys() {
                if !request_components.contains(name) {
                    self.component_ty(name)?;
                }
            }
        }

        names::check_unique("operations", operations.iter().map(|op| (op.id.as_str(), op.fn_name.as_str())))?;
        names::check_unique(
            "types",
            operations
                .iter()
                .flat_map(|op| [(op.id.as_str(), op.request_type.as_str()), (op.id.as_str(), op.field_type.as_str())])
                .chain(self.types.keys().map(|name| (name.as_str(), name.as_str()))),
        )?;

        Ok(Api {
            title: self.spec.info.title.clone(),
            description: self.spec.info.description.clone().unwrap_or_default(),
            base_path,
            default_base_url,
            operations,
            types: self.types,
            error_type,
        })
    }

    fn operation(
        &mut self,
        path: &str,
        method: Method,
        op: &openapiv3::Operation,
        shared_params: &[&ReferenceOr<Parameter>],
        request_components: &mut BTreeSet<String>,
        error_types: &mut BTreeSet<String>,
    ) -> Result<Operation, Error> {
        let id = op
            .operation_id
            .clone()
            .ok_or_else(|| Error::Spec(format!("{} {path}: no operationId", method.as_str())))?;
        let at = |msg: String| Error::Spec(format!("{id}: {msg}"));
        let fn_name = names::field(&id)?;
        let request_type = format!("{}Request", names::type_name(&id)?);
        let field_type = format!("{}Field", names::type_name(&id)?);
        let op_code = match op.extensions.get(X_OPERATION_CODE) {
            Some(v) => code(v).ok_or_else(|| at(format!("{X_OPERATION_CODE} is not a code")))?,
            None => DEFAULT_INVALID_PARAMETER_CODE,
        };

        // Parameters: the path item's, overridden by the operation's of the same name.
        let mut params: Vec<&Parameter> = Vec::new();
        for p in shared_params.iter().copied().chain(op.parameters.iter()) {
            let p = self.parameter(p)?;
            let name = &p.parameter_data_ref().name;
            params.retain(|q| &q.parameter_data_ref().name != name);
            params.push(p);
        }

        let mut path_inputs = Vec::new();
        let mut query_inputs = Vec::new();
        for p in params {
            let (location, data) = match p {
                Parameter::Path { parameter_data, .. } => (Location::Path, parameter_data),
                Parameter::Query { parameter_data, .. } => (Location::Query, parameter_data),
                _ => {
                    return Err(at(format!(
                        "parameter {}: only path and query parameters are supported",
                        p.parameter_data_ref().name
                    )));
                }
            };
            let schema = match &data.format {
                openapiv3::ParameterSchemaOrContent::Schema(s) => s,
                openapiv3::ParameterSchemaOrContent::Content(_) => {
                    return Err(at(format!("parameter {}: content is not supported", data.name)));
                }
            };
            let inline_name = format!("{request_type}{}", names::type_name(&data.name)?);
            let (ty, mut facets) = self.value(schema, &inline_name)?;
            if let Some(v) = data.extensions.get(X_ERROR_CODE) {
                facets.error_code =
                    Some(code(v).ok_or_else(|| at(format!("{}: {X_ERROR_CODE} is not a code", data.name)))?);
            }
            let (ty, repeated) = match ty {
                Ty::Array(item) => (*item, true),
                ty => (ty, false),
            };
            let field = names::field(&data.name)?;
            let input = Input {
                variant: names::variant(&field)?,
                field,
                wire: data.name.clone(),
                location,
                required: data.required || location == Location::Path,
                ty,
                repeated,
                rules: facets.rules,
                error_code: facets.error_code.unwrap_or(op_code),
                default: default_value(&facets.default),
                doc: data.description.clone().or(facets.doc),
            };
            match location {
                Location::Path => path_inputs.push(input),
                _ => query_inputs.push(input),
            }
        }

        // The path, with its parameters in the order they appear in it.
        let mut inputs = Vec::new();
        let mut parts = Vec::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let i = path_inputs
                        .iter()
                        .position(|p| p.wire == name)
                        .ok_or_else(|| at(format!("path parameter {name} is not declared")))?;
                    parts.push(PathPart::Param(inputs.len()));
                    inputs.push(path_inputs.remove(i));
                }
                None => parts.push(PathPart::Literal(segment.to_owned())),
            }
        }
        if let Some(extra) = path_inputs.first() {
            return Err(at(format!("path parameter {} is not in the path", extra.wire)));
        }
        inputs.extend(query_inputs);

        if let Some(body) = &op.request_body {
            let body = self.request_body(body)?;
            let media = body.content.get(FORM).ok_or_else(|| at(format!("the request body must be {FORM}")))?;
            let schema = media.schema.as_ref().ok_or_else(|| at("the request body has no schema".into()))?;
            if let ReferenceOr::Reference { reference } = schema {
                request_components.insert(component_name(reference, "schemas")?.to_owned());
            }
            let object = self.object_of(schema).map_err(|e| at(e.to_string()))?;
            for (wire, prop) in &object.properties {
                let inline_name = format!("{request_type}{}", names::type_name(wire)?);
                let (ty, facets) = self.value(&unbox(prop), &inline_name)?;
                let (ty, repeated) = match ty {
                    Ty::Array(item) => (*item, true),
                    ty => (ty, false),
                };
                if matches!(ty, Ty::Array(_)) {
                    return Err(at(format!("{wire}: arrays of arrays cannot be sent in a form")));
                }
                let field = names::field(wire)?;
                inputs.push(Input {
                    variant: names::variant(&field)?,
                    field,
                    wire: wire.clone(),
                    location: Location::Body,
                    required: object.required.contains(wire),
                    ty,
                    repeated,
                    rules: facets.rules,
                    error_code: facets.error_code.unwrap_or(op_code),
                    default: default_value(&facets.default),
                    doc: facets.doc,
                });
            }
        }
        names::check_unique(&format!("{id} inputs"), inputs.iter().map(|i| (i.wire.as_str(), i.field.as_str())))?;
        names::check_unique(&format!("{id} fields"), inputs.iter().map(|i| (i.wire.as_str(), i.variant.as_str())))?;

        let mut success = None;
        let mut error_statuses = Vec::new();
        for (status, response) in &op.responses.responses {
            let status = match status {
                StatusCode::Code(c) => *c,
                StatusCode::Range(_) => return Err(at("status ranges are not supported".into())),
            };
            let response = self.response(response)?;
            let body = match response.content.get(JSON) {
                Some(media) => match &media.schema {
                    Some(ReferenceOr::Reference { reference }) => {
                        let name = component_name(reference, "schemas")?;
                        Some(self.component_ty(name)?)
                    }
                    _ => return Err(at(format!("response {status}: the body must be a $ref to a component schema"))),
                },
                None if response.content.is_empty() => None,
                None => return Err(at(format!("response {status}: only {JSON} bodies are supported"))),
            };
            match status {
                200..=299 => {
                    if success.is_some() {
                        return Err(at("more than one 2xx response".into()));
                    }
                    let body = match body {
                        Some(Ty::Struct(name)) => Some(name),
                        Some(other) => return Err(at(format!("response {status}: body {other:?} is not an object"))),
                        None if status == 204 => None,
                        None => return Err(at(format!("response {status} has no body (only 204 may)"))),
                    };
                    success = Some(Success { status, body });
                }
                400..=599 => {
                    match body {
                        Some(Ty::Struct(name)) => error_types.insert(name),
                        _ => return Err(at(format!("response {status}: an error must have a JSON body"))),
                    };
                    error_statuses.push(status);
                }
                _ => return Err(at(format!("response {status} is not supported"))),
            }
        }
        let success = success.ok_or_else(|| at("no 2xx response".into()))?;
        let list = match &success.body {
            Some(name) => self.list_info(name),
            None => None,
        };

        Ok(Operation {
            id,
            fn_name,
            request_type,
            field_type,
            method,
            path_template: path.to_owned(),
            path: parts,
            summary: op.summary.clone(),
            description: op.description.clone(),
            inputs,
            success,
            error_statuses,
            list,
        })
    }

    /// A list envelope is an object with `meta` (the pagination meta) and one array.
    fn list_info(&self, name: &str) -> Option<ListInfo> {
        let TypeDef::Struct(def) = self.types.get(name)? else { return None };
        if !def.fields.iter().any(|f| f.json == "meta" && matches!(f.ty, Ty::Struct(_))) {
            return None;
        }
        let mut arrays = def.fields.iter().filter_map(|f| match &f.ty {
            Ty::Array(item) => Some(ListInfo { key: f.json.clone(), field: f.field.clone(), item: (**item).clone() }),
            _ => None,
        });
        let list = arrays.next()?;
        if arrays.next().is_some() { None } else { Some(list) }
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

    /// The type named by a component schema, registering it.
    fn component_ty(&mut self, name: &str) -> Result<Ty, Error> {
        let schema = self.component_schema(name)?;
        let rust_name = names::type_name(name)?;
        let (ty, _) = self.schema_value(schema, &rust_name)?;
        Ok(ty)
    }

    /// The type and facets of a property or parameter schema. `inline_name` names an inline
    /// object or enum that has no `title`.
    fn value(&mut self, s: &ReferenceOr<Schema>, inline_name: &str) -> Result<(Ty, Facets), Error> {
        match s {
            ReferenceOr::Reference { reference } => {
                let name = component_name(reference, "schemas")?;
                let ty = self.component_ty(name)?;
                let schema = self.component_schema(name)?;
                let facets = self.facets(schema, &ty)?;
                Ok((ty, Facets { doc: None, default: None, error_code: None, ..facets }))
            }
            ReferenceOr::Item(schema) => self.schema_value(schema, inline_name),
        }
    }

    fn schema_value(&mut self, schema: &Schema, inline_name: &str) -> Result<(Ty, Facets), Error> {
        let named = schema.schema_data.title.as_deref().map(names::type_name).transpose()?;
        let name = named.as_deref().unwrap_or(inline_name);
        let ty = match &schema.schema_kind {
            SchemaKind::AllOf { all_of } if all_of.len() == 1 => {
                // A wrapper that lets a `$ref` carry extensions, a description or `nullable`.
                let (ty, inner) = self.value(&all_of[0], name)?;
                let outer = self.facets(schema, &ty)?;
                let facets = Facets {
                    rules: if outer.rules.is_empty() { inner.rules } else { outer.rules },
                    nullable: outer.nullable || inner.nullable,
                    error_code: outer.error_code.or(inner.error_code),
                    default: outer.default.or(inner.default),
                    doc: outer.doc.or(inner.doc),
                };
                return Ok((ty, facets));
            }
            SchemaKind::Type(Type::String(s)) => self.string_ty(s, schema, name)?,
            SchemaKind::Type(Type::Integer(i)) => integer_ty(i, name)?,
            SchemaKind::Type(Type::Boolean(_)) => Ty::Boolean,
            SchemaKind::Type(Type::Array(a)) => self.array_ty(a, name)?,
            SchemaKind::Type(Type::Object(o)) => self.object_ty(o, schema, name)?,
            other => return Err(Error::Spec(format!("{name}: unsupported schema {}", kind_name(other)))),
        };
        let facets = self.facets(schema, &ty)?;
        Ok((ty, facets))
    }

    fn string_ty(&mut self, s: &StringType, schema: &Schema, name: &str) -> Result<Ty, Error> {
        if !s.enumeration.is_empty() {
            let values: Vec<String> = s.enumeration.iter().flatten().cloned().collect();
            let variant_names = match schema.schema_data.extensions.get(X_ENUM_VARNAMES) {
                Some(Value::Array(names)) if names.len() == values.len() => names
                    .iter()
                    .map(|n| {
                        n.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| Error::Spec(format!("{name}: {X_ENUM_VARNAMES} must be strings")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err(Error::Spec(format!("{name}: {X_ENUM_VARNAMES} must list one name per value"))),
                None => values.iter().map(|v| names::variant(v)).collect::<Result<Vec<_>, _>>()?,
            };
            names::check_unique(
                &format!("{name} variants"),
                values.iter().map(String::as_str).zip(variant_names.iter().map(String::as_str)),
            )?;
            let def = EnumDef {
                name: name.to_owned(),
                doc: schema.schema_data.description.clone(),
                variants: values.into_iter().zip(variant_names).collect(),
            };
            self.register(TypeDef::Enum(def))?;
            return Ok(Ty::Enum(name.to_owned()));
        }
        if let Some(prefix) = s.pattern.as_deref().and_then(sid_prefix) {
            return Ok(Ty::Sid { prefix });
        }
        Ok(match &s.format {
            VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => Ty::DateTime,
            VariantOrUnknownOrEmpty::Unknown(f) if f == "uri" => Ty::Url,
            VariantOrUnknownOrEmpty::Empty => Ty::String,
            VariantOrUnknownOrEmpty::Unknown(f) if f == "email" => Ty::String,
            other => return Err(Error::Spec(format!("{name}: string format {other:?} is not supported"))),
        })
    }

    fn array_ty(&mut self, a: &ArrayType, name: &str) -> Result<Ty, Error> {
        let items = a.items.as_ref().ok_or_else(|| Error::Spec(format!("{name}: array without items")))?;
        let (item, _) = self.value(&unbox(items), &format!("{name}Item"))?;
        Ok(Ty::Array(Box::new(item)))
    }

    fn object_ty(&mut self, o: &ObjectType, schema: &Schema, name: &str) -> Result<Ty, Error> {
        if o.properties.is_empty() {
            return match &o.additional_properties {
                None | Some(AdditionalProperties::Any(true)) => Ok(Ty::JsonObject),
                Some(AdditionalProperties::Schema(s)) => match self.resolve(s)?.schema_kind {
                    SchemaKind::Type(Type::String(ref st)) if st.enumeration.is_empty() => Ok(Ty::StringMap),
                    _ => Err(Error::Spec(format!("{name}: only maps of strings are supported"))),
                },
                Some(AdditionalProperties::Any(false)) => {
                    Err(Error::Spec(format!("{name}: an object without properties")))
                }
            };
        }
        if self.in_progress.contains(name) {
            return Ok(Ty::Struct(name.to_owned()));
        }
        self.in_progress.insert(name.to_owned());
        let mut fields = Vec::new();
        for (json, prop) in &o.properties {
            let inline_name = format!("{name}{}", names::type_name(json)?);
            let (ty, facets) = self.value(&unbox(prop), &inline_name)?;
            fields.push(Field {
                field: names::field(json)?,
                json: json.clone(),
                ty,
                nullable: facets.nullable || !o.required.contains(json),
                rules: facets.rules,
                doc: facets.doc,
            });
        }
        self.in_progress.remove(name);
        names::check_unique(&format!("{name} fields"), fields.iter().map(|f| (f.json.as_str(), f.field.as_str())))?;
        self.register(TypeDef::Struct(StructDef {
            name: name.to_owned(),
            doc: schema.schema_data.description.clone(),
            fields,
        }))?;
        Ok(Ty::Struct(name.to_owned()))
    }

    fn register(&mut self, def: TypeDef) -> Result<(), Error> {
        let name = match &def {
            TypeDef::Struct(s) => s.name.clone(),
            TypeDef::Enum(e) => e.name.clone(),
        };
        match self.types.get(&name) {
            Some(existing) if *existing != def => {
                Err(Error::Name(format!("two different types are both named {name}")))
            }
            Some(_) => Ok(()),
            None => {
                self.types.insert(name, def);
                Ok(())
            }
        }
    }

    fn facets(&self, schema: &Schema, ty: &Ty) -> Result<Facets, Error> {
        let data = &schema.schema_data;
        let mut rules = Rules::default();
        match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) => {
                rules.min_length = s.min_length.map(|n| n as u64);
                rules.max_length = s.max_length.map(|n| n as u64);
                if !matches!(ty, Ty::Sid { .. } | Ty::Enum(_)) {
                    rules.pattern = s.pattern.clone();
                }
            }
            SchemaKind::Type(Type::Integer(i)) => {
                rules.minimum = i.minimum.map(|m| if i.exclusive_minimum { m + 1 } else { m });
                rules.maximum = i.maximum.map(|m| if i.exclusive_maximum { m - 1 } else { m });
            }
            SchemaKind::Type(Type::Array(a)) => {
                if let Some(items) = &a.items {
                    let item = self.resolve_boxed(items)?;
                    if let Ty::Array(item_ty) = ty {
                        rules = self.facets(item, item_ty)?.rules;
                    }
                }
                rules.min_items = a.min_items.map(|n| n as u64);
                rules.max_items = a.max_items.map(|n| n as u64);
            }
            SchemaKind::Type(Type::Object(o)) if o.properties.is_empty() => {
                rules.max_properties = o.max_properties.map(|n| n as u64);
                if let Some(AdditionalProperties::Schema(values)) = &o.additional_properties
                    && let SchemaKind::Type(Type::String(st)) = &self.resolve(values)?.schema_kind
                {
                    rules.max_value_length = st.max_length.map(|n| n as u64);
                }
            }
            _ => {}
        }
        if let Some(v) = data.extensions.get(X_JSON_MAX_LENGTH) {
            rules.max_length =
                Some(v.as_u64().ok_or_else(|| Error::Spec(format!("{X_JSON_MAX_LENGTH} must be a number")))?);
        }
        let error_code = match data.extensions.get(X_ERROR_CODE) {
            Some(v) => Some(code(v).ok_or_else(|| Error::Spec(format!("{X_ERROR_CODE} {v} is not a code")))?),
            None => None,
        };
        Ok(Facets {
            rules,
            nullable: data.nullable,
            error_code,
            default: data.default.clone(),
            doc: data.description.clone(),
        })
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

fn integer_ty(i: &IntegerType, name: &str) -> Result<Ty, Error> {
    if i.enumeration.is_empty() {
        Ok(Ty::Integer)
    } else {
        Err(Error::Spec(format!("{name}: integer enums are not supported (use minimum/maximum)")))
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

/// `^VA[0-9a-fA-F]{32}$` → `VA`.
fn sid_prefix(pattern: &str) -> Option<String> {
    let prefix = pattern.strip_prefix('^')?.strip_suffix("[0-9a-fA-F]{32}$")?;
    (prefix.len() == 2 && prefix.bytes().all(|b| b.is_ascii_uppercase())).then(|| prefix.to_owned())
}

fn code(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn default_value(v: &Option<Value>) -> Option<DefaultValue> {
    match v.as_ref()? {
        Value::Bool(b) => Some(DefaultValue::Boolean(*b)),
        Value::Number(n) => n.as_i64().map(DefaultValue::Integer),
        Value::String(s) => Some(DefaultValue::String(s.clone())),
        _ => None,
    }
}

fn kind_name(kind: &SchemaKind) -> &'static str {
    match kind {
        SchemaKind::Type(Type::Number(_)) => "number",
        SchemaKind::OneOf { .. } => "oneOf",
        SchemaKind::AnyOf { .. } => "anyOf",
        SchemaKind::AllOf { .. } => "allOf with several members",
        SchemaKind::Not { .. } => "not",
        SchemaKind::Any(_) => "without a type",
        SchemaKind::Type(_) => "type",
    }
}
