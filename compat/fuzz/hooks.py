"""Schemathesis hooks of the fuzzer (named by compat/fuzz/schemathesis.toml).

Twilio's form encoding, in place of schemathesis's own: its default hands the body to
`requests`, which sends a JSON-valued key (`Metadata`, `RateLimits`) as its dictionary's keys
and each item of `Details.Fields` likewise, so that every request carrying one was rejected
for a reason that has nothing to do with the value generated. Here, as the spec says
(spec/CONVENTIONS.md, "Form bodies"): an array is a repeated key, an object or an array item
that is an object is one JSON text, a boolean is `true` or `false`.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import struct
import time
import zlib
from pathlib import Path
from urllib.parse import urlencode

import requests
import schemathesis
import yaml


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


# ---------------------------------------------------------------------------------------------
# Real resources.
#
# Generated path parameters are random SIDs and identities, so without help almost every
# operation below /Services/{ServiceSid} would only ever answer 404. Just before a request is
# sent (`before_call`), most requests whose path parameters are valid get real ones instead:
# resources this file creates over HTTP (`Fixtures`), some shared (a service, a pending
# verification, an entity with a verified TOTP factor, a pending challenge, a rate limit with a
# bucket, a webhook, an access token) and some made for one request only, where the request
# ends or deletes what it names (a verification to cancel or check, a factor to verify, a
# challenge to answer, anything to delete). TOTP codes the request carries are replaced by
# valid ones for most requests (RFC 6238 with the factor's configuration).
#
# Which requests get real resources depends only on the operation and how many of its requests
# went before (a CRC of them; one worker sends them in the seed's order), so a seed still
# decides everything: the rest keep their random values and test the 404 path. A
# request whose path parameters all came from an earlier answer (a link of the stateful
# phase) is left as it is; the other phases pick values from earlier answers too, but freely
# combined (one service's SID with another's rate limit), so theirs are replaced like the rest.
# ---------------------------------------------------------------------------------------------

SPEC = Path(__file__).resolve().parent.parent.parent / "spec" / "openapi.yaml"
# Out of 100 requests with valid path parameters, how many get real ones.
REAL_SHARE = 85
# Out of 100 requests carrying a TOTP code (or a verification code), how many get the right one.
RIGHT_CODE_SHARE = 60


def share(percent, *values):
    """True for about `percent` % of the values, the same each run."""
    return zlib.crc32(json.dumps(values, sort_keys=True, default=str).encode()) % 100 < percent


# Requests sent so far, per operation: with one worker their order is the seed's, and the
# decisions are taken by it (generated values repeat too often to decide by them alone).
CALLS = {}


def decide(percent, case, what):
    return share(percent, case.operation.label, CALLS.get(case.operation.label, 0), what)


class Api:
    """verifyd over HTTP, with the account of the run."""

    def __init__(self):
        self.base = os.environ["VERIFYD_URL"].rstrip("/") + "/v2"
        self.session = requests.Session()
        self.session.auth = (os.environ["VERIFYD_ACCOUNT_SID"], os.environ["VERIFYD_AUTH_TOKEN"])

    def post(self, path, data=None):
        response = self.session.post(self.base + path, data=data or {}, timeout=10)
        if response.status_code >= 300:
            raise RuntimeError(f"fixture: POST {path} {data} answered {response.status_code}: {response.text}")
        return response.json()


class Factor:
    """A TOTP factor: where it is, and what its codes are."""

    def __init__(self, answer):
        self.service = answer["service_sid"]
        self.identity = answer["identity"]
        self.sid = answer["sid"]
        binding, config = answer.get("binding") or {}, answer.get("config") or {}
        self.secret = base64.b32decode(binding["secret"].upper() + "=" * (-len(binding["secret"]) % 8))
        self.alg = config.get("alg") or "sha1"
        self.digits = int(config.get("code_length") or 6)
        self.step = int(config.get("time_step") or 30)

    def code(self, offset=0, alg=None, digits=None, step=None):
        """The code of the current time step plus `offset` steps (RFC 6238)."""
        alg, digits, step = alg or self.alg, digits or self.digits, step or self.step
        counter = int(time.time()) // step + offset
        mac = hmac.new(self.secret, struct.pack(">Q", counter), getattr(hashlib, alg)).digest()
        at = mac[-1] & 0x0F
        value = struct.unpack(">I", mac[at : at + 4])[0] & 0x7FFFFFFF
        return str(value % 10**digits).zfill(digits)


class Fixtures:
    """Real resources, each made the first time a request needs it."""

    def __init__(self):
        self.api = Api()
        self.made = {}
        self.count = 0

    def once(self, name, make, uses=None):
        """The shared resource `name`; made again after `uses` requests (a server limit)."""
        entry = self.made.get(name)
        if entry is None or (uses is not None and entry[1] >= uses):
            entry = [make(), 0]
            self.made[name] = entry
        entry[1] += 1
        protect(entry[0])
        return entry[0]

    def fresh(self, kind):
        self.count += 1
        return f"fuzz{kind}-{self.count:06d}"

    # Services: the main one is not updated by the fuzzer (its settings stay as made here:
    # custom codes allowed, a wide TOTP skew); it holds at most 10 rate limits, so rate limits
    # are created in services of their own.
    def service(self):
        return self.once("service", lambda: self.new_service("fuzz"))

    def new_service(self, name=None):
        data = {"FriendlyName": name or self.fresh("s")[:30], "CustomCodeEnabled": "true", "Totp.Skew": "2"}
        return self.api.post("/Services", data)["sid"]

    def phone(self):
        self.count += 1
        return f"+1500555{self.count:04d}"

    def verification(self, code=None):
        data = {"To": self.phone(), "Channel": "sms"}
        if code is not None:
            data["CustomCode"] = code
        return self.api.post(f"/Services/{self.service()}/Verifications", data)

    def rate_limit(self, service=None):
        service = service or self.once("rate-limit-service", self.new_service, uses=8)
        return self.api.post(f"/Services/{service}/RateLimits", {"UniqueName": self.fresh("r")})

    def bucket(self, rate_limit):
        path = f"/Services/{rate_limit['service_sid']}/RateLimits/{rate_limit['sid']}/Buckets"
        return self.api.post(path, {"Max": "10", "Interval": "60"})

    def entity(self):
        return self.api.post(f"/Services/{self.service()}/Entities", {"Identity": self.fresh("e")})

    def factor(self, verified):
        """A TOTP factor of a new entity; verified with the code of the previous step, so that
        the current and next steps' codes are still unused."""
        path = f"/Services/{self.service()}/Entities/{self.fresh('e')}/Factors"
        factor = Factor(self.api.post(path, {"FriendlyName": "fuzz", "FactorType": "totp"}))
        if verified:
            self.api.post(self.factor_path(factor), {"AuthPayload": factor.code(-1)})
        return factor

    def factor_path(self, factor):
        return f"/Services/{factor.service}/Entities/{factor.identity}/Factors/{factor.sid}"

    def challenge(self, factor):
        path = f"/Services/{factor.service}/Entities/{factor.identity}/Challenges"
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=50)
        return self.api.post(path, {"FactorSid": factor.sid, "ExpirationDate": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def webhook_service(self):
        # At most 20 webhooks a service; the stateful phase adds some to the first one listed.
        return self.once("webhook-service", self.new_service, uses=15)

    def webhook(self):
        data = {"FriendlyName": "fuzz", "EventTypes": "*", "WebhookUrl": "https://example.com/verifyd-fuzz"}
        answer = self.api.post(f"/Services/{self.webhook_service()}/Webhooks", data)
        return {"ServiceSid": answer["service_sid"], "WebhookSid": answer["sid"]}

    def access_token(self):
        data = {"Identity": self.fresh("t"), "FactorType": "totp", "Ttl": "300"}
        return self.api.post(f"/Services/{self.service()}/AccessTokens", data)["sid"]


FIXTURES = None
# The SIDs and identities of shared resources. The fuzzing phase reuses values it saw in answers
# (a list of services names the shared one), so a request that would delete or end one of them
# gets a resource of its own instead, whatever its share.
PROTECTED = set()
DESTRUCTIVE = {
    "POST /Services/{ServiceSid}",
    "POST /Services/{ServiceSid}/Verifications/{VerificationSid}",
    "POST /Services/{ServiceSid}/Entities/{Identity}/Factors/{FactorSid}",
    "POST /Services/{ServiceSid}/Entities/{Identity}/Challenges/{ChallengeSid}",
    "POST /Services/{ServiceSid}/VerificationCheck",
}


def protect(resource):
    if isinstance(resource, str):
        PROTECTED.add(resource)
    elif isinstance(resource, Factor):
        PROTECTED.update((resource.service, resource.identity, resource.sid))
    elif isinstance(resource, dict):
        keys = ("sid", "service_sid", "identity", "rate_limit_sid", "to")
        keys += ("ServiceSid", "WebhookSid")
        PROTECTED.update(v for k, v in resource.items() if k in keys)
# SIDs and identities that answers of the run carried: path parameters made only of them
# came from a link and are left alone.
SEEN = set()
PATH_PATTERNS = {}


def fixtures():
    global FIXTURES
    if FIXTURES is None:
        FIXTURES = Fixtures()
        spec = yaml.safe_load(SPEC.read_text())
        for name, parameter in spec["components"]["parameters"].items():
            schema = parameter.get("schema") or {}
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            if parameter.get("in") == "path":
                # A SID's or code's pattern; an enum's values; free text (a phone number) as is.
                if "pattern" in schema:
                    regex = re.compile(schema["pattern"])
                elif "enum" in schema:
                    regex = re.compile("^(?:" + "|".join(re.escape(v) for v in schema["enum"]) + ")$")
                else:
                    regex = re.compile(".")
                PATH_PATTERNS[name] = (regex, schema.get("minLength", 0), schema.get("maxLength", 10**6))
    return FIXTURES


def valid_path(parameters):
    for name, value in parameters.items():
        pattern = PATH_PATTERNS.get(name)
        if pattern is None or not isinstance(value, str):
            return False
        regex, low, high = pattern
        if not (low <= len(value) <= high and regex.search(value)):
            return False
    return True


def body_of(case):
    return case.body if isinstance(case.body, dict) else None


def right_code(case, key):
    return decide(RIGHT_CODE_SHARE, case, key)


def unique(case, key, limit):
    """A fresh value for a key that must be unique (a name a second request would repeat),
    for most requests: the generated one with a number appended."""
    body = body_of(case)
    value = body.get(key) if body else None
    if isinstance(value, str) and value and decide(REAL_SHARE, case, key):
        suffix = f"-{CALLS[case.operation.label]}"
        body[key] = value[: limit - len(suffix)].rstrip("-_.") + suffix


def ttl_date(case):
    """A future ExpirationDate for most of the requests that carry one (the server admits at
    most an hour ahead, which a schema cannot say)."""
    body = body_of(case)
    if body and "ExpirationDate" in body and decide(REAL_SHARE, case, "ExpirationDate"):
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=30)
        body["ExpirationDate"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")


def real_service(f, case):
    return {"ServiceSid": f.service()}


def send(f, case):
    """A destination of its own for most requests: at most 5 sends to one in 10 minutes."""
    body = body_of(case)
    if body and isinstance(body.get("To"), str) and decide(REAL_SHARE, case, "To"):
        body["To"] = f"{f.fresh('v')}@example.com" if body.get("Channel") == "email" else f.phone()
    return real_service(f, case)


def new_entity(f, case):
    unique(case, "Identity", 64)
    return real_service(f, case)


def real_verification(f, case):
    verification = f.once("verification", f.verification, uses=5)
    return {"ServiceSid": verification["service_sid"], "VerificationSid": verification["sid"]}


def own_verification(f, case):
    verification = f.verification()
    return {"ServiceSid": verification["service_sid"], "VerificationSid": verification["sid"]}


def check(f, case):
    """A verification of its own to check, by `To` or by SID, with the code sent for most."""
    body = body_of(case)
    code = body.get("Code") if body else None
    right = isinstance(code, str) and 4 <= len(code) <= 10 and not any(c.isspace() for c in code)
    verification = f.verification(code if right and right_code(case, "Code") else None)
    if body is not None:
        if "VerificationSid" in body:
            body["VerificationSid"] = verification["sid"]
        elif "To" in body or decide(REAL_SHARE, case, "To"):
            # One of the two is needed, which a schema cannot say.
            body["To"] = verification["to"]
    return {"ServiceSid": verification["service_sid"]}


def new_service(f, case):
    return {"ServiceSid": f.new_service()}


def updated_service(f, case):
    return {"ServiceSid": f.once("updated-service", f.new_service)}


def rate_limit_service(f, case):
    unique(case, "UniqueName", 191)
    return {"ServiceSid": f.once("rate-limit-service", f.new_service, uses=8)}


def rate_limit_path(rate_limit):
    return {"ServiceSid": rate_limit["service_sid"], "RateLimitSid": rate_limit["sid"]}


def real_rate_limit(f, case):
    return rate_limit_path(f.once("rate-limit", f.rate_limit))


def bucket_rate_limit(f, case):
    # At most 10 buckets a rate limit, one an interval.
    rate_limit = f.once("bucket-rate-limit", f.rate_limit, uses=8)
    body = body_of(case)
    if body and isinstance(body.get("Interval"), int) and decide(REAL_SHARE, case, "Interval"):
        body["Interval"] = 1 + (body["Interval"] + f.made["bucket-rate-limit"][1]) % 86400
    return rate_limit_path(rate_limit)


def own_rate_limit(f, case):
    return rate_limit_path(f.rate_limit())


def bucket_path(bucket):
    return {"ServiceSid": bucket["service_sid"], "RateLimitSid": bucket["rate_limit_sid"], "BucketSid": bucket["sid"]}


def real_bucket(f, case):
    return bucket_path(f.once("bucket", lambda: f.bucket(f.rate_limit())))


def own_bucket(f, case):
    rate_limit = f.once("bucket-rate-limit-delete", f.rate_limit, uses=8)
    bucket = f.api.post(
        f"/Services/{rate_limit['service_sid']}/RateLimits/{rate_limit['sid']}/Buckets",
        {"Max": "10", "Interval": str(100 + f.made["bucket-rate-limit-delete"][1])},
    )
    return bucket_path(bucket)


def shared_factor(f):
    """A verified factor for challenges: at most 50 a factor an hour."""
    return f.once("challenge-factor", lambda: f.factor(verified=True), uses=40)


def real_entity(f, case):
    factor = shared_factor(f)
    query = case.query if isinstance(case.query, dict) else None
    if query and "FactorSid" in query:
        query["FactorSid"] = factor.sid
    return {"ServiceSid": factor.service, "Identity": factor.identity}


def own_entity(f, case):
    entity = f.entity()
    return {"ServiceSid": entity["service_sid"], "Identity": entity["identity"]}


# P-256 (SEC 2): a device's public key is d·G, sent as base64 of its DER SubjectPublicKeyInfo.
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def p256_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P256_P == 0:
        return None
    if a == b:
        slope = (3 * a[0] * a[0] - 3) * pow(2 * a[1], -1, P256_P)
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, P256_P)
    x = (slope * slope - a[0] - b[0]) % P256_P
    return (x, (slope * (a[0] - x) - a[1]) % P256_P)


def public_key(d):
    """A new device's public key (a random base64 text is not one, which the schema cannot
    say); one per factor, as the server refuses a key bound twice."""
    point, addend = None, P256_G
    while d:
        if d & 1:
            point = p256_add(point, addend)
        addend, d = p256_add(addend, addend), d >> 1
    der = SPKI_PREFIX + b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")
    return base64.b64encode(der).decode()


PUSH_CONFIG = ("Config.NotificationToken", "Config.SdkVersion", "Config.NotificationPlatform")
TOTP_CONFIG = ("Config.TimeStep", "Config.Skew", "Config.CodeLength", "Config.Alg")


def new_identity(f, case):
    body = body_of(case)
    # What a factor type needs of the other keys, which a schema cannot say: push a device key,
    # a notification platform (and a token for one that delivers), ES256; TOTP a TOTP hash.
    if body and body.get("FactorType") == "push" and decide(REAL_SHARE, case, "key"):
        f.count += 1
        body["Binding.PublicKey"] = public_key(f.count)
        body.setdefault("Config.NotificationPlatform", "none")
        if body["Config.NotificationPlatform"] != "none":
            body.setdefault("Config.NotificationToken", "fuzz" * 8)
        if "Binding.Alg" in body:
            body["Binding.Alg"] = "ES256"
    if body and body.get("FactorType") == "totp" and body.get("Binding.Alg") == "ES256" and decide(REAL_SHARE, case, "alg"):
        body["Binding.Alg"] = "sha1"
    return {"ServiceSid": f.service(), "Identity": f.fresh("e")}


def factor_path(factor):
    return {"ServiceSid": factor.service, "Identity": factor.identity, "FactorSid": factor.sid}


def real_factor(f, case):
    return factor_path(shared_factor(f))


def own_factor(f, case):
    return factor_path(f.factor(verified=False))


def verify_factor(f, case):
    """An unverified factor of its own, and for most requests the code that verifies it (with
    the configuration the same request sets)."""
    body = body_of(case)
    if body and any(k in body for k in PUSH_CONFIG) and any(k in body for k in TOTP_CONFIG):
        # A factor is TOTP or push, and takes only its own type's settings.
        if decide(REAL_SHARE, case, "Config"):
            for key in PUSH_CONFIG:
                body.pop(key, None)
    if body and any(k in body for k in PUSH_CONFIG):
        path = f"/Services/{f.service()}/Entities/{f.fresh('e')}/Factors"
        f.count += 1
        data = {"FriendlyName": "fuzz", "FactorType": "push", "Binding.Alg": "ES256", "Binding.PublicKey": public_key(f.count)}
        data.update({"Config.SdkVersion": "1.0", "Config.AppId": "fuzz", "Config.NotificationPlatform": "none"})
        answer = f.api.post(path, data)
        return {"ServiceSid": answer["service_sid"], "Identity": answer["identity"], "FactorSid": answer["sid"]}
    factor = f.factor(verified=False)
    if body and "AuthPayload" in body and right_code(case, "AuthPayload"):
        alg = body.get("Config.Alg")
        digits, step = body.get("Config.CodeLength"), body.get("Config.TimeStep")
        body["AuthPayload"] = factor.code(
            alg=alg if alg in ("sha1", "sha256", "sha512") else None,
            digits=digits if isinstance(digits, int) and 3 <= digits <= 8 else None,
            step=step if isinstance(step, int) and 20 <= step <= 60 else None,
        )
    return factor_path(factor)


def create_challenge(f, case):
    body = body_of(case)
    ttl_date(case)
    if body and "AuthPayload" in body:
        # A code answers the challenge at once: a factor of its own, whose next code is unused.
        factor = f.factor(verified=True)
        if right_code(case, "AuthPayload"):
            body["AuthPayload"] = factor.code(1)
    else:
        factor = shared_factor(f)
    if body is not None:
        body["FactorSid"] = factor.sid
    return {"ServiceSid": factor.service, "Identity": factor.identity}


def challenge_path(challenge):
    return {"ServiceSid": challenge["service_sid"], "Identity": challenge["identity"], "ChallengeSid": challenge["sid"]}


def real_challenge(f, case):
    return challenge_path(f.once("challenge", lambda: f.challenge(shared_factor(f))))


def answer_challenge(f, case):
    factor = f.factor(verified=True)
    challenge = f.challenge(factor)
    body = body_of(case)
    # The server needs an answer, which the spec (as Twilio's) leaves optional.
    if body is not None and ("AuthPayload" in body or decide(REAL_SHARE, case, "answer")):
        if "AuthPayload" not in body or right_code(case, "AuthPayload"):
            body["AuthPayload"] = factor.code(1)
    return challenge_path(challenge)


def real_access_token(f, case):
    # Valid for 300 s: made again well before that.
    started = f.made.get("access-token-time")
    if started is None or time.monotonic() - started > 200:
        f.made.pop("access-token", None)
        f.made["access-token-time"] = time.monotonic()
    return {"ServiceSid": f.service(), "AccessTokenSid": f.once("access-token", f.access_token)}


def real_webhook(f, case):
    return f.once("webhook", f.webhook)


def updated_webhook(f, case):
    return f.once("updated-webhook", f.webhook)


def own_webhook(f, case):
    return f.webhook()


def webhook_service(f, case):
    return {"ServiceSid": f.webhook_service()}


# Operation → what gives its real path parameters (and adjusts its body or query).
REAL = {
    "GET /Services/{ServiceSid}": real_service,
    "POST /Services/{ServiceSid}": updated_service,
    "DELETE /Services/{ServiceSid}": new_service,
    "POST /Services/{ServiceSid}/Verifications": send,
    "GET /Services/{ServiceSid}/Verifications/{VerificationSid}": real_verification,
    "POST /Services/{ServiceSid}/Verifications/{VerificationSid}": own_verification,
    "POST /Services/{ServiceSid}/VerificationCheck": check,
    "GET /Services/{ServiceSid}/RateLimits": real_service,
    "POST /Services/{ServiceSid}/RateLimits": rate_limit_service,
    "GET /Services/{ServiceSid}/RateLimits/{RateLimitSid}": real_rate_limit,
    "POST /Services/{ServiceSid}/RateLimits/{RateLimitSid}": real_rate_limit,
    "DELETE /Services/{ServiceSid}/RateLimits/{RateLimitSid}": own_rate_limit,
    "GET /Services/{ServiceSid}/RateLimits/{RateLimitSid}/Buckets": real_rate_limit,
    "POST /Services/{ServiceSid}/RateLimits/{RateLimitSid}/Buckets": bucket_rate_limit,
    "GET /Services/{ServiceSid}/RateLimits/{RateLimitSid}/Buckets/{BucketSid}": real_bucket,
    "POST /Services/{ServiceSid}/RateLimits/{RateLimitSid}/Buckets/{BucketSid}": real_bucket,
    "DELETE /Services/{ServiceSid}/RateLimits/{RateLimitSid}/Buckets/{BucketSid}": own_bucket,
    "GET /Services/{ServiceSid}/Entities": real_service,
    "POST /Services/{ServiceSid}/Entities": new_entity,
    "GET /Services/{ServiceSid}/Entities/{Identity}": real_entity,
    "DELETE /Services/{ServiceSid}/Entities/{Identity}": own_entity,
    "GET /Services/{ServiceSid}/Entities/{Identity}/Factors": real_entity,
    "POST /Services/{ServiceSid}/Entities/{Identity}/Factors": new_identity,
    "GET /Services/{ServiceSid}/Entities/{Identity}/Factors/{FactorSid}": real_factor,
    "POST /Services/{ServiceSid}/Entities/{Identity}/Factors/{FactorSid}": verify_factor,
    "DELETE /Services/{ServiceSid}/Entities/{Identity}/Factors/{FactorSid}": own_factor,
    "GET /Services/{ServiceSid}/Entities/{Identity}/Challenges": real_entity,
    "POST /Services/{ServiceSid}/Entities/{Identity}/Challenges": create_challenge,
    "GET /Services/{ServiceSid}/Entities/{Identity}/Challenges/{ChallengeSid}": real_challenge,
    "POST /Services/{ServiceSid}/Entities/{Identity}/Challenges/{ChallengeSid}": answer_challenge,
    "POST /Services/{ServiceSid}/Entities/{Identity}/Challenges/{ChallengeSid}/Notifications": real_challenge,
    "POST /Services/{ServiceSid}/AccessTokens": real_service,
    "GET /Services/{ServiceSid}/AccessTokens/{AccessTokenSid}": real_access_token,
    "GET /Services/{ServiceSid}/Webhooks": real_service,
    "POST /Services/{ServiceSid}/Webhooks": webhook_service,
    "GET /Services/{ServiceSid}/Webhooks/{WebhookSid}": real_webhook,
    "POST /Services/{ServiceSid}/Webhooks/{WebhookSid}": updated_webhook,
    "DELETE /Services/{ServiceSid}/Webhooks/{WebhookSid}": own_webhook,
}


@schemathesis.hook
def before_call(ctx, case, kwargs):
    real = REAL.get(case.operation.label)
    parameters = case.path_parameters
    if real is None or not parameters:
        return
    f = fixtures()
    CALLS[case.operation.label] = CALLS.get(case.operation.label, 0) + 1
    destructive = case.method.upper() == "DELETE" or case.operation.label in DESTRUCTIVE
    named = list(parameters.values()) + list(body_of(case).values() if body_of(case) else [])
    if not (destructive and any(isinstance(v, str) and v in PROTECTED for v in named)):
        if not valid_path(parameters):
            return
        phase = case.meta.phase.name if case.meta else None
        if str(getattr(phase, "value", phase)) == "stateful" and all(value in SEEN for value in parameters.values()):
            return
        if not decide(REAL_SHARE, case, "path"):
            return
    # New containers: generated cases may share theirs, and an edit in place would reach them.
    if isinstance(case.body, dict):
        case.body = dict(case.body)
    if isinstance(case.query, dict):
        case.query = dict(case.query)
    case.path_parameters = {**parameters, **real(f, case)}


@schemathesis.hook
def after_call(ctx, case, response):
    if response.status_code >= 300:
        return
    try:
        answer = response.json()
    except Exception:
        return
    items = [answer] if isinstance(answer, dict) else []
    for value in answer.values() if isinstance(answer, dict) else []:
        if isinstance(value, list):
            items.extend(item for item in value if isinstance(item, dict))
    for item in items:
        for key in ("sid", "identity", "service_sid", "rate_limit_sid", "factor_sid"):
            if isinstance(item.get(key), str):
                SEEN.add(item[key])
