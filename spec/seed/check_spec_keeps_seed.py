#!/usr/bin/env python3
"""Check that spec/openapi.yaml keeps everything the seed named.

For every seed path and method: the same operationId; every seed parameter (name and
location) of that operation. For every seed component schema and every seed form body:
every property, compared by its path of property names (following $ref, allOf and
array items on both sides), and every enum value. An integer enum value counts as
kept when the spec's node is an integer whose minimum/maximum admit it.

Usage: check_spec_keeps_seed.py [SEED_YAML] [SPEC_YAML]
Defaults: seed/twilio-verify-v2.seed.yaml next to this script, and ../openapi.yaml.
Needs PyYAML. Exits non-zero on failure.
"""
import os
import sys

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("check_spec_keeps_seed.py needs PyYAML (pip install pyyaml)")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SEED = os.path.join(HERE, "twilio-verify-v2.seed.yaml")
DEFAULT_SPEC = os.path.join(os.path.dirname(HERE), "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FORM = "application/x-www-form-urlencoded"


def deref(doc, node, seen=None):
    """Follow a chain of local $refs."""
    seen = set() if seen is None else seen
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError("unsupported or cyclic $ref %r" % ref)
        seen.add(ref)
        target = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target[part]
        node = target
    return node


def merged(doc, schema, depth=0):
    """A view of a schema with $ref resolved and allOf members merged in."""
    if depth > 32:
        raise ValueError("schema nesting too deep")
    schema = deref(doc, schema) or {}
    out = {k: v for k, v in schema.items() if k != "allOf"}
    out["properties"] = dict(schema.get("properties") or {})
    for member in schema.get("allOf") or []:
        m = merged(doc, member, depth + 1)
        for name, sub in m["properties"].items():
            out["properties"].setdefault(name, sub)
        for key, value in m.items():
            if key != "properties":
                out.setdefault(key, value)
    return out


def collect(doc, schema, prefix, out, depth=0):
    """Map every path of property names under `schema` to its merged node."""
    if depth > 32:
        raise ValueError("schema nesting too deep at %s" % "/".join(prefix))
    node = merged(doc, schema)
    out[prefix] = node
    for name, sub in node["properties"].items():
        collect(doc, sub, prefix + (name,), out, depth + 1)
    if node.get("items") is not None:
        collect(doc, node["items"], prefix + ("[]",), out, depth + 1)
    return out


def enum_kept(value, node):
    if value in (node.get("enum") or []):
        return True
    if isinstance(value, int) and not isinstance(value, bool) \
            and node.get("type") == "integer" and not node.get("enum"):
        lo, hi = node.get("minimum"), node.get("maximum")
        return (lo is None or lo <= value) and (hi is None or value <= hi)
    return False


def compare_schemas(seed, spec, seed_schema, spec_schema, where, failures):
    seed_nodes = collect(seed, seed_schema, (), {})
    spec_nodes = collect(spec, spec_schema, (), {})
    checked = 0
    for path, node in seed_nodes.items():
        label = "%s%s" % (where, "".join("." + p for p in path))
        if path not in spec_nodes:
            failures.append("%s: property missing from the spec" % label)
            continue
        checked += 1
        for value in node.get("enum") or []:
            if not enum_kept(value, spec_nodes[path]):
                failures.append("%s: enum value %r missing from the spec" % (label, value))
    return checked


def operations(doc):
    for path, item in (doc.get("paths") or {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item, item[method]


def params_of(doc, item, op):
    out = {}
    for p in list(item.get("parameters") or []) + list(op.get("parameters") or []):
        p = deref(doc, p)
        out[(p["name"], p["in"])] = p
    return out


def form_schema(doc, op):
    body = op.get("requestBody")
    if body is None:
        return None
    body = deref(doc, body)
    media = (body.get("content") or {}).get(FORM)
    return None if media is None else media.get("schema")


def main(argv):
    seed_path = argv[1] if len(argv) > 1 else DEFAULT_SEED
    spec_path = argv[2] if len(argv) > 2 else DEFAULT_SPEC
    with open(seed_path, encoding="utf-8") as f:
        seed = yaml.safe_load(f)
    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)

    failures = []
    counts = dict(operations=0, parameters=0, properties=0, schemas=0)

    for path, method, item, op in operations(seed):
        where = "%s %s" % (method.upper(), path)
        spec_item = (spec.get("paths") or {}).get(path)
        if spec_item is None or method not in spec_item:
            failures.append("%s: operation missing from the spec" % where)
            continue
        spec_op = spec_item[method]
        if spec_op.get("operationId") != op.get("operationId"):
            failures.append("%s: operationId %r became %r" % (
                where, op.get("operationId"), spec_op.get("operationId")))
        counts["operations"] += 1

        spec_params = params_of(spec, spec_item, spec_op)
        for key, param in params_of(seed, item, op).items():
            if key not in spec_params:
                failures.append("%s: parameter %s (in %s) missing" % (where, key[0], key[1]))
                continue
            counts["parameters"] += 1
            if "schema" in param:
                counts["properties"] += compare_schemas(
                    seed, spec, param["schema"], spec_params[key].get("schema", {}),
                    "%s parameter %s" % (where, key[0]), failures)

        seed_body = form_schema(seed, op)
        if seed_body is not None:
            spec_body = form_schema(spec, spec_op)
            if spec_body is None:
                failures.append("%s: form body missing from the spec" % where)
            else:
                counts["properties"] += compare_schemas(
                    seed, spec, seed_body, spec_body, "%s body" % where, failures)

    spec_schemas = (spec.get("components") or {}).get("schemas") or {}
    for name, schema in ((seed.get("components") or {}).get("schemas") or {}).items():
        if name not in spec_schemas:
            failures.append("components.schemas.%s: schema missing from the spec" % name)
            continue
        counts["schemas"] += 1
        counts["properties"] += compare_schemas(
            seed, spec, schema, spec_schemas[name], name, failures)

    spec_params = (spec.get("components") or {}).get("parameters") or {}
    for name in ((seed.get("components") or {}).get("parameters") or {}):
        if name not in spec_params:
            failures.append("components.parameters.%s: parameter missing from the spec" % name)

    for failure in failures:
        print("FAIL: " + failure)
    print("%s: %d operations, %d parameters, %d schemas, %d property nodes checked; %d failures"
          % ("ok" if not failures else "FAILED", counts["operations"], counts["parameters"],
             counts["schemas"], counts["properties"], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
