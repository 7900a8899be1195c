"""Spec-driven fuzzing: schemathesis generates requests from spec/openapi.yaml for every
operation and checks that a running verifyd answers each one as the spec says.

Run by `cargo xtask test` (and `cargo xtask fuzz`) against a `verifyd serve` it started, with
the Python packages of compat/fuzz/requirements.txt. Environment:

    VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID  an account SID (AC…)
    VERIFYD_AUTH_TOKEN   its auth token
    VERIFYD_FUZZ_SEED    the seed (default DEFAULT_SEED, so that CI runs the same cases each time)
    VERIFYD_FUZZ_REPORT  where the NDJSON report of the run goes (default: a temporary file)

Checks (compat/fuzz/schemathesis.toml): no 5xx, every status documented for the operation,
the documented content type, and a body that matches the response schema. The phases:
coverage (boundary values of each constraint), fuzzing (random valid and invalid data) and
stateful (sequences that follow the spec's `links`, so that a service created by one request
is fetched, updated and used by the next ones). Most requests with valid path parameters are
sent to real resources that compat/fuzz/hooks.py creates over HTTP as they are needed (so that
they test more than the 404 path); the rest keep their random SIDs.

Prints schemathesis's own output, then a table of the answers per operation (how much of the
valid data got a 2xx: a spec whose constraints do not match the server's tests little), then
`compat fuzz: N passed, M failed`, where an operation passes when none of its answers failed
a check. An operation that got no request at all counts as failed too. On a failure it prints
the seed and the commands that run the same cases again.
"""

import collections
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SCRIPT = "fuzz"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SPEC = ROOT / "spec" / "openapi.yaml"
CONFIG = HERE / "schemathesis.toml"
DEFAULT_SEED = 7204
METHODS = ("get", "post", "delete", "put", "patch")


def main():
    missing = [n for n in ("VERIFYD_URL", "VERIFYD_ACCOUNT_SID", "VERIFYD_AUTH_TOKEN") if not os.environ.get(n)]
    if missing:
        print(f"FAIL setup: {', '.join(missing)} not set")
        print(f"compat {SCRIPT}: 0 passed, 1 failed")
        return 1
    seed = os.environ.get("VERIFYD_FUZZ_SEED") or str(DEFAULT_SEED)
    if not seed.isdigit():
        print(f"FAIL setup: VERIFYD_FUZZ_SEED={seed!r} is not a number")
        print(f"compat {SCRIPT}: 0 passed, 1 failed")
        return 1
    report = os.environ.get("VERIFYD_FUZZ_REPORT")
    if report:
        report = Path(report)
        report.parent.mkdir(parents=True, exist_ok=True)
    else:
        report = Path(tempfile.mkdtemp(prefix="verifyd-fuzz-")) / "report.ndjson"

    schemathesis = Path(sys.executable).parent / ("schemathesis.exe" if os.name == "nt" else "schemathesis")
    arguments = ["--config-file", relative(CONFIG), "--no-color", "run", relative(SPEC), "--seed", seed]
    command = [str(schemathesis), *arguments, "--report", "ndjson", "--report-ndjson-path", str(report)]
    print(f"fuzz: seed {seed}; {shlex.join(command)}", flush=True)
    started = time.monotonic()
    # From the workspace, where the config's paths are relative to; with its cache off and the
    # report's path given, schemathesis writes nothing there.
    status = subprocess.run(command, cwd=ROOT).returncode
    elapsed = time.monotonic() - started

    operations = spec_operations()
    try:
        stats, failures, errors = read_report(report)
    except (OSError, ValueError) as e:
        stats, failures, errors = {}, {}, [f"cannot read the report {report}: {e}"]
    print_table(operations, stats)
    total = sum(s.total for s in stats.values())
    print(f"fuzz: {total} requests in {elapsed:.0f} s, seed {seed}")

    failed = dict(failures)
    for label in operations:
        if label not in stats:
            failed.setdefault(label, set()).add("no request reached this operation")
    if status != 0 and not failed and not errors:
        errors.append(f"schemathesis exited {status} with no failure recorded")
    for label in sorted(failed):
        print(f"FAIL {operations.get(label, label)} ({label}): {'; '.join(sorted(failed[label]))}")
    for error in errors:
        print(f"FAIL {error}")
    passed = len([label for label in operations if label not in failed])
    failed_count = len(failed) + len(errors)
    if failed_count:
        print(f"fuzz: to run the same cases again (seed {seed}), either")
        print(f"    VERIFYD_FUZZ_SEED={seed} cargo xtask fuzz")
        print("  or, from the workspace, against a verifyd of your own (VERIFYD_URL, VERIFYD_ACCOUNT_SID,")
        print("  VERIFYD_AUTH_TOKEN set):")
        print(f"    {shlex.join([str(schemathesis), *arguments])}")
        print(f"  the report of this run (every request and answer): {report}")
    print(f"compat {SCRIPT}: {passed} passed, {failed_count} failed")
    return 1 if failed_count else 0


def relative(argument):
    """A path under the workspace as a relative path, for a command to copy."""
    try:
        return str(Path(argument).relative_to(ROOT))
    except ValueError:
        return str(argument)


def spec_operations():
    """`METHOD /path` → operationId, for every operation of the spec."""
    spec = yaml.safe_load(SPEC.read_text())
    out = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                out[f"{method.upper()} {path}"] = item[method].get("operationId", "")
    return out


class Stats:
    """The answers one operation got: by the kind of data sent, then by status."""

    def __init__(self):
        self.positive = collections.Counter()
        self.negative = collections.Counter()

    @property
    def total(self):
        return sum(self.positive.values()) + sum(self.negative.values())


def read_report(path):
    """Per operation label: its Stats and the titles of its failed checks; and run errors."""
    stats = collections.defaultdict(Stats)
    failures = collections.defaultdict(set)
    errors = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if "ScenarioFinished" in event:
                recorder = event["ScenarioFinished"].get("recorder") or {}
                count_scenario(recorder, stats, failures)
            elif "NonFatalError" in event:
                # A request that got no answer (the server dropped the connection: a panic) or
                # could not be made; counted against its operation when it has one.
                error = event["NonFatalError"]
                value = error.get("value") or {}
                message = f"{value.get('type', 'error')}: {value.get('message', '')}"
                if error.get("related_to_operation") and error.get("label"):
                    failures[error["label"]].add(message)
                else:
                    errors.append(f"{error.get('label') or 'run'}: {message}")
            elif "FatalError" in event:
                errors.append(f"schemathesis: {event['FatalError'].get('exception', 'fatal error')}")
    return stats, failures, errors


def count_scenario(recorder, stats, failures):
    cases = recorder.get("cases") or {}
    for case_id, interaction in (recorder.get("interactions") or {}).items():
        case = (cases.get(case_id) or {}).get("value") or {}
        response = interaction.get("response")
        if not case or not response:
            continue
        label = f"{case['method'].upper()} {case['path']}"
        mode = ((case.get("meta") or {}).get("generation") or {}).get("mode")
        counter = stats[label].negative if mode == "negative" else stats[label].positive
        counter[response["status_code"]] += 1
    for checks in (recorder.get("checks") or {}).values():
        for check in checks:
            if check.get("status") != "failure":
                continue
            failure = ((check.get("failure_info") or {}).get("failure")) or {}
            label = failure.get("operation") or recorder.get("label") or "?"
            failures[label].add(f"{check['name']}: {failure.get('title', '')}")


def share(counter, keep):
    total = sum(counter.values())
    if not total:
        return "-"
    return f"{100 * sum(n for status, n in counter.items() if keep(status)) / total:.0f}%"


def print_table(operations, stats):
    """One row per operation: valid data sent, and what share of it got 2xx, 404, other 4xx;
    invalid data sent, and what share of it got a 4xx."""
    print()
    print(f"{'operation':<26} {'valid':>6} {'2xx':>5} {'404':>5} {'4xx':>5} {'invalid':>8} {'4xx':>5}")
    totals = Stats()
    for label, operation_id in operations.items():
        s = stats.get(label, Stats())
        totals.positive.update(s.positive)
        totals.negative.update(s.negative)
        print(row(operation_id, s))
    print(row("all operations", totals))
    print()


def row(name, s):
    return (
        f"{name:<26} {sum(s.positive.values()):>6} {share(s.positive, lambda c: 200 <= c < 300):>5}"
        f" {share(s.positive, lambda c: c == 404):>5} {share(s.positive, lambda c: 400 <= c < 500 and c != 404):>5}"
        f" {sum(s.negative.values()):>8} {share(s.negative, lambda c: 400 <= c < 500):>5}"
    )


if __name__ == "__main__":
    sys.exit(main())
