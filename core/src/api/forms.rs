//! `/Forms/{FormType}`: the forms a push factor's app and its backend fill in, as JSON
//! Schema. The forms are data (`core/forms/*.json`), read once; nothing here knows a field.

use std::sync::OnceLock;

use serde_json::{Map, Value};
use verifyd_models::{FetchFormRequest, FormType, VerifyForm};
use verifyd_server::{FormsApi, Reply};

use crate::store::Store;
use crate::{Core, CoreError, Principal};

const FORM_PUSH: &str = include_str!("../../forms/form-push.json");

/// The forms of a type and what they share: (`forms`, `form_meta`).
fn forms_of(form_type: FormType) -> &'static (Map<String, Value>, Map<String, Value>) {
    static PUSH: OnceLock<(Map<String, Value>, Map<String, Value>)> = OnceLock::new();
    match form_type {
        FormType::FormPush => PUSH.get_or_init(|| parse(FORM_PUSH)),
    }
}

/// A bundled form file; a test checks each parses, so the fallback (empty) never serves.
fn parse(text: &str) -> (Map<String, Value>, Map<String, Value>) {
    let mut file: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
    let mut take = |key: &str| match file.remove(key) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    (take("forms"), take("form_meta"))
}

impl<S: Store> FormsApi for Core<S> {
    async fn fetch_form(&self, _principal: &Principal, r: FetchFormRequest) -> Result<Reply<VerifyForm>, CoreError> {
        let (forms, form_meta) = forms_of(r.form_type);
        Ok(Reply::new(VerifyForm {
            form_type: r.form_type.into(),
            forms: Some(forms.clone()),
            form_meta: Some(form_meta.clone()),
            url: self.urls.at(&format!("/Forms/{}", r.form_type.as_str()))?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_forms_are_json_schema_objects() {
        let (forms, meta) = parse(FORM_PUSH);
        for name in ["create_factor", "verify_factor", "create_challenge"] {
            let form = forms.get(name).and_then(Value::as_object).unwrap_or_else(|| panic!("{name} is missing"));
            assert_eq!(form.get("type"), Some(&Value::from("object")), "{name}");
            assert!(form.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty()), "{name}");
            let required = form.get("required").and_then(Value::as_array).expect("required keys");
            let properties = form.get("properties").and_then(Value::as_object).expect("properties");
            assert!(required.iter().all(|k| k.as_str().is_some_and(|k| properties.contains_key(k))), "{name}");
        }
        assert!(!meta.is_empty());
    }
}
