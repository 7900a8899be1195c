//! `/v2/SafeList/Numbers` and `/v2/Forms/form-push`: adding, checking and removing a number
//! of the account's Safe List (with the `+` raw or percent-encoded), and the push forms.

use verifyd_models::*;

use crate::common::*;

#[tokio::test]
async fn numbers_are_added_checked_and_removed() {
    let server = TestServer::start().await;
    let added = server.client.create_safelist(&CreateSafelistRequest::new(" +18001234567".into())).await.unwrap();
    assert_eq!(added.sid.prefix(), "GN");
    assert_eq!(added.phone_number, "+18001234567");
    assert_eq!(added.url.as_str(), format!("{}/v2/SafeList/Numbers/+18001234567", server.root));
    let message = assert_error(
        server.client.create_safelist(&CreateSafelistRequest::new("+18001234567".into())).await,
        409,
        60411,
    );
    assert_eq!(message, "The phone number already exists in the SafeList");

    let fetched = server.client.fetch_safelist(&FetchSafelistRequest::new("+18001234567".into())).await.unwrap();
    assert_eq!(fetched, added);
    // Raw: `+` as is, and as `%2B` (twilio-python quotes it).
    let (status, body) = server.raw_get("/v2/SafeList/Numbers/%2B18001234567").await;
    assert_eq!((status, body["sid"].as_str()), (200, Some(added.sid.as_str())));
    assert_eq!(server.raw_get("/v2/SafeList/Numbers/+18001234567").await.0, 200);

    for bad in ["12345", "not a number", "+999123456789", "ada@example.com"] {
        let message =
            assert_error(server.client.create_safelist(&CreateSafelistRequest::new(bad.into())).await, 400, 60200);
        assert_eq!(message, "Invalid parameter: PhoneNumber", "{bad}");
    }
    let missing = FetchSafelistRequest::new("+18001234568".into());
    let message = assert_error(server.client.fetch_safelist(&missing).await, 404, 20404);
    assert_eq!(message, "The requested resource /SafeList/Numbers/+18001234568 was not found");

    // Another account has its own list.
    let b = server.core.create_account("b").await.unwrap();
    let other = server.client_as(b.sid.as_str(), &b.secret);
    assert_error(other.fetch_safelist(&FetchSafelistRequest::new("+18001234567".into())).await, 404, 20404);
    assert_error(other.delete_safelist(&DeleteSafelistRequest::new("+18001234567".into())).await, 404, 20404);
    other.create_safelist(&CreateSafelistRequest::new("+18001234567".into())).await.unwrap();

    server.client.delete_safelist(&DeleteSafelistRequest::new("+18001234567".into())).await.unwrap();
    assert_error(server.client.fetch_safelist(&FetchSafelistRequest::new("+18001234567".into())).await, 404, 20404);
    assert_error(server.client.delete_safelist(&DeleteSafelistRequest::new("+18001234567".into())).await, 404, 20404);
    // The other account's entry is untouched.
    other.fetch_safelist(&FetchSafelistRequest::new("+18001234567".into())).await.unwrap();
    // Added again after removal.
    server.client.create_safelist(&CreateSafelistRequest::new("+18001234567".into())).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_push_forms_are_served_as_json_schema() {
    let server = TestServer::start().await;
    let form = server.client.fetch_form(&FetchFormRequest::new(FormType::FormPush)).await.unwrap();
    assert_eq!(form.form_type, FormType::FormPush);
    assert_eq!(form.url.as_str(), format!("{}/v2/Forms/form-push", server.root));
    let forms = form.forms.expect("forms");
    let mut names: Vec<&str> = forms.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["create_challenge", "create_factor", "verify_factor"]);
    let create = &forms["create_factor"];
    assert_eq!(create["type"], "object");
    assert_eq!(create["properties"]["Binding.Alg"]["const"], "ES256");
    assert!(form.form_meta.is_some_and(|m| !m.is_empty()));
    // Only form-push exists: another type is a value the spec's enum refuses.
    let message = assert_wire_error(&server.raw_get("/v2/Forms/form-sms").await, 400, 60200);
    assert_eq!(message, "Invalid parameter: FormType");
    server.stop().await;
}
