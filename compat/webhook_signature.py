"""Compatibility: webhook deliveries validated by twilio-python's RequestValidator.

Run by `cargo xtask test` against a running `verifyd serve` in development mode (so that a
webhook may target a receiver on 127.0.0.1) with its webhook dispatcher running. Environment:

    VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID  an account SID (AC…)
    VERIFYD_AUTH_TOKEN   its auth token

Prints one line per step (`ok  name` or `FAIL name: reason`), then
`compat webhook_signature: N passed, M failed`, and exits 1 when a step failed.

A small HTTP receiver (http.server on 127.0.0.1:0, in a thread) records each POST's path,
headers and form fields. With twilio-python: a service, a webhook to the receiver for every
event (`*`), and a TOTP factor (event `factor.created`). The delivery is awaited (the server's
dispatcher runs every second; up to 20 s), then `RequestValidator(auth token).validate(url,
params, X-Twilio-Signature)` must answer True, and False for a tampered field, another URL or
another token. Pointing the library at verifyd: see compat/verify_happy_path.py.
"""

import http.server
import sys
import threading
import time
import urllib.parse

from twilio.request_validator import RequestValidator
from support import ACCOUNT_SID, AUTH_TOKEN, delete_quietly, expect, expect_eq, make_client, run_steps, settings_missing, summary

SCRIPT = "webhook_signature"
IDENTITY = "compat-webhook-user"
FACTOR_NAME = "Jane's phone & co"
WAIT_SECONDS = 20


FACTOR_FIELDS = [
    "uuid",
    "type",
    "account_sid",
    "service_sid",
    "entity_identity",
    "factor_sid",
    "factor_type",
    "factor_friendly_name",
]


class Receiver:
    """An HTTP server on 127.0.0.1:0 that records every POST and answers 200."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                record = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "fields": urllib.parse.parse_qsl(body, keep_blank_values=True),
                }
                with receiver.lock:
                    receiver.requests.append(record)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/verify?source=compat"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self):
        with self.lock:
            return list(self.requests)

    def wait_for(self, event_type, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for request in self.received():
                if dict(request["fields"]).get("type") == event_type:
                    return request
            time.sleep(0.2)
        return None

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Run:
    def __init__(self, receiver):
        self.client = make_client()
        self.receiver = receiver
        self.service_sid = None
        self.webhook_sid = None
        self.factor_sid = None
        self.delivery = None

    def service(self):
        expect(self.service_sid is not None, "no service (an earlier step failed)")
        return self.client.verify.v2.services(self.service_sid)

    def create_service(self):
        service = self.client.verify.v2.services.create(friendly_name="compat webhooks")
        expect(service.sid and service.sid.startswith("VA"), f"sid: {service.sid!r}")
        self.service_sid = service.sid

    def create_webhook(self):
        webhook = self.service().webhooks.create(
            friendly_name="compat receiver", event_types=["*"], webhook_url=self.receiver.url
        )
        expect(webhook.sid and webhook.sid.startswith("YW"), f"sid: {webhook.sid!r}")
        self.webhook_sid = webhook.sid
        expect_eq("event_types", webhook.event_types, ["*"])
        expect_eq("webhook_url", webhook.webhook_url, self.receiver.url)
        expect_eq("status", webhook.status, "enabled")
        expect_eq("version", webhook.version, "v2")
        expect_eq("webhook_method", webhook.webhook_method, "POST")
        fetched = self.service().webhooks(webhook.sid).fetch()
        expect_eq("fetched sid", fetched.sid, webhook.sid)
        listed = [w.sid for w in self.service().webhooks.list()]
        expect_eq("listed", listed, [webhook.sid])

    def create_totp_factor(self):
        factor = self.service().entities(IDENTITY).new_factors.create(
            friendly_name=FACTOR_NAME, factor_type="totp"
        )
        expect(factor.sid and factor.sid.startswith("YF"), f"sid: {factor.sid!r}")
        expect_eq("status", factor.status, "unverified")
        self.factor_sid = factor.sid

    def delivery_arrives(self):
        expect(self.factor_sid is not None, "no factor (an earlier step failed)")
        delivery = self.receiver.wait_for("factor.created", WAIT_SECONDS)
        expect(
            delivery is not None,
            f"no factor.created delivery within {WAIT_SECONDS} s; received {self.receiver.received()!r}",
        )
        self.delivery = delivery
        expect_eq("path", delivery["path"], "/hooks/verify?source=compat")
        expect_eq(
            "content-type", delivery["headers"].get("content-type"), "application/x-www-form-urlencoded"
        )
        expect("x-twilio-signature" in delivery["headers"], f"no X-Twilio-Signature: {delivery['headers']!r}")
        expect_eq("field names", [k for k, _ in delivery["fields"]], FACTOR_FIELDS)
        fields = dict(delivery["fields"])
        expect_eq("type", fields["type"], "factor.created")
        expect_eq("account_sid", fields["account_sid"], ACCOUNT_SID)
        expect_eq("service_sid", fields["service_sid"], self.service_sid)
        expect_eq("entity_identity", fields["entity_identity"], IDENTITY)
        expect_eq("factor_sid", fields["factor_sid"], self.factor_sid)
        expect_eq("factor_type", fields["factor_type"], "totp")
        expect_eq("factor_friendly_name", fields["factor_friendly_name"], FACTOR_NAME)
        expect(len(fields["uuid"]) == 36, f"uuid: {fields['uuid']!r}")

    def signature_validates(self):
        expect(self.delivery is not None, "no delivery (an earlier step failed)")
        params = dict(self.delivery["fields"])
        signature = self.delivery["headers"]["x-twilio-signature"]
        validator = RequestValidator(AUTH_TOKEN)
        expect(
            validator.validate(self.receiver.url, params, signature) is True,
            f"RequestValidator rejected the delivery: url {self.receiver.url!r}, params {params!r}, "
            f"signature {signature!r}, expected {validator.compute_signature(self.receiver.url, params)!r}",
        )

    def tampered_delivery_fails(self):
        expect(self.delivery is not None, "no delivery (an earlier step failed)")
        params = dict(self.delivery["fields"])
        signature = self.delivery["headers"]["x-twilio-signature"]
        validator = RequestValidator(AUTH_TOKEN)
        tampered = dict(params, factor_sid="YF" + "0" * 32)
        expect(validator.validate(self.receiver.url, tampered, signature) is False, "a tampered field validates")
        extra = dict(params, injected="1")
        expect(validator.validate(self.receiver.url, extra, signature) is False, "an added field validates")
        other_url = self.receiver.url.replace("source=compat", "source=other")
        expect(validator.validate(other_url, params, signature) is False, "another URL validates")
        other_token = RequestValidator(AUTH_TOKEN + "x")
        expect(other_token.validate(self.receiver.url, params, signature) is False, "another token validates")

    def delivered_once(self):
        expect(self.delivery is not None, "no delivery (an earlier step failed)")
        # A delivered event is not sent again (the dispatcher runs every second).
        time.sleep(2.5)
        uuids = [dict(r["fields"]).get("uuid") for r in self.receiver.received()]
        expect_eq("deliveries", uuids, [dict(self.delivery["fields"])["uuid"]])

    def delete_service(self):
        expect_eq("delete", self.service().delete(), True)
        self.service_sid = None


def main():
    if settings_missing(SCRIPT):
        return 1
    receiver = Receiver()
    run = Run(receiver)
    steps = [
        run.create_service,
        run.create_webhook,
        run.create_totp_factor,
        run.delivery_arrives,
        run.signature_validates,
        run.tampered_delivery_fails,
        run.delivered_once,
        run.delete_service,
    ]
    try:
        passed, failed = run_steps([(step.__name__, step) for step in steps])
        delete_quietly(run.client, run.service_sid)
    finally:
        receiver.stop()
    return summary(SCRIPT, passed, failed)


if __name__ == "__main__":
    sys.exit(main())
