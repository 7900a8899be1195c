//! OpenAPI `links` on success responses. The generator has no use for them: they are for the
//! fuzzer's stateful phase (compat/fuzz), which follows a link from a response to the next
//! request (the `sid` of a new service into the `ServiceSid` of a verification). They are
//! taken out of the document before it is parsed, because openapiv3 2.2 cannot read a link
//! object from YAML (its `Link` flattens an enum inside an untagged `ReferenceOr`, and the
//! crate panics), and checked against the loaded API afterwards, so that a misspelt name
//! fails generation instead of silently leaving the fuzzer without that path.

use serde_yaml::{Mapping, Value};

use crate::Error;
use crate::ir::{Api, Location, Operation, TypeDef};

/// One link, as written, with where it was found.
#[derive(Debug)]
pub struct Link {
    /// `createService 201 FetchService`, for messages.
    place: String,
    source: String,
    target: String,
    /// `(key, expression)`: the key may carry its location (`path.ServiceSid`).
    parameters: Vec<(String, String)>,
    /// Form keys of the target's body.
    body: Vec<(String, String)>,
}

/// Removes every response's `links` from the document, returning them.
pub fn take(doc: &mut Value) -> Result<Vec<Link>, Error> {
    let mut links = Vec::new();
    if let Some(responses) = doc.get_mut("components").and_then(|c| c.get_mut("responses")) {
        for (name, response) in mapping_entries(responses) {
            if response.get("links").is_some() {
                return Err(spec(format!(
                    "#/components/responses/{name}: links belong on an operation's own 2xx response"
                )));
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_mapping_mut) else { return Ok(links) };
    for (_, item) in paths.iter_mut() {
        let Some(item) = item.as_mapping_mut() else { continue };
        for (_, operation) in item.iter_mut() {
            let Some(id) = operation.get("operationId").and_then(Value::as_str).map(str::to_owned) else { continue };
            let Some(responses) = operation.get_mut("responses").and_then(Value::as_mapping_mut) else { continue };
            for (status, response) in responses.iter_mut() {
                let status = scalar(status);
                let Some(found) = response.as_mapping_mut().and_then(|r| r.remove("links")) else { continue };
                if !status.starts_with('2') {
                    return Err(spec(format!("{id}: response {status}: links belong on the 2xx response")));
                }
                let Value::Mapping(found) = found else {
                    return Err(spec(format!("{id}: response {status}: links must be a map")));
                };
                for (name, link) in found {
                    links.push(read(&id, &format!("{id} {status} {}", scalar(&name)), link)?);
                }
            }
        }
    }
    Ok(links)
}

fn read(source: &str, place: &str, link: Value) -> Result<Link, Error> {
    let Value::Mapping(link) = link else { return Err(spec(format!("{place}: a link must be a map"))) };
    let mut target = None;
    let mut parameters = Vec::new();
    let mut body = Vec::new();
    for (key, value) in link {
        match scalar(&key).as_str() {
            "operationId" => target = value.as_str().map(str::to_owned),
            "parameters" => parameters = expressions(place, value)?,
            "requestBody" => body = expressions(place, value)?,
            "description" => {}
            other => return Err(spec(format!("{place}: `{other}` is not supported in a link (use operationId)"))),
        }
    }
    let target = target.ok_or_else(|| spec(format!("{place}: a link needs an operationId")))?;
    Ok(Link { place: place.to_owned(), source: source.to_owned(), target, parameters, body })
}

/// A map of keys to runtime expressions.
fn expressions(place: &str, value: Value) -> Result<Vec<(String, String)>, Error> {
    let Value::Mapping(map) = value else {
        return Err(spec(format!("{place}: parameters and requestBody must be maps")));
    };
    map.into_iter()
        .map(|(key, value)| match value {
            Value::String(expression) => Ok((scalar(&key), expression)),
            _ => Err(spec(format!("{place}: {}: the value must be a runtime expression", scalar(&key)))),
        })
        .collect()
}

/// Checks every link against the API: the target exists, each key is one of its inputs in the
/// right place, and each expression names a field of the source's answer or one of its inputs.
pub fn check(api: &Api, links: &[Link]) -> Result<(), Error> {
    for link in links {
        let at = |msg: String| spec(format!("{}: {msg}", link.place));
        let source = api.operation(&link.source).ok_or_else(|| at(format!("no operation {}", link.source)))?;
        let target = api.operation(&link.target).ok_or_else(|| at(format!("no operation {}", link.target)))?;
        for (key, expression) in &link.parameters {
            let (wanted, name) = match key.split_once('.') {
                Some(("path", name)) => (Some(Location::Path), name),
                Some(("query", name)) => (Some(Location::Query), name),
                _ => (None, key.as_str()),
            };
            let found = target
                .inputs
                .iter()
                .any(|i| i.wire == name && i.location != Location::Body && wanted.is_none_or(|w| w == i.location));
            if !found {
                return Err(at(format!("{} has no path or query parameter {key}", target.id)));
            }
            check_expression(api, source, expression).map_err(at)?;
        }
        for (key, expression) in &link.body {
            if !target.inputs.iter().any(|i| i.wire == *key && i.location == Location::Body) {
                return Err(at(format!("{} has no body key {key}", target.id)));
            }
            check_expression(api, source, expression).map_err(at)?;
        }
    }
    Ok(())
}

/// `$response.body#/field…` (a field of the source's success body) or `$request.path.Name` /
/// `$request.query.Name` (one of the source's inputs).
fn check_expression(api: &Api, source: &Operation, expression: &str) -> Result<(), String> {
    if let Some(pointer) = expression.strip_prefix("$response.body#/") {
        let field = pointer.split('/').next().unwrap_or_default();
        let body = source.success.body.as_deref().and_then(|name| api.types.get(name));
        return match body {
            Some(TypeDef::Struct(def)) if def.fields.iter().any(|f| f.json == field) => Ok(()),
            _ => Err(format!("{expression}: the answer of {} has no field {field}", source.id)),
        };
    }
    let request = |location: Location, name: &str| {
        if source.inputs.iter().any(|i| i.location == location && i.wire == name) {
            Ok(())
        } else {
            Err(format!("{expression}: {} has no such parameter", source.id))
        }
    };
    if let Some(name) = expression.strip_prefix("$request.path.") {
        return request(Location::Path, name);
    }
    if let Some(name) = expression.strip_prefix("$request.query.") {
        return request(Location::Query, name);
    }
    Err(format!("{expression}: only $response.body#/…, $request.path.… and $request.query.… are supported"))
}

fn mapping_entries(value: &Value) -> Vec<(String, &Value)> {
    value.as_mapping().map(Mapping::iter).into_iter().flatten().map(|(k, v)| (scalar(k), v)).collect()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn spec(message: String) -> Error {
    Error::Spec(message)
}
