"""Compatibility: the account's verification attempts and their summary, the Safe List and
the push forms, driven by the official twilio-python helper library
(`client.verify.v2.verification_attempts`, `verification_attempts_summary`, `safelist`,
`forms`).

Run by `cargo xtask test` against a running `verifyd serve`. Environment:

    VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID  an account SID (AC…)
    VERIFYD_AUTH_TOKEN   its auth token

Prints one line per step (`ok  name` or `FAIL name: reason`), then
`compat attempts_safelist: N passed, M failed`, and exits 1 when a step failed.
See compat/support for how the library is pointed at verifyd.
"""

import datetime
import sys
import uuid

from support import ACCOUNT_SID, URL, delete_quietly, expect, expect_datetime, expect_eq, expect_rest_error, make_client, run_steps, settings_missing, summary

SCRIPT = "attempts_safelist"


def unique_number(prefix, digits):
    """A number no earlier run used: the prefix and `digits` digits from a fresh UUID."""
    return f"{prefix}{str(uuid.uuid4().int)[:digits]}"


class Run:
    def __init__(self):
        self.client = make_client()
        self.v2 = self.client.verify.v2
        self.service_sid = None
        self.other_sid = None
        self.us = unique_number("+1415555", 4)
        self.fr = unique_number("+33612", 6)
        self.safe = unique_number("+1800555", 4)
        self.started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(seconds=1)
        self.verification_sid = None

    def service(self):
        expect(self.service_sid is not None, "no service (an earlier step failed)")
        return self.v2.services(self.service_sid)

    def create_services(self):
        self.service_sid = self.v2.services.create(friendly_name="compat attempts").sid
        self.other_sid = self.v2.services.create(friendly_name="compat attempts other").sid

    def send(self):
        v = self.service().verifications.create(to=self.us, channel="sms")
        self.verification_sid = v.sid
        # A re-send: a second attempt of the same verification.
        self.service().verifications.create(to=self.us, channel="sms")
        self.v2.services(self.other_sid).verifications.create(to=self.fr, channel="call")
        self.service().verifications(v.sid).update(status="approved")

    def list_attempts(self):
        attempts = list(self.v2.verification_attempts.list(verify_service_sid=self.service_sid))
        expect_eq("attempts of the service", len(attempts), 2)
        first = attempts[-1]
        expect(first.sid.startswith("VL"), f"sid: {first.sid!r}")
        expect_eq("account_sid", first.account_sid, ACCOUNT_SID)
        expect_eq("service_sid", first.service_sid, self.service_sid)
        expect_eq("verification_sid", first.verification_sid, self.verification_sid)
        expect_eq("conversion_status", first.conversion_status, "converted")
        expect_eq("channel", first.channel, "sms")
        expect_eq("price", first.price, None)
        expect_datetime("date_created", first.date_created)
        expect_datetime("date_updated", first.date_updated)
        expect_eq("channel_data.to", first.channel_data["to"], self.us)
        expect_eq("channel_data.status", first.channel_data["status"], "confirmed")
        expect_eq("channel_data.message_status", first.channel_data["message_status"], "sent")
        expect_eq("channel_data.country", first.channel_data["country"], "US")
        expect_eq("url", first.url, f"{URL}/v2/Attempts/{first.sid}")
        fetched = self.v2.verification_attempts(first.sid).fetch()
        expect_eq("fetched sid", fetched.sid, first.sid)
        expect_eq("fetched conversion", fetched.conversion_status, "converted")

    def filters(self):
        a = self.v2.verification_attempts
        expect_eq("by To", len(list(a.list(channel_data_to=self.fr))), 1)
        expect_eq("by country", len(list(a.list(country="FR", verify_service_sid=self.other_sid))), 1)
        expect_eq("by channel", len(list(a.list(channel="call", verify_service_sid=self.other_sid))), 1)
        expect_eq("by verification", len(list(a.list(verification_sid=self.verification_sid))), 2)
        expect_eq("converted", len(list(a.list(status="converted", verify_service_sid=self.service_sid))), 2)
        expect_eq("unconverted", len(list(a.list(status="unconverted", verify_service_sid=self.other_sid))), 1)
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        expect_eq("created after now", len(list(a.list(date_created_after=later))), 0)
        expect_eq(
            "created between",
            len(list(a.list(date_created_after=self.started, date_created_before=later, verify_service_sid=self.service_sid))),
            2,
        )
        # Pages of one: the library follows next_page_url.
        paged = [x.sid for x in a.stream(verify_service_sid=self.service_sid, page_size=1)]
        expect_eq("attempts read one per page", len(paged), 2)

    def summary(self):
        s = self.v2.verification_attempts_summary().fetch(verify_service_sid=self.service_sid)
        expect_eq("total_attempts", s.total_attempts, 2)
        expect_eq("total_converted", s.total_converted, 2)
        expect_eq("total_unconverted", s.total_unconverted, 0)
        expect_eq("conversion_rate_percentage", s.conversion_rate_percentage, "100")
        s = self.v2.verification_attempts_summary().fetch(verify_service_sid=self.other_sid, channel="call", country="FR")
        expect_eq("call attempts", (s.total_attempts, s.total_converted), (1, 0))
        s = self.v2.verification_attempts_summary().fetch(destination_prefix=self.us, date_created_after=self.started)
        expect_eq("by prefix", s.total_attempts, 2)

    def fetch_unknown_attempt(self):
        expect_rest_error("an unknown attempt", lambda: self.v2.verification_attempts("VL" + "0" * 32).fetch(), 404, 20404)

    def safelist(self):
        added = self.v2.safelist.create(phone_number=self.safe)
        expect(added.sid.startswith("GN"), f"sid: {added.sid!r}")
        expect_eq("phone_number", added.phone_number, self.safe)
        expect_eq("url", added.url, f"{URL}/v2/SafeList/Numbers/{self.safe}")
        expect_rest_error("a second add", lambda: self.v2.safelist.create(phone_number=self.safe), 409, 60411)
        fetched = self.v2.safelist(self.safe).fetch()
        expect_eq("fetched", (fetched.sid, fetched.phone_number), (added.sid, self.safe))
        expect_rest_error("a bad number", lambda: self.v2.safelist.create(phone_number="12"), 400, 60200)

    def safelist_delete(self):
        expect_eq("delete", self.v2.safelist(self.safe).delete(), True)
        expect_rest_error("a fetch after delete", lambda: self.v2.safelist(self.safe).fetch(), 404, 20404)

    def forms(self):
        form = self.v2.forms("form-push").fetch()
        expect_eq("form_type", form.form_type, "form-push")
        expect_eq("forms", sorted(form.forms), ["create_challenge", "create_factor", "verify_factor"])
        expect_eq("create_factor type", form.forms["create_factor"]["type"], "object")
        expect(isinstance(form.form_meta, dict) and form.form_meta, f"form_meta: {form.form_meta!r}")
        expect_eq("url", form.url, f"{URL}/v2/Forms/form-push")

    def delete_services(self):
        for sid in (self.service_sid, self.other_sid):
            expect_eq("delete", self.v2.services(sid).delete(), True)
        self.service_sid = self.other_sid = None


def main():
    if settings_missing(SCRIPT):
        return 1
    run = Run()
    steps = [
        run.create_services,
        run.send,
        run.list_attempts,
        run.filters,
        run.summary,
        run.fetch_unknown_attempt,
        run.safelist,
        run.safelist_delete,
        run.forms,
        run.delete_services,
    ]
    passed, failed = run_steps([(step.__name__, step) for step in steps])
    delete_quietly(run.client, run.service_sid)
    delete_quietly(run.client, run.other_sid)
    return summary(SCRIPT, passed, failed)


if __name__ == "__main__":
    sys.exit(main())
