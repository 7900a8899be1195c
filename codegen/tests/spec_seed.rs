//! `spec/seed/` is provenance: the seed document the spec started from, restored to YAML.
//!
//! These tests port `spec/seed/check_seed.py` (the restored seed is the original text with its
//! line breaks back) and `spec/seed/check_spec_keeps_seed.py` (`spec/openapi.yaml` still has
//! every operation, parameter, schema, property and enum value the seed named).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const FORM: &str = "application/x-www-form-urlencoded";
const MAX_DEPTH: usize = 32;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn read(relative: &str) -> String {
    let path = repo_file(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn load_yaml(relative: &str) -> Value {
    serde_yaml::from_str(&read(relative)).unwrap_or_else(|e| panic!("parsing {relative}: {e}"))
}

fn seed() -> Value {
    load_yaml("spec/seed/twilio-verify-v2.seed.yaml")
}

fn spec() -> Value {
    load_yaml("spec/openapi.yaml")
}

// ---------------------------------------------------------------------------------------------
// The restored seed is the original seed
// ---------------------------------------------------------------------------------------------

/// The tokens of `text`: its runs of non-whitespace, in order.
fn tokens(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// Where two token lists first differ, with eight tokens of context on each side.
fn first_difference(a: &[&str], b: &[&str]) -> Option<String> {
    let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    if i == a.len() && i == b.len() {
        return None;
    }
    let context = |t: &[&str]| t[i.saturating_sub(8)..(i + 8).min(t.len())].join(" ");
    Some(format!(
        "tokens differ at token {i} (of {} and {}):\n  original: {}\n  restored: {}",
        a.len(),
        b.len(),
        context(a),
        context(b)
    ))
}

#[test]
fn restored_seed_equals_the_seed_text() {
    let original = read("spec/seed/twilio-verify-v2.seed.txt");
    let restored = read("spec/seed/twilio-verify-v2.seed.yaml");

    let (a, b) = (tokens(&original), tokens(&restored));
    assert!(a.len() > 1000, "the original seed has only {} tokens", a.len());
    if let Some(difference) = first_difference(&a, &b) {
        panic!("the restored seed is not the original seed once whitespace is collapsed: {difference}");
    }
    // The same comparison on the collapsed texts, as the Python check does it.
    assert!(a.join(" ") == b.join(" "), "collapsed texts differ");

    assert!(original.lines().count() <= 2, "the original seed is expected to be one line");
    assert!(restored.lines().count() > 100, "the restored seed is still (nearly) one line");
    assert!(!restored.contains('\t'), "the restored seed contains tab characters");
    let odd: Vec<usize> = restored
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && (line.len() - line.trim_start_matches(' ').len()) % 2 == 1)
        .map(|(n, _)| n + 1)
        .collect();
    assert!(odd.is_empty(), "lines not indented by a multiple of 2 spaces: {odd:?}");

    let doc: Value = serde_yaml::from_str(&restored).unwrap_or_else(|e| panic!("the restored seed is not YAML: {e}"));
    assert_eq!(doc.get("openapi").and_then(Value::as_str), Some("3.1.0"));
    let paths = doc.get("paths").and_then(Value::as_mapping).map_or(0, Mapping::len);
    let schemas =
        doc.get("components").and_then(|c| c.get("schemas")).and_then(Value::as_mapping).map_or(0, Mapping::len);
    assert_eq!((paths, schemas), (12, 10), "(paths, schemas) of the restored seed");
}

#[test]
fn token_comparison_finds_a_changed_token() {
    let original = "a: b\nc: [d, e]";
    assert_eq!(first_difference(&tokens(original), &tokens("a:   b c:\n  [d, e]")), None);
    let found = first_difference(&tokens(original), &tokens("a: b c: [d, f]")).expect("a difference");
    assert!(found.contains("token 4"), "{found}");
    let shorter = first_difference(&tokens(original), &tokens("a: b c:")).expect("a difference");
    assert!(shorter.contains("token 3"), "{shorter}");
}

// ---------------------------------------------------------------------------------------------
// The spec keeps every name of the seed (a port of check_spec_keeps_seed.py)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    operations: usize,
    parameters: usize,
    schemas: usize,
    properties: usize,
}

#[derive(Debug, Default)]
struct Report {
    failures: Vec<String>,
    counts: Counts,
}

/// A mapping key as text (keys of OpenAPI documents are strings; others are shown as YAML).
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// A value as the Python check prints it (`'sms'`, `6`).
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Value::Null => "None".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Equality as Python's `==` has it for YAML scalars: `6 == 6.0`.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

/// Follows a chain of local `$ref`s.
fn deref<'a>(doc: &'a Value, node: &'a Value) -> Result<&'a Value, String> {
    let mut node = node;
    let mut seen = Vec::new();
    while let Some(reference) = node.get("$ref") {
        let reference = reference.as_str().ok_or_else(|| format!("$ref is not a string: {reference:?}"))?;
        if !reference.starts_with("#/") || seen.iter().any(|r| r == reference) {
            return Err(format!("unsupported or cyclic $ref '{reference}'"));
        }
        seen.push(reference.to_owned());
        let mut target = doc;
        for part in reference[2..].split('/') {
            let part = part.replace("~1", "/").replace("~0", "~");
            target = target.get(part.as_str()).ok_or_else(|| format!("$ref '{reference}' points nowhere"))?;
        }
        node = target;
    }
    Ok(node)
}

fn as_mapping(node: &Value) -> Result<Mapping, String> {
    match node {
        Value::Mapping(m) => Ok(m.clone()),
        Value::Null => Ok(Mapping::new()),
        other => Err(format!("schema is not a mapping: {other:?}")),
    }
}

fn properties_of(node: &Mapping) -> Mapping {
    node.get("properties").and_then(Value::as_mapping).cloned().unwrap_or_default()
}

/// A view of a schema with `$ref` resolved and `allOf` members merged in; its `properties`
/// key is always present.
fn merged(doc: &Value, schema: &Value, depth: usize) -> Result<Mapping, String> {
    if depth > MAX_DEPTH {
        return Err("schema nesting too deep".to_owned());
    }
    let schema = as_mapping(deref(doc, schema)?)?;
    let mut properties = properties_of(&schema);
    let mut out: Mapping =
        schema.iter().filter(|(k, _)| k.as_str() != Some("allOf")).map(|(k, v)| (k.clone(), v.clone())).collect();
    let members = schema.get("allOf").and_then(Value::as_sequence).cloned().unwrap_or_default();
    for member in &members {
        let m = merged(doc, member, depth + 1)?;
        for (name, sub) in properties_of(&m) {
            if !properties.contains_key(&name) {
                properties.insert(name, sub);
            }
        }
        for (key, value) in m {
            if key.as_str() != Some("properties") && !out.contains_key(&key) {
                out.insert(key, value);
            }
        }
    }
    out.insert(Value::from("properties"), Value::Mapping(properties));
    Ok(out)
}

type Nodes = Vec<(Vec<String>, Mapping)>;

/// Every path of property names under `schema` (`[]` for array items), with its merged node,
/// in document order.
fn collect(doc: &Value, schema: &Value, prefix: Vec<String>, out: &mut Nodes, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("schema nesting too deep at {}", prefix.join("/")));
    }
    let node = merged(doc, schema, 0)?;
    let properties = properties_of(&node);
    let items = node.get("items").filter(|items| !items.is_null()).cloned();
    out.push((prefix.clone(), node));
    for (name, sub) in &properties {
        let mut path = prefix.clone();
        path.push(key_text(name));
        collect(doc, sub, path, out, depth + 1)?;
    }
    if let Some(items) = items {
        let mut path = prefix;
        path.push("[]".to_owned());
        collect(doc, &items, path, out, depth + 1)?;
    }
    Ok(())
}

/// Whether the spec's node keeps a seed enum value: it lists it, or (for an integer) it is an
/// integer without an enum whose bounds admit it.
fn enum_kept(value: &Value, node: &Mapping) -> bool {
    let listed = node.get("enum").and_then(Value::as_sequence).filter(|e| !e.is_empty());
    if listed.is_some_and(|values| values.iter().any(|v| same_value(v, value))) {
        return true;
    }
    let Some(n) = value.as_i64() else { return false };
    if node.get("type").and_then(Value::as_str) != Some("integer") || listed.is_some() {
        return false;
    }
    let bound = |key: &str| node.get(key).and_then(Value::as_f64);
    let n = n as f64;
    bound("minimum").is_none_or(|lo| lo <= n) && bound("maximum").is_none_or(|hi| n <= hi)
}

fn compare_schemas(
    seed: &Value,
    spec: &Value,
    seed_schema: &Value,
    spec_schema: &Value,
    place: &str,
    failures: &mut Vec<String>,
) -> usize {
    let mut seed_nodes = Nodes::new();
    if let Err(e) = collect(seed, seed_schema, Vec::new(), &mut seed_nodes, 0) {
        failures.push(format!("{place}: the seed's schema cannot be read: {e}"));
        return 0;
    }
    let mut spec_list = Nodes::new();
    if let Err(e) = collect(spec, spec_schema, Vec::new(), &mut spec_list, 0) {
        failures.push(format!("{place}: the spec's schema cannot be read: {e}"));
        return 0;
    }
    let spec_nodes: HashMap<Vec<String>, Mapping> = spec_list.into_iter().collect();
    let mut checked = 0;
    for (path, node) in &seed_nodes {
        let label = format!("{place}{}", path.iter().map(|p| format!(".{p}")).collect::<String>());
        let Some(spec_node) = spec_nodes.get(path) else {
            failures.push(format!("{label}: property missing from the spec"));
            continue;
        };
        checked += 1;
        for value in node.get("enum").and_then(Value::as_sequence).into_iter().flatten() {
            if !enum_kept(value, spec_node) {
                failures.push(format!("{label}: enum value {} missing from the spec", show(value)));
            }
        }
    }
    checked
}

/// `(path, method, path item, operation)` for every operation of `doc`.
fn operations(doc: &Value) -> Vec<(String, &'static str, &Value, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc.get("paths").and_then(Value::as_mapping).into_iter().flatten() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((key_text(path), method, item, op));
            }
        }
    }
    out
}

/// The parameters of an operation (its path item's, then its own) by `(name, in)`.
fn params_of<'a>(
    doc: &'a Value,
    item: &'a Value,
    op: &'a Value,
) -> Result<BTreeMap<(String, String), &'a Value>, String> {
    let mut out = BTreeMap::new();
    let listed = [item, op].into_iter().filter_map(|node| node.get("parameters")).filter_map(Value::as_sequence);
    for p in listed.flatten() {
        let p = deref(doc, p)?;
        let field = |key: &str| {
            p.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| format!("a parameter has no {key}"))
        };
        out.insert((field("name")?, field("in")?), p);
    }
    Ok(out)
}

/// The schema of an operation's form body, if it has one.
fn form_schema<'a>(doc: &'a Value, op: &'a Value) -> Result<Option<&'a Value>, String> {
    let Some(body) = op.get("requestBody") else { return Ok(None) };
    let body = deref(doc, body)?;
    Ok(body.get("content").and_then(|c| c.get(FORM)).and_then(|media| media.get("schema")))
}

fn components<'a>(doc: &'a Value, kind: &str) -> Option<&'a Mapping> {
    doc.get("components").and_then(|c| c.get(kind)).and_then(Value::as_mapping)
}

/// Everything the seed names that the spec lost, and how much was checked.
fn check_spec_keeps_seed(seed: &Value, spec: &Value) -> Report {
    let mut report = Report::default();
    let failures = &mut report.failures;
    let counts = &mut report.counts;
    let no_schema = Value::Mapping(Mapping::new());

    for (path, method, item, op) in operations(seed) {
        let place = format!("{} {path}", method.to_uppercase());
        let spec_item = spec.get("paths").and_then(|paths| paths.get(path.as_str()));
        let Some((spec_item, spec_op)) = spec_item.and_then(|i| i.get(method).map(|op| (i, op))) else {
            failures.push(format!("{place}: operation missing from the spec"));
            continue;
        };
        if spec_op.get("operationId") != op.get("operationId") {
            failures.push(format!(
                "{place}: operationId {} became {}",
                op.get("operationId").map_or("None".to_owned(), show),
                spec_op.get("operationId").map_or("None".to_owned(), show)
            ));
        }
        counts.operations += 1;

        match (params_of(seed, item, op), params_of(spec, spec_item, spec_op)) {
            (Ok(seed_params), Ok(spec_params)) => {
                for (key, param) in &seed_params {
                    let Some(spec_param) = spec_params.get(key) else {
                        failures.push(format!("{place}: parameter {} (in {}) missing", key.0, key.1));
                        continue;
                    };
                    counts.parameters += 1;
                    if let Some(schema) = param.get("schema") {
                        counts.properties += compare_schemas(
                            seed,
                            spec,
                            schema,
                            spec_param.get("schema").unwrap_or(&no_schema),
                            &format!("{place} parameter {}", key.0),
                            failures,
                        );
                    }
                }
            }
            (Err(e), _) | (_, Err(e)) => failures.push(format!("{place}: parameters cannot be read: {e}")),
        }

        match (form_schema(seed, op), form_schema(spec, spec_op)) {
            (Ok(None), _) => {}
            (Ok(Some(_)), Ok(None)) => failures.push(format!("{place}: form body missing from the spec")),
            (Ok(Some(seed_body)), Ok(Some(spec_body))) => {
                counts.properties +=
                    compare_schemas(seed, spec, seed_body, spec_body, &format!("{place} body"), failures);
            }
            (Err(e), _) | (_, Err(e)) => failures.push(format!("{place}: form body cannot be read: {e}")),
        }
    }

    let spec_schemas = components(spec, "schemas");
    for (name, schema) in components(seed, "schemas").into_iter().flatten() {
        let name = key_text(name);
        let Some(spec_schema) = spec_schemas.and_then(|s| s.get(name.as_str())) else {
            failures.push(format!("components.schemas.{name}: schema missing from the spec"));
            continue;
        };
        counts.schemas += 1;
        counts.properties += compare_schemas(seed, spec, schema, spec_schema, &name, failures);
    }

    let spec_params = components(spec, "parameters");
    for name in components(seed, "parameters").into_iter().flatten().map(|(name, _)| key_text(name)) {
        if !spec_params.is_some_and(|p| p.contains_key(name.as_str())) {
            failures.push(format!("components.parameters.{name}: parameter missing from the spec"));
        }
    }
    report
}

#[test]
fn spec_keeps_every_seed_name() {
    let report = check_spec_keeps_seed(&seed(), &spec());
    assert!(
        report.failures.is_empty(),
        "spec/openapi.yaml lost {} thing(s) the seed names:\n  {}\n({:?})",
        report.failures.len(),
        report.failures.join("\n  "),
        report.counts
    );
    // What check_spec_keeps_seed.py reports; a traversal that checks less is broken.
    let Counts { operations, parameters, schemas, properties } = report.counts;
    assert!(operations >= 22, "only {operations} operations checked");
    assert!(parameters >= 31, "only {parameters} parameters checked");
    assert!(schemas >= 10, "only {schemas} schemas checked");
    assert!(properties >= 282, "only {properties} property paths checked");
}

/// Removes `key` from the mapping at `path` (each step a mapping key) of `doc`.
fn remove_at(doc: &mut Value, path: &[&str], key: &str) {
    let mut node = doc;
    for step in path {
        node = node.get_mut(*step).unwrap_or_else(|| panic!("no {step} in {path:?}"));
    }
    let removed = node.as_mapping_mut().and_then(|m| m.remove(key));
    assert!(removed.is_some(), "{path:?} has no {key}");
}

fn assert_reports(failures: &[String], wanted: &[&str]) {
    for want in wanted {
        assert!(
            failures.iter().any(|f| f == want),
            "expected {want:?} among the failures:\n  {}",
            failures.join("\n  ")
        );
    }
}

#[test]
fn the_checker_reports_a_lost_enum_value_and_a_lost_property() {
    let seed = seed();
    let mut spec = spec();
    // `sms` out of the spec's channel enum.
    let channels = spec
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(|s| s.get_mut("VerificationChannel"))
        .and_then(|s| s.get_mut("enum"))
        .and_then(Value::as_sequence_mut)
        .expect("components.schemas.VerificationChannel.enum");
    let before = channels.len();
    channels.retain(|v| v.as_str() != Some("sms"));
    assert_eq!(channels.len(), before - 1, "the spec's channel enum had no sms");
    // `Locale` out of the form body of createVerification.
    remove_at(&mut spec, &["components", "schemas", "CreateVerificationRequest", "properties"], "Locale");

    let report = check_spec_keeps_seed(&seed, &spec);
    assert_reports(
        &report.failures,
        &[
            "POST /Services/{ServiceSid}/Verifications body.Channel: enum value 'sms' missing from the spec",
            "CreateVerificationRequest.Channel: enum value 'sms' missing from the spec",
            "Verification.channel: enum value 'sms' missing from the spec",
            "VerificationCheck.channel: enum value 'sms' missing from the spec",
            "POST /Services/{ServiceSid}/Verifications body.Locale: property missing from the spec",
            "CreateVerificationRequest.Locale: property missing from the spec",
        ],
    );
    assert!(
        report.failures.iter().all(|f| f.contains("'sms'") || f.contains(".Locale:")),
        "unexpected failures:\n  {}",
        report.failures.join("\n  ")
    );
}

#[test]
fn the_checker_reports_lost_operations_parameters_and_schemas() {
    let seed = seed();
    let mut spec = spec();
    let op = spec
        .get_mut("paths")
        .and_then(|p| p.get_mut("/Services/{ServiceSid}/Verifications"))
        .and_then(|i| i.get_mut("post"))
        .and_then(Value::as_mapping_mut)
        .expect("POST /Services/{ServiceSid}/Verifications");
    op.insert(Value::from("operationId"), Value::from("startVerification"));
    op.remove("parameters");
    remove_at(&mut spec, &["paths", "/Services/{ServiceSid}/Webhooks"], "post");
    remove_at(&mut spec, &["components", "parameters"], "ServiceSid");
    remove_at(&mut spec, &["components", "schemas"], "PaginationMeta");

    let report = check_spec_keeps_seed(&seed, &spec);
    assert_reports(
        &report.failures,
        &[
            "POST /Services/{ServiceSid}/Verifications: operationId 'createVerification' became 'startVerification'",
            "POST /Services/{ServiceSid}/Verifications: parameter ServiceSid (in path) missing",
            "POST /Services/{ServiceSid}/Webhooks: operation missing from the spec",
            "components.parameters.ServiceSid: parameter missing from the spec",
            "components.schemas.PaginationMeta: schema missing from the spec",
        ],
    );
}

#[test]
fn integer_enum_values_are_kept_by_bounds() {
    let node = |yaml: &str| -> Mapping { serde_yaml::from_str(yaml).expect("YAML") };
    let bounded = node("{type: integer, minimum: 3, maximum: 8}");
    assert!(enum_kept(&Value::from(6), &bounded));
    assert!(enum_kept(&Value::from(8), &bounded));
    assert!(!enum_kept(&Value::from(9), &bounded));
    assert!(!enum_kept(&Value::from(2), &bounded));
    assert!(!enum_kept(&Value::from("6"), &bounded));
    assert!(enum_kept(&Value::from(1_000), &node("{type: integer}")));
    assert!(!enum_kept(&Value::from(6), &node("{type: string, minimum: 3}")));
    assert!(!enum_kept(&Value::from(6), &node("{type: integer, enum: [4, 8]}")));
    assert!(enum_kept(&Value::from(6), &node("{type: integer, enum: [6.0]}")));
    assert!(enum_kept(&Value::from("sms"), &node("{type: string, enum: [call, sms]}")));
    assert!(!enum_kept(&Value::from("sms"), &node("{type: string, enum: [call]}")));
}

#[test]
fn schemas_are_followed_through_refs_all_of_and_items() {
    let doc: Value = serde_yaml::from_str(
        r"
components:
  schemas:
    Outer:
      allOf:
        - $ref: '#/components/schemas/Base'
      properties:
        list:
          type: array
          items:
            $ref: '#/components/schemas/Item'
    Base:
      properties:
        base: {type: string}
        list: {type: string}
    Item:
      properties:
        label: {type: string, enum: [a]}
",
    )
    .expect("YAML");
    let mut nodes = Nodes::new();
    let outer: Value = serde_yaml::from_str("$ref: '#/components/schemas/Outer'").expect("YAML");
    collect(&doc, &outer, Vec::new(), &mut nodes, 0).expect("collect");
    let paths: Vec<String> = nodes.iter().map(|(p, _)| p.join(".")).collect();
    assert_eq!(paths, ["", "list", "list.[]", "list.[].label", "base"]);
    // The schema's own `list` wins over the allOf member's.
    assert_eq!(nodes[1].1.get("type").and_then(Value::as_str), Some("array"));

    let cyclic: Value = serde_yaml::from_str("a: {$ref: '#/b'}\nb: {$ref: '#/a'}").expect("YAML");
    let start = cyclic.get("a").expect("a");
    assert!(deref(&cyclic, start).is_err(), "a cyclic $ref must be an error");
}
