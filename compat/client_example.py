"""Compatibility: the generated Rust client's runnable example (`generated/client/examples/
verify.rs`), run as a user runs it, against a running `verifyd serve`. Environment:

    VERIFYD_URL             the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID     an account SID (AC…)
    VERIFYD_AUTH_TOKEN      its auth token
    VERIFYD_CLIENT_EXAMPLE  the built example (`cargo build -p verifyd-client --examples`)

Prints one line per step, then `compat client_example: N passed, M failed`.

The example creates a service, starts an SMS verification and asks for the code on standard
input; the script reads the code from verifyd's development outbox and types it in. Then a
wrong code, and wrong credentials: each must end the example with its explanation and exit 1.
"""

import os
import secrets
import subprocess
import sys

from support import ACCOUNT_SID, AUTH_TOKEN, URL, expect, expect_eq, run_steps, settings_missing, summary
from verify_happy_path import outbox_code

SCRIPT = "client_example"
EXAMPLE = os.environ.get("VERIFYD_CLIENT_EXAMPLE", "")
TIMEOUT = 60


def number():
    return "+1501" + "".join(secrets.choice("0123456789") for _ in range(7))


def environment(**extra):
    env = dict(os.environ)
    env.update(VERIFYD_URL=f"{URL}/v2", VERIFYD_ACCOUNT_SID=ACCOUNT_SID, VERIFYD_AUTH_TOKEN=AUTH_TOKEN)
    env.update(extra)
    return env


def approves_with_the_code_typed_in():
    to = number()
    example = subprocess.Popen(
        [EXAMPLE],
        env=environment(VERIFYD_TO=to),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        verification = None
        while verification is None:
            line = example.stdout.readline()
            expect(line != "", f"the example ended before starting a verification: {lines!r}")
            lines.append(line)
            if line.startswith("verification "):
                verification = line.split()[1]
        code = outbox_code(to, verification)
        out, err = example.communicate(code + "\n", timeout=TIMEOUT)
    finally:
        if example.poll() is None:
            example.kill()
    expect_eq("exit status", example.returncode, 0)
    expect(f"approved: {to} is verified" in out, f"stdout: {''.join(lines) + out!r}, stderr: {err!r}")


def run_with(**extra):
    return subprocess.run(
        [EXAMPLE], env=environment(**extra), capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
    )


def a_wrong_code_is_explained():
    done = run_with(VERIFYD_TO=number(), VERIFYD_CODE="000000")
    expect_eq("exit status", done.returncode, 1)
    expect("wrong code: the verification is pending" in done.stderr, f"stderr: {done.stderr!r}")


def wrong_credentials_are_explained():
    done = run_with(VERIFYD_AUTH_TOKEN="not-the-token", VERIFYD_CODE="000000")
    expect_eq("exit status", done.returncode, 1)
    expect("Twilio error 20003, HTTP 401" in done.stderr, f"stderr: {done.stderr!r}")


def main():
    if settings_missing(SCRIPT):
        return 1
    if not os.access(EXAMPLE, os.X_OK):
        print(f"FAIL setup: VERIFYD_CLIENT_EXAMPLE is not an executable: {EXAMPLE!r}")
        return summary(SCRIPT, 0, 1)
    passed, failed = run_steps(
        [
            ("the example approves with the code typed in", approves_with_the_code_typed_in),
            ("a wrong code is explained", a_wrong_code_is_explained),
            ("wrong credentials are explained", wrong_credentials_are_explained),
        ]
    )
    return summary(SCRIPT, passed, failed)


if __name__ == "__main__":
    sys.exit(main())
