"""What the Python compatibility scripts share: the server's settings, a twilio-python client
pointed at verifyd, assertions, and the step runner that prints the summary line
`cargo xtask test` reads. (A package, not a `compat/*.py` file, so it is not run as a script.)

Pointing twilio-python at verifyd: every product is a `Domain` whose `base_url` (for Verify
`https://verify.twilio.com`) is a plain public attribute joined with `v2/...` on every request;
setting `client.verify.base_url` once sends every Verify request to verifyd. `client.edge` and
`client.region` are cleared: TWILIO_EDGE / TWILIO_REGION would rewrite the host name.
"""

import datetime
import os

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

URL = os.environ.get("VERIFYD_URL", "").rstrip("/")
ACCOUNT_SID = os.environ.get("VERIFYD_ACCOUNT_SID", "")
AUTH_TOKEN = os.environ.get("VERIFYD_AUTH_TOKEN", "")


class StepFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise StepFailed(message)


def expect_eq(what, got, want):
    expect(got == want, f"{what}: got {got!r}, want {want!r}")


def expect_datetime(what, value):
    # twilio-python parses `%Y-%m-%dT%H:%M:%SZ` and silently leaves anything else a string.
    expect(
        isinstance(value, datetime.datetime),
        f"{what}: twilio-python could not parse it as a date-time: {value!r}",
    )


def expect_rest_error(what, call, status, code):
    """Runs `call`, which must raise a TwilioRestException with this status and code."""
    try:
        result = call()
    except TwilioRestException as e:
        expect(
            e.status == status and e.code == code,
            f"{what}: got HTTP {e.status} code {e.code} ({e.msg}), want HTTP {status} code {code}",
        )
        return e
    raise StepFailed(f"{what}: succeeded ({result!r}), want HTTP {status} code {code}")


def make_client():
    # A timeout, so that a server that never answers fails the step instead of hanging.
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=30))
    client.edge = None
    client.region = None
    client.verify.base_url = URL
    return client


def describe(error):
    if isinstance(error, TwilioRestException):
        # str() of this exception adds terminal colours; say it plainly.
        return f"TwilioRestException: HTTP {error.status} code {error.code} on {error.method} {error.uri}: {error.msg}"
    if isinstance(error, StepFailed):
        return str(error)
    return f"{type(error).__name__}: {error}"


def settings_missing(script):
    """Prints the failure and returns True when the server's settings are not given."""
    settings = {"VERIFYD_URL": URL, "VERIFYD_ACCOUNT_SID": ACCOUNT_SID, "VERIFYD_AUTH_TOKEN": AUTH_TOKEN}
    missing = [name for name, value in settings.items() if not value]
    if missing:
        print(f"compat {script}: {', '.join(missing)} not set")
        print(f"compat {script}: 0 passed, 1 failed")
    return bool(missing)


def run_steps(steps):
    """Runs `(name, callable)` steps in order, each reported, a failure not stopping the next.
    Returns (passed, failed)."""
    passed = failed = 0
    for name, step in steps:
        try:
            step()
        except Exception as error:  # noqa: BLE001 - every failure is reported, then the next step runs
            failed += 1
            print(f"FAIL {name}: {describe(error)}", flush=True)
        else:
            passed += 1
            print(f"ok  {name}", flush=True)
    return passed, failed


def summary(script, passed, failed):
    """Prints the line `cargo xtask test` adds up; returns the exit code."""
    print(f"compat {script}: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def delete_quietly(client, service_sid):
    """Best-effort clean-up after a failed run, so a rerun starts clean."""
    if service_sid is None:
        return
    try:
        client.verify.v2.services(service_sid).delete()
    except Exception:  # noqa: BLE001
        pass
