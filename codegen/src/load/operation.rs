//! One operation: its names, inputs (path, query, body), responses and access.

use openapiv3::{Parameter, ReferenceOr, RequestBody, StatusCode};

use super::{
    DEFAULT_INVALID_PARAMETER_CODE, FORM, JSON, Loader, Seen, X_ERROR_CODE, X_OPERATION_CODE, access, code,
    component_name, unbox,
};
use crate::ir::{
    BodyKind, Input, ListInfo, Location, Method, Operation, PathPart, Principal, Success, Tag, Ty, TypeDef,
};
use crate::{Error, names};

/// Where an operation sits in the document.
pub(super) struct At<'s, 'p> {
    pub path: &'s str,
    pub method: Method,
    /// The path item's parameters, shared by its operations.
    pub shared: &'s [ReferenceOr<Parameter>],
    pub principals: &'p [Principal],
    pub tags: &'p [Tag],
}

/// The names every input of an operation is read with.
struct Context<'c> {
    id: &'c str,
    request_type: &'c str,
    /// The code of a rejected input without one of its own.
    code: u32,
}

impl Context<'_> {
    fn error(&self, msg: impl std::fmt::Display) -> Error {
        Error::Spec(format!("{}: {msg}", self.id))
    }
}

impl<'a> Loader<'a> {
    pub(super) fn operation(
        &mut self,
        at: &At<'a, '_>,
        op: &'a openapiv3::Operation,
        seen: &mut Seen,
    ) -> Result<Operation, Error> {
        let id = op
            .operation_id
            .clone()
            .ok_or_else(|| Error::Spec(format!("{} {}: no operationId", at.method.as_str(), at.path)))?;
        let request_type = format!("{}Request", names::type_name(&id)?);
        let field_type = format!("{}Field", names::type_name(&id)?);
        let code = match op.extensions.get(X_OPERATION_CODE) {
            Some(v) => code(v).ok_or_else(|| Error::Spec(format!("{id}: {X_OPERATION_CODE} is not a code")))?,
            None => DEFAULT_INVALID_PARAMETER_CODE,
        };
        let cx = Context { id: &id, request_type: &request_type, code };

        let (path_inputs, mut query_inputs) = self.parameter_inputs(&cx, at.shared, &op.parameters)?;
        let (path, mut inputs) = path_parts(&cx, at.path, path_inputs)?;
        inputs.append(&mut query_inputs);
        let mut body_kind = None;
        if let Some(body) = &op.request_body {
            let (kind, mut body_inputs) = self.body_inputs(&cx, body, seen)?;
            body_kind = Some(kind);
            inputs.append(&mut body_inputs);
        }
        names::check_unique(&format!("{id} inputs"), inputs.iter().map(|i| (i.wire.as_str(), i.field.as_str())))?;
        names::check_unique(&format!("{id} fields"), inputs.iter().map(|i| (i.wire.as_str(), i.variant.as_str())))?;

        let (success, error_statuses) = self.responses(&cx, op, seen)?;
        let list = success.body.as_deref().and_then(|name| self.list_info(name));
        let access = access::grants(&id, &op.extensions, at.principals, &inputs)?;
        let tag = match op.tags.as_slice() {
            [tag] => at
                .tags
                .iter()
                .position(|t| &t.name == tag)
                .ok_or_else(|| cx.error(format!("tag {tag} is not declared")))?,
            _ => return Err(cx.error("an operation has exactly one tag (its server trait)")),
        };
        Ok(Operation {
            fn_name: names::field(&id)?,
            id,
            request_type,
            field_type,
            method: at.method,
            path_template: at.path.to_owned(),
            path,
            summary: op.summary.clone(),
            description: op.description.clone(),
            inputs,
            body: body_kind,
            success,
            error_statuses,
            list,
            access,
            tag,
        })
    }

    /// Path and query inputs: the path item's parameters, overridden by the operation's of the
    /// same name.
    fn parameter_inputs(
        &mut self,
        cx: &Context<'_>,
        shared: &'a [ReferenceOr<Parameter>],
        own: &'a [ReferenceOr<Parameter>],
    ) -> Result<(Vec<Input>, Vec<Input>), Error> {
        let mut params: Vec<&Parameter> = Vec::new();
        for p in shared.iter().chain(own) {
            let p = self.parameter(p)?;
            let name = &p.parameter_data_ref().name;
            params.retain(|q| &q.parameter_data_ref().name != name);
            params.push(p);
        }
        let (mut path, mut query) = (Vec::new(), Vec::new());
        for p in params {
            let input = self.parameter_input(cx, p)?;
            match input.location {
                Location::Path => path.push(input),
                _ => query.push(input),
            }
        }
        Ok((path, query))
    }

    fn parameter_input(&mut self, cx: &Context<'_>, p: &Parameter) -> Result<Input, Error> {
        let (location, data) = match p {
            Parameter::Path { parameter_data, .. } => (Location::Path, parameter_data),
            Parameter::Query { parameter_data, .. } => (Location::Query, parameter_data),
            _ => {
                let name = &p.parameter_data_ref().name;
                return Err(cx.error(format!("parameter {name}: only path and query parameters are supported")));
            }
        };
        let openapiv3::ParameterSchemaOrContent::Schema(schema) = &data.format else {
            return Err(cx.error(format!("parameter {}: content is not supported", data.name)));
        };
        let inline_name = format!("{}{}", cx.request_type, names::type_name(&data.name)?);
        let (ty, mut facets) = self.value(schema, &inline_name)?;
        if let Some(v) = data.extensions.get(X_ERROR_CODE) {
            facets.error_code =
                Some(code(v).ok_or_else(|| cx.error(format!("{}: {X_ERROR_CODE} is not a code", data.name)))?);
        }
        let (ty, repeated) = unarray(ty);
        let field = names::field(&data.name)?;
        Ok(Input {
            variant: names::variant(&field)?,
            field,
            wire: data.name.clone(),
            location,
            required: data.required || location == Location::Path,
            ty,
            repeated,
            rules: facets.rules,
            error_code: facets.error_code.unwrap_or(cx.code),
            default: super::schema::default_value(&facets.default),
            doc: data.description.clone().or(facets.doc),
        })
    }

    /// The body's kind and inputs: the properties of its object schema, in spec order.
    fn body_inputs(
        &mut self,
        cx: &Context<'_>,
        body: &'a ReferenceOr<RequestBody>,
        seen: &mut Seen,
    ) -> Result<(BodyKind, Vec<Input>), Error> {
        let body = self.request_body(body)?;
        let (kind, media) = match body.content.iter().collect::<Vec<_>>().as_slice() {
            [(media_type, media)] if *media_type == FORM => (BodyKind::Form, *media),
            [(media_type, media)] if *media_type == JSON => (BodyKind::Json, *media),
            _ => return Err(cx.error(format!("the request body must be either {FORM} or {JSON}"))),
        };
        let schema = media.schema.as_ref().ok_or_else(|| cx.error("the request body has no schema"))?;
        if let ReferenceOr::Reference { reference } = schema {
            seen.request_components.insert(component_name(reference, "schemas")?.to_owned());
        }
        let object = self.object_of(schema).map_err(|e| cx.error(e))?;
        let mut inputs = Vec::new();
        for (wire, prop) in &object.properties {
            let inline_name = format!("{}{}", cx.request_type, names::type_name(wire)?);
            let (ty, facets) = self.value(&unbox(prop), &inline_name)?;
            let (ty, repeated) = unarray(ty);
            if matches!(ty, Ty::Array(_)) {
                return Err(cx.error(format!("{wire}: arrays of arrays are not supported in a request body")));
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
                error_code: facets.error_code.unwrap_or(cx.code),
                default: super::schema::default_value(&facets.default),
                doc: facets.doc,
            });
        }
        Ok((kind, inputs))
    }

    /// The one 2xx answer, and the error statuses (whose bodies must share one schema).
    fn responses(
        &mut self,
        cx: &Context<'_>,
        op: &'a openapiv3::Operation,
        seen: &mut Seen,
    ) -> Result<(Success, Vec<u16>), Error> {
        let mut success = None;
        let mut error_statuses = Vec::new();
        for (status, response) in &op.responses.responses {
            let StatusCode::Code(status) = *status else { return Err(cx.error("status ranges are not supported")) };
            let body = self.response_body(cx, status, response)?;
            match status {
                200..=299 => {
                    if success.is_some() {
                        return Err(cx.error("more than one 2xx response"));
                    }
                    let body = match body {
                        Some(Ty::Struct(name)) => Some(name),
                        Some(other) => {
                            return Err(cx.error(format!("response {status}: body {other:?} is not an object")));
                        }
                        None if status == 204 => None,
                        None => return Err(cx.error(format!("response {status} has no body (only 204 may)"))),
                    };
                    success = Some(Success { status, body });
                }
                400..=599 => {
                    let Some(Ty::Struct(name)) = body else {
                        return Err(cx.error(format!("response {status}: an error must have a JSON body")));
                    };
                    seen.error_types.insert(name);
                    error_statuses.push(status);
                }
                _ => return Err(cx.error(format!("response {status} is not supported"))),
            }
        }
        Ok((success.ok_or_else(|| cx.error("no 2xx response"))?, error_statuses))
    }

    /// The type of a response's JSON body (`None` without content).
    fn response_body(
        &mut self,
        cx: &Context<'_>,
        status: u16,
        response: &'a ReferenceOr<openapiv3::Response>,
    ) -> Result<Option<Ty>, Error> {
        let response = self.response(response)?;
        match response.content.get(JSON) {
            Some(media) => match &media.schema {
                Some(ReferenceOr::Reference { reference }) => {
                    Ok(Some(self.component_ty(component_name(reference, "schemas")?)?))
                }
                _ => Err(cx.error(format!("response {status}: the body must be a $ref to a component schema"))),
            },
            None if response.content.is_empty() => Ok(None),
            None => Err(cx.error(format!("response {status}: only {JSON} bodies are supported"))),
        }
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
}

/// The path's literal segments and parameters, the parameters' inputs in path order.
fn path_parts(cx: &Context<'_>, path: &str, mut declared: Vec<Input>) -> Result<(Vec<PathPart>, Vec<Input>), Error> {
    let mut inputs = Vec::new();
    let mut parts = Vec::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let i = declared
                    .iter()
                    .position(|p| p.wire == name)
                    .ok_or_else(|| cx.error(format!("path parameter {name} is not declared")))?;
                parts.push(PathPart::Param(inputs.len()));
                inputs.push(declared.remove(i));
            }
            None => parts.push(PathPart::Literal(segment.to_owned())),
        }
    }
    if let Some(extra) = declared.first() {
        return Err(cx.error(format!("path parameter {} is not in the path", extra.wire)));
    }
    Ok((parts, inputs))
}

/// An array's item type and `true` (a repeated key), or the type itself and `false`.
fn unarray(ty: Ty) -> (Ty, bool) {
    match ty {
        Ty::Array(item) => (*item, true),
        ty => (ty, false),
    }
}
