"""Compatibility: the message templates, listed by the official twilio-python helper library.

Run by `cargo xtask test` against a running `verifyd serve` (no templates directory: the
bundled template alone). Environment:

    VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID  an account SID (AC…)
    VERIFYD_AUTH_TOKEN   its auth token

Prints one line per step (`ok  name` or `FAIL name: reason`), then
`compat templates: N passed, M failed`, and exits 1 when a step failed.

`client.verify.v2.templates.list()` reads `GET /v2/Templates` (list key `templates`) into
`TemplateInstance`s: `sid`, `account_sid`, `friendly_name`, `channels` and `translations`
(a dict by locale). Pointing the library at verifyd: see compat/verify_happy_path.py.
"""

import sys

from support import ACCOUNT_SID, expect, expect_eq, make_client, run_steps, settings_missing, summary

SCRIPT = "templates"
BUNDLED_NAME = "Verify default"
LOCALES = ["de", "en", "es", "fr", "it", "ja", "nl", "pt", "pt-BR", "zh-CN"]


class Run:
    def __init__(self):
        self.client = make_client()

    def bundled(self):
        found = [t for t in self.client.verify.v2.templates.list() if t.friendly_name == BUNDLED_NAME]
        expect_eq("bundled templates", len(found), 1)
        return found[0]

    def list_templates(self):
        templates = self.client.verify.v2.templates.list()
        expect(templates, "no template listed")
        first = templates[0]
        expect_eq("the first template", first.friendly_name, BUNDLED_NAME)
        expect(first.sid.startswith("HJ") and len(first.sid) == 34, f"sid: {first.sid!r}")
        expect_eq("account_sid", first.account_sid, ACCOUNT_SID)
        expect_eq("channels", first.channels, ["sms", "call", "email", "whatsapp"])

    def translations(self):
        translations = self.bundled().translations
        expect(isinstance(translations, dict), f"translations: {translations!r}")
        expect_eq("locales", sorted(translations), sorted(LOCALES))
        en = translations["en"]
        expect_eq("en is the default", en.get("is_default_translation"), True)
        expect_eq("en status", en.get("status"), "approved")
        expect_eq("en locale", en.get("locale"), "en")
        expect("{{code}}" in en.get("text", ""), f"en text: {en.get('text')!r}")
        expect("{{friendly_name}}" in en.get("text", ""), f"en text: {en.get('text')!r}")
        for locale in LOCALES:
            if locale != "en":
                expect_eq(f"{locale} is not the default", translations[locale].get("is_default_translation"), False)

    def filter_by_friendly_name(self):
        found = self.client.verify.v2.templates.list(friendly_name="verify DEFAULT")
        expect_eq("templates named like it", [t.friendly_name for t in found], [BUNDLED_NAME])
        none = self.client.verify.v2.templates.list(friendly_name="no template has this name")
        expect_eq("templates named otherwise", none, [])

    def page_by_page(self):
        everything = [t.sid for t in self.client.verify.v2.templates.list()]
        # One per page: the library follows next_page_url to the end.
        paged = [t.sid for t in self.client.verify.v2.templates.list(page_size=1)]
        expect_eq("one per page", paged, everything)
        page = self.client.verify.v2.templates.page(page_size=1)
        expect_eq("the first page", [t.sid for t in page], everything[:1])


def main():
    if settings_missing(SCRIPT):
        return 1
    run = Run()
    steps = [run.list_templates, run.translations, run.filter_by_friendly_name, run.page_by_page]
    passed, failed = run_steps([(step.__name__, step) for step in steps])
    return summary(SCRIPT, passed, failed)


if __name__ == "__main__":
    sys.exit(main())
