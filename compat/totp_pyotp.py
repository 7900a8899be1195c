"""Compatibility: TOTP factors and challenges, driven by the official twilio-python helper
library, with codes computed by pyotp (an authenticator app's reading of the secret).

Run by `cargo xtask test` against a running `verifyd serve`. Environment:

    VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID  an account SID (AC…)
    VERIFYD_AUTH_TOKEN   its auth token

Prints one line per step (`ok  name` or `FAIL name: reason`), then
`compat totp_pyotp: N passed, M failed`, and exits 1 when a step failed.

For each of sha1, sha256 and sha512, with 8 digits and a 60-second step: a service, a TOTP
factor created through `entities(identity).new_factors.create(...)`, its `binding.uri` read
by `pyotp.parse_uri` (same secret, digits, period, algorithm, issuer and account name), and
its verification with pyotp's current code. Then challenges, without waiting for the clock:
on the sha1 factor the code of the step after the one that verified the factor (skew 1 admits
it; the verifying step itself may not be used again) approves one challenge, and no other; on
the sha256 factor a challenge created with a wrong code stays pending and is approved by that
next step's code.

The server runs on the real clock, so codes come from pyotp at the moment of the call.
Pointing the library at verifyd: see compat/verify_happy_path.py.
"""

import hashlib
import secrets
import sys
import time
import urllib.parse

import pyotp
from support import expect, expect_eq, make_client, run_steps, settings_missing, summary

SCRIPT = "totp_pyotp"
ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
DIGITS = 8
INTERVAL = 60
FACTOR_NAME = "Jane's phone"



class Factor:
    """What one algorithm's steps learn along the way."""

    def __init__(self, alg):
        self.alg = alg
        self.service_sid = None
        self.service_name = f"compat totp {alg}"
        self.identity = f"user-{secrets.token_hex(8)}"
        self.sid = None
        self.secret = None
        self.uri = None
        self.verified_at = None

    def totp(self):
        expect(self.secret is not None, "no secret (an earlier step failed)")
        return pyotp.TOTP(self.secret, digits=DIGITS, interval=INTERVAL, digest=ALGORITHMS[self.alg])


class Run:
    def __init__(self):
        self.client = make_client()
        self.factors = {alg: Factor(alg) for alg in ALGORITHMS}

    def entity(self, f):
        expect(f.service_sid is not None, "no service (an earlier step failed)")
        return self.client.verify.v2.services(f.service_sid).entities(f.identity)

    def steps(self):
        out = []
        for alg in ALGORITHMS:
            for name in ("create_service", "create_factor", "parse_uri", "verify_factor"):
                out.append((f"{name}_{alg}", getattr(self, name), alg))
        out.append(("challenge_next_step_sha1", self.challenge_next_step, "sha1"))
        out.append(("challenge_wrong_then_right_sha256", self.challenge_wrong_then_right, "sha256"))
        return out

    def create_service(self, alg):
        f = self.factors[alg]
        service = self.client.verify.v2.services.create(friendly_name=f.service_name)
        expect(service.sid and service.sid.startswith("VA"), f"sid: {service.sid!r}")
        f.service_sid = service.sid

    def create_factor(self, alg):
        f = self.factors[alg]
        factor = self.entity(f).new_factors.create(
            friendly_name=FACTOR_NAME,
            factor_type="totp",
            config_alg=alg,
            config_code_length=DIGITS,
            config_time_step=INTERVAL,
        )
        expect(factor.sid and factor.sid.startswith("YF"), f"sid: {factor.sid!r}")
        f.sid = factor.sid
        expect_eq("status", factor.status, "unverified")
        expect_eq("factor_type", factor.factor_type, "totp")
        expect_eq("identity", factor.identity, f.identity)
        expect_eq("friendly_name", factor.friendly_name, FACTOR_NAME)
        config = factor.config or {}
        expect_eq("config.alg", config.get("alg"), alg)
        expect_eq("config.code_length", config.get("code_length"), DIGITS)
        expect_eq("config.time_step", config.get("time_step"), INTERVAL)
        expect_eq("config.skew", config.get("skew"), 1)
        binding = factor.binding or {}
        f.secret = binding.get("secret")
        f.uri = binding.get("uri")
        expect(isinstance(f.secret, str) and f.secret, f"binding.secret: {binding!r}")
        expect(isinstance(f.uri, str) and f.uri.startswith("otpauth://totp/"), f"binding.uri: {binding!r}")

    def parse_uri(self, alg):
        f = self.factors[alg]
        expect(f.uri is not None, "no uri (an earlier step failed)")
        parsed = pyotp.parse_uri(f.uri)
        expect(isinstance(parsed, pyotp.TOTP), f"pyotp read {f.uri!r} as {type(parsed).__name__}")
        expect_eq("secret", parsed.secret, f.secret)
        expect_eq("digits", parsed.digits, DIGITS)
        expect_eq("interval", parsed.interval, INTERVAL)
        expect_eq("algorithm", parsed.digest().name, ALGORITHMS[alg]().name)
        expect_eq("issuer", parsed.issuer, f.service_name)
        expect_eq("account name", parsed.name, FACTOR_NAME)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(f.uri).query)
        expect_eq("algorithm in the URI", query.get("algorithm"), [alg.upper()])
        # Both readings of the secret give the same codes.
        now = int(time.time())
        expect_eq("pyotp's code from the URI", parsed.at(now), f.totp().at(now))

    def verify_factor(self, alg):
        f = self.factors[alg]
        expect(f.sid is not None, "no factor (an earlier step failed)")
        totp = f.totp()
        wrong = str((int(totp.now()) + 1) % 10**DIGITS).zfill(DIGITS)
        factor = self.entity(f).factors(f.sid).update(auth_payload=wrong)
        expect_eq("status after a wrong code", factor.status, "unverified")
        now = time.time()
        code = totp.at(now)
        factor = self.entity(f).factors(f.sid).update(auth_payload=code)
        expect_eq("status", factor.status, "verified")
        f.verified_at = now
        fetched = self.entity(f).factors(f.sid).fetch()
        expect_eq("status of a fetch", fetched.status, "verified")

    def challenge_next_step(self, alg):
        f = self.factors[alg]
        expect(f.verified_at is not None, "no verified factor (an earlier step failed)")
        totp = f.totp()
        # The verifying step must not be used again (replay), so the next step's code: with
        # skew 1 the server admits it now.
        code = totp.at(f.verified_at + INTERVAL)
        challenge = self.entity(f).challenges.create(factor_sid=f.sid, auth_payload=code)
        expect(challenge.sid and challenge.sid.startswith("YC"), f"sid: {challenge.sid!r}")
        expect_eq("status", challenge.status, "approved")
        expect_eq("factor_sid", challenge.factor_sid, f.sid)
        expect(challenge.date_responded is not None, "date_responded is not set")
        # The same code does not approve a second challenge.
        again = self.entity(f).challenges.create(factor_sid=f.sid, auth_payload=code)
        expect_eq("status of a second challenge with the same code", again.status, "pending")
        listed = self.entity(f).challenges.list(factor_sid=f.sid, status="approved")
        expect_eq("approved challenges listed", [c.sid for c in listed], [challenge.sid])

    def challenge_wrong_then_right(self, alg):
        f = self.factors[alg]
        expect(f.verified_at is not None, "no verified factor (an earlier step failed)")
        # The step after the verifying one, unused on this factor.
        code = f.totp().at(f.verified_at + INTERVAL)
        wrong = str((int(code) + 1) % 10**DIGITS).zfill(DIGITS)
        challenge = self.entity(f).challenges.create(factor_sid=f.sid, auth_payload=wrong)
        expect_eq("status after a wrong code", challenge.status, "pending")
        expect(challenge.date_responded is None, f"date_responded: {challenge.date_responded!r}")
        answered = self.entity(f).challenges(challenge.sid).update(auth_payload=code)
        expect_eq("status after the right code", answered.status, "approved")
        fetched = self.entity(f).challenges(challenge.sid).fetch()
        expect_eq("status of a fetch", fetched.status, "approved")
        expect(fetched.date_responded is not None, "date_responded is not set")

    def cleanup(self):
        for f in self.factors.values():
            if f.service_sid is not None:
                try:
                    self.client.verify.v2.services(f.service_sid).delete()
                except Exception:  # noqa: BLE001
                    pass


def main():
    if settings_missing(SCRIPT):
        return 1
    run = Run()
    passed, failed = run_steps([(name, lambda step=step, alg=alg: step(alg)) for name, step, alg in run.steps()])
    run.cleanup()
    return summary(SCRIPT, passed, failed)


if __name__ == "__main__":
    sys.exit(main())
