"""Compatibility: a Verify service's messaging configurations, driven by the official
twilio-python helper library (`client.verify.v2.services(sid).messaging_configurations`).

Run by `cargo xtask test` against a running `verifyd serve`. Environment:

    VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID  an account SID (AC…)
    VERIFYD_AUTH_TOKEN   its auth token

Prints one line per step (`ok  name` or `FAIL name: reason`), then
`compat messaging_configurations: N passed, M failed`, and exits 1 when a step failed.
See compat/support for how the library is pointed at verifyd.
"""

import sys

from support import ACCOUNT_SID, URL, delete_quietly, expect, expect_datetime, expect_eq, expect_rest_error, make_client, run_steps, settings_missing, summary

SCRIPT = "messaging_configurations"
MG_CA = "MG" + "1" * 32
MG_ALL = "MG" + "2" * 32
MG_NEW = "MG" + "3" * 32


class Run:
    def __init__(self):
        self.client = make_client()
        self.service_sid = None

    def service(self):
        expect(self.service_sid is not None, "no service (an earlier step failed)")
        return self.client.verify.v2.services(self.service_sid)

    def configurations(self):
        return self.service().messaging_configurations

    def create_service(self):
        service = self.client.verify.v2.services.create(friendly_name="compat messaging config")
        expect(service.sid and service.sid.startswith("VA"), f"sid: {service.sid!r}")
        self.service_sid = service.sid

    def create(self):
        # Any letter case is accepted; the country is kept in capitals.
        created = self.configurations().create(country="ca", messaging_service_sid=MG_CA)
        expect_eq("country", created.country, "CA")
        expect_eq("messaging_service_sid", created.messaging_service_sid, MG_CA)
        expect_eq("account_sid", created.account_sid, ACCOUNT_SID)
        expect_eq("service_sid", created.service_sid, self.service_sid)
        expect_datetime("date_created", created.date_created)
        expect_datetime("date_updated", created.date_updated)
        expect_eq("url", created.url, f"{URL}/v2/Services/{self.service_sid}/MessagingConfigurations/CA")

    def create_all(self):
        created = self.configurations().create(country="all", messaging_service_sid=MG_ALL)
        expect_eq("country", created.country, "all")
        expect_eq("messaging_service_sid", created.messaging_service_sid, MG_ALL)

    def create_duplicate(self):
        expect_rest_error(
            "a second configuration for CA",
            lambda: self.configurations().create(country="CA", messaging_service_sid=MG_NEW),
            409,
            20409,
        )

    def create_bad_country(self):
        e = expect_rest_error(
            "a three-letter country",
            lambda: self.configurations().create(country="CAN", messaging_service_sid=MG_NEW),
            400,
            60200,
        )
        expect("Country" in e.msg, f"message: {e.msg!r}")

    def fetch(self):
        fetched = self.configurations()("ca").fetch()
        expect_eq("country", fetched.country, "CA")
        expect_eq("messaging_service_sid", fetched.messaging_service_sid, MG_CA)
        expect_eq("service_sid", fetched.service_sid, self.service_sid)

    def list_configurations(self):
        listed = [(c.country, c.messaging_service_sid) for c in self.configurations().list()]
        expect_eq("configurations, oldest first", listed, [("CA", MG_CA), ("all", MG_ALL)])
        # A page of one makes the library follow next_page_url.
        paged = [c.country for c in self.configurations().stream(page_size=1)]
        expect_eq("configurations read one per page", paged, ["CA", "all"])
        page = self.configurations().page(page_size=1)
        expect(page.next_page_url is not None, "the first page of one has no next_page_url")
        expect(
            page.next_page_url.startswith(f"{URL}/v2/Services/{self.service_sid}/MessagingConfigurations?"),
            f"next_page_url: {page.next_page_url!r}",
        )

    def update(self):
        updated = self.configurations()("CA").update(messaging_service_sid=MG_NEW)
        expect_eq("country", updated.country, "CA")
        expect_eq("messaging_service_sid", updated.messaging_service_sid, MG_NEW)
        expect_eq("fetched after the update", self.configurations()("CA").fetch().messaging_service_sid, MG_NEW)

    def fetch_unknown(self):
        expect_rest_error("a country never configured", lambda: self.configurations()("FR").fetch(), 404, 20404)

    def delete(self):
        expect_eq("delete", self.configurations()("ca").delete(), True)
        expect_rest_error("a fetch after delete", lambda: self.configurations()("CA").fetch(), 404, 20404)
        expect_rest_error("a second delete", lambda: self.configurations()("CA").delete(), 404, 20404)
        listed = [c.country for c in self.configurations().list()]
        expect_eq("configurations left", listed, ["all"])

    def delete_service(self):
        expect_eq("delete", self.service().delete(), True)
        self.service_sid = None


def main():
    if settings_missing(SCRIPT):
        return 1
    run = Run()
    steps = [
        run.create_service,
        run.create,
        run.create_all,
        run.create_duplicate,
        run.create_bad_country,
        run.fetch,
        run.list_configurations,
        run.update,
        run.fetch_unknown,
        run.delete,
        run.delete_service,
    ]
    passed, failed = run_steps([(step.__name__, step) for step in steps])
    delete_quietly(run.client, run.service_sid)
    return summary(SCRIPT, passed, failed)


if __name__ == "__main__":
    sys.exit(main())
