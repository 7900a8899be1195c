"""Compatibility: the Verify happy path, driven by the official twilio-python helper library.

Run by `cargo xtask test` against a running `verifyd serve` in development mode (for the
outbox). Environment:

    VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID  an account SID (AC…)
    VERIFYD_AUTH_TOKEN   its auth token

Prints one line per step (`ok  name` or `FAIL name: reason`), then
`compat verify_happy_path: N passed, M failed`, and exits 1 when a step failed.

Pointing twilio-python at verifyd: every product of the library is a `Domain` whose
`base_url` (for Verify `https://verify.twilio.com`) is a plain public attribute that
`Domain.absolute_url` joins with `v2/Services/...` on every request. Setting

    client.verify.base_url = "http://127.0.0.1:8080"

once after creating the `Client` sends every Verify request to verifyd and changes
nothing else; pagination follows the absolute `next_page_url` the server returns, which
verifyd builds on its own public URL. No custom `HttpClient` is needed. `client.edge` and
`client.region` must stay unset (TWILIO_EDGE / TWILIO_REGION in the environment would make
the library rewrite the host name to `verify.<edge>.<region>.twilio.com`), so they are
cleared explicitly.

Only twilio and the standard library are used.
"""

import base64
import json
import sys
import urllib.parse
import urllib.request

from support import ACCOUNT_SID, AUTH_TOKEN, URL, delete_quietly, expect, expect_datetime, expect_eq, expect_rest_error, make_client, run_steps, settings_missing, summary

SCRIPT = "verify_happy_path"
PHONE = "+15017122661"
CANCEL_PHONE = "+14155552671"
EMAIL = "alice@example.com"



def outbox_code(to, verification_sid):
    """The code of the newest outbox message to `to`, read from verifyd's dev endpoint."""
    query = urllib.parse.urlencode({"to": to})  # `+` becomes %2B
    request = urllib.request.Request(f"{URL}/dev/outbox?{query}")
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    request.add_header("Authorization", f"Basic {credentials}")
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    messages = body.get("messages")
    expect(isinstance(messages, list) and messages, f"the outbox has no message to {to}: {body!r}")
    newest = messages[0]
    expect_eq("outbox to", newest.get("to"), to)
    expect_eq("outbox verification_sid", newest.get("verification_sid"), verification_sid)
    code = newest.get("code")
    expect(isinstance(code, str) and code.isdigit(), f"outbox code: {code!r}")
    expect(code in newest.get("body", ""), f"the message body does not contain the code: {newest.get('body')!r}")
    return code


class Run:
    def __init__(self):
        self.client = make_client()
        self.service_sid = None
        self.verification_sid = None
        self.code = None

    def service(self):
        expect(self.service_sid is not None, "no service (an earlier step failed)")
        return self.client.verify.v2.services(self.service_sid)

    # Services

    def create_service(self):
        service = self.client.verify.v2.services.create(friendly_name="compat happy path")
        expect(service.sid and service.sid.startswith("VA"), f"sid: {service.sid!r}")
        self.service_sid = service.sid
        expect_eq("account_sid", service.account_sid, ACCOUNT_SID)
        expect_eq("friendly_name", service.friendly_name, "compat happy path")
        expect_eq("code_length", service.code_length, 6)
        expect_datetime("date_created", service.date_created)
        expect_datetime("date_updated", service.date_updated)
        expect_eq("url", service.url, f"{URL}/v2/Services/{service.sid}")
        expect(isinstance(service.links, dict) and "verifications" in service.links, f"links: {service.links!r}")

    def fetch_service(self):
        service = self.service().fetch()
        expect_eq("sid", service.sid, self.service_sid)
        expect_eq("friendly_name", service.friendly_name, "compat happy path")
        expect_eq("code_length", service.code_length, 6)

    def update_service(self):
        service = self.service().update(friendly_name="compat renamed", code_length=8)
        expect_eq("friendly_name", service.friendly_name, "compat renamed")
        expect_eq("code_length", service.code_length, 8)
        # An update never resets what it was not sent; go back to 6 for the steps below.
        service = self.service().update(code_length=6)
        expect_eq("friendly_name after a second update", service.friendly_name, "compat renamed")
        expect_eq("code_length", service.code_length, 6)

    def list_services(self):
        # A second service, so that a page of one makes the library follow next_page_url.
        other = self.client.verify.v2.services.create(friendly_name="compat second")
        try:
            sids = [s.sid for s in self.client.verify.v2.services.list()]
            expect(self.service_sid in sids, f"{self.service_sid} is not in the list {sids!r}")
            expect(other.sid in sids, f"{other.sid} is not in the list {sids!r}")
            paged = [s.sid for s in self.client.verify.v2.services.stream(page_size=1)]
            expect_eq("services read one per page", sorted(paged), sorted(sids))
            page = self.client.verify.v2.services.page(page_size=1)
            expect(page.next_page_url is not None, "the first page of one has no next_page_url")
            expect(
                page.next_page_url.startswith(f"{URL}/v2/Services?"),
                f"next_page_url leaves the server: {page.next_page_url!r}",
            )
        finally:
            self.client.verify.v2.services(other.sid).delete()

    # An SMS verification

    def start_sms(self):
        verification = self.service().verifications.create(to=PHONE, channel="sms")
        expect(verification.sid and verification.sid.startswith("VE"), f"sid: {verification.sid!r}")
        self.verification_sid = verification.sid
        expect_eq("to (the + must survive the form encoding)", verification.to, PHONE)
        expect_eq("service_sid", verification.service_sid, self.service_sid)
        expect_eq("account_sid", verification.account_sid, ACCOUNT_SID)
        expect_eq("channel", verification.channel, "sms")
        expect_eq("status", verification.status, "pending")
        expect_eq("valid", verification.valid, False)
        expect_datetime("date_created", verification.date_created)
        expect(
            isinstance(verification.send_code_attempts, list) and len(verification.send_code_attempts) == 1,
            f"send_code_attempts: {verification.send_code_attempts!r}",
        )
        self.code = outbox_code(PHONE, verification.sid)
        expect_eq("code length", len(self.code), 6)

    def check_wrong_code(self):
        expect(self.code is not None, "no code (an earlier step failed)")
        wrong = "1" * len(self.code) if self.code != "1" * len(self.code) else "2" * len(self.code)
        check = self.service().verification_checks.create(to=PHONE, code=wrong)
        expect_eq("status", check.status, "pending")
        expect_eq("valid", check.valid, False)
        expect_eq("sid", check.sid, self.verification_sid)
        expect_eq("to", check.to, PHONE)

    def check_right_code(self):
        expect(self.code is not None, "no code (an earlier step failed)")
        check = self.service().verification_checks.create(to=PHONE, code=self.code)
        expect_eq("status", check.status, "approved")
        expect_eq("valid", check.valid, True)
        expect_eq("sid", check.sid, self.verification_sid)
        expect_eq("channel", check.channel, "sms")
        expect_datetime("date_updated", check.date_updated)

    def check_again(self):
        expect(self.code is not None, "no code (an earlier step failed)")
        expect_rest_error(
            "a check after approval",
            lambda: self.service().verification_checks.create(to=PHONE, code=self.code),
            404,
            20404,
        )

    # Other verifications

    def approve_email(self):
        verification = self.service().verifications.create(to=EMAIL, channel="email")
        expect_eq("channel", verification.channel, "email")
        expect_eq("to", verification.to, EMAIL)
        expect_eq("status", verification.status, "pending")
        approved = self.service().verifications(verification.sid).update(status="approved")
        expect_eq("status after update", approved.status, "approved")
        expect_eq("valid after update", approved.valid, True)
        expect_rest_error(
            "a fetch after approval", lambda: self.service().verifications(verification.sid).fetch(), 404, 20404
        )

    def cancel_verification(self):
        verification = self.service().verifications.create(to=CANCEL_PHONE, channel="sms")
        expect_eq("to", verification.to, CANCEL_PHONE)
        fetched = self.service().verifications(verification.sid).fetch()
        expect_eq("status of a fetch", fetched.status, "pending")
        canceled = self.service().verifications(verification.sid).update(status="canceled")
        expect_eq("status after update", canceled.status, "canceled")
        expect_eq("valid after update", canceled.valid, False)
        expect_rest_error(
            "a fetch after cancel", lambda: self.service().verifications(verification.sid).fetch(), 404, 20404
        )

    def bad_to(self):
        e = expect_rest_error(
            "a verification to a malformed number",
            lambda: self.service().verifications.create(to="12345", channel="sms"),
            400,
            60200,
        )
        expect("Invalid parameter: To" in e.msg, f"message: {e.msg!r}")

    def delete_service(self):
        expect_eq("delete", self.service().delete(), True)
        expect_rest_error("a fetch after delete", lambda: self.service().fetch(), 404, 20404)
        self.service_sid = None


def main():
    if settings_missing(SCRIPT):
        return 1
    run = Run()
    steps = [
        run.create_service,
        run.fetch_service,
        run.update_service,
        run.list_services,
        run.start_sms,
        run.check_wrong_code,
        run.check_right_code,
        run.check_again,
        run.approve_email,
        run.cancel_verification,
        run.bad_to,
        run.delete_service,
    ]
    passed, failed = run_steps([(step.__name__, step) for step in steps])
    # If delete_service failed, try once more so a rerun against the same server starts clean.
    delete_quietly(run.client, run.service_sid)
    return summary(SCRIPT, passed, failed)


if __name__ == "__main__":
    sys.exit(main())
