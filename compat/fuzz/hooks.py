"""Schemathesis hooks of the fuzzer (named by compat/fuzz/schemathesis.toml).

Twilio's form encoding, in place of schemathesis's own: its default hands the body to
`requests`, which sends a JSON-valued key (`Metadata`, `RateLimits`) as its dictionary's keys
and each item of `Details.Fields` likewise, so that every request carrying one was rejected
for a reason that has nothing to do with the value generated. Here, as the spec says
(spec/CONVENTIONS.md, "Form bodies"): an array is a repeated key, an object or an array item
that is an object is one JSON text, a boolean is `true` or `false`.
"""

import json
from urllib.parse import urlencode

import schemathesis


@schemathesis.serializer("application/x-www-form-urlencoded")
def twilio_form(ctx, value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if not isinstance(value, dict):
        # Not a form at all (negative data): sent as it is, for the server to refuse.
        return json.dumps(value).encode("utf-8")
    pairs = []
    for key, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            pairs.append((str(key), text(one)))
    return urlencode(pairs).encode("ascii")


def text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
