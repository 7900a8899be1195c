//! Who may call what: the document's `x-verifyd-principals` and each operation's
//! `x-verifyd-access` (see spec/CONVENTIONS.md).

use serde_json::Value;

use crate::ir::{Grant, Input, Outside, Principal};
use crate::{Error, names};

pub const X_PRINCIPALS: &str = "x-verifyd-principals";
pub const X_ACCESS: &str = "x-verifyd-access";

/// The principals the document declares: at least one, each with a name that makes a variant.
pub fn principals(extensions: &indexmap::IndexMap<String, Value>) -> Result<Vec<Principal>, Error> {
    let fail = |msg: String| Error::Spec(format!("{X_PRINCIPALS}: {msg}"));
    let Some(Value::Object(declared)) = extensions.get(X_PRINCIPALS) else {
        return Err(fail("missing, or not a map of principal names".into()));
    };
    if declared.is_empty() {
        return Err(fail("declares no principal".into()));
    }
    let mut principals = Vec::new();
    for (name, body) in declared {
        let body = body.as_object().ok_or_else(|| fail(format!("{name} is not a map")))?;
        let claims = match body.get("claims") {
            None => Vec::new(),
            Some(Value::Array(keys)) => keys
                .iter()
                .map(|k| k.as_str().map(str::to_owned).ok_or_else(|| fail(format!("{name}: claims must be wire keys"))))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(fail(format!("{name}: claims must be a list"))),
        };
        let outside = match body.get("outside").and_then(Value::as_str) {
            None if claims.is_empty() => Outside::Unauthenticated,
            Some("unauthenticated") => Outside::Unauthenticated,
            Some("not_found") => Outside::NotFound,
            _ => return Err(fail(format!("{name}: outside must be unauthenticated or not_found"))),
        };
        principals.push(Principal {
            name: name.clone(),
            variant: names::type_name(name)?,
            doc: body.get("description").and_then(Value::as_str).map(str::to_owned),
            claims,
            outside,
        });
    }
    names::check_unique(X_PRINCIPALS, principals.iter().map(|p| (p.name.as_str(), p.variant.as_str())))?;
    Ok(principals)
}

/// An operation's grants: every listed principal must be declared, once; each is bound by
/// the claims the operation has an input for.
pub fn grants(
    id: &str,
    extensions: &indexmap::IndexMap<String, Value>,
    principals: &[Principal],
    inputs: &[Input],
) -> Result<Vec<Grant>, Error> {
    let fail = |msg: String| Error::Spec(format!("{id}: {X_ACCESS}: {msg}"));
    let Some(Value::Array(listed)) = extensions.get(X_ACCESS) else {
        return Err(fail("missing: every operation says who may call it".into()));
    };
    let mut grants: Vec<Grant> = Vec::new();
    for name in listed {
        let name = name.as_str().ok_or_else(|| fail("must list principal names".into()))?;
        let principal = principals
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| fail(format!("{name} is not declared in {X_PRINCIPALS}")))?;
        if grants.iter().any(|g| g.principal == principal) {
            return Err(fail(format!("{name} is listed twice")));
        }
        let bound = principals
            .get(principal)
            .map(|p| p.claims.iter().filter(|c| inputs.iter().any(|i| &i.wire == *c)).cloned().collect())
            .unwrap_or_default();
        grants.push(Grant { principal, bound });
    }
    if grants.is_empty() {
        return Err(fail("lists nobody".into()));
    }
    Ok(grants)
}
