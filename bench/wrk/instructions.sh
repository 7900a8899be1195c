#!/usr/bin/env bash
# The SQLite writer's work per request, counted rather than timed: on a shared VM the rates and
# even the CPU times of one build move by 15 % from run to run, while instruction counts do
# not. Runs the server under callgrind (installs Debian's valgrind when missing), counting only
# the writer thread's operations and commits, drives one mix with wrk (-t1 -c32), and prints
# the instructions per request (operations, of them their writes, and commits) and the log
# frames per request and per commit. Under valgrind the server runs ~50 times slower, so its
# batches are smaller than at full speed (~8 requests, not ~22): compare builds with it, not
# with the benchmark's rates.
#   bench/wrk/instructions.sh target/release/verifyd [start|right|totp]
# `right` starts verifications with a custom code for 15 s (not counted), then checks each with
# its code for 8 s. `totp` creates and verifies TOTP_FACTORS (15000) factors, one entity each
# (not counted, through totp_factors.py), then creates a challenge with a right code for each,
# in an order unrelated to their creation, for 8 s. CALLGRIND_KEEP=FILE keeps the profile.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$1"; mix="${2:-start}"
port=18767
source "$here/lib.sh"
command -v valgrind >/dev/null || apt-get install -y -q valgrind >/dev/null
dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
VERIFYD_LISTEN="127.0.0.1:$port" VERIFYD_DATABASE_URL="sqlite:$dir/verifyd.db" VERIFYD_ACCOUNT_SID="$account" \
  VERIFYD_AUTH_TOKEN="$token" VERIFYD_MASTER_KEY="$key" VERIFYD_LOG=warn \
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
  --toggle-collect='*Operation>::run' --toggle-collect='*writer::control' "$binary" serve >"$dir/log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 300); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done
service="$(curl -fs -u "$account:$token" -X POST "$base/v2/Services" -d FriendlyName=Bench -d CustomCodeEnabled=true \
  | sed -E 's/.*"sid": ?"(VA[0-9a-f]{32})".*/\1/')"
export VERIFYD_SERVICE="$service" VERIFYD_CODE=482913
case "$mix" in
  start) script=start; seconds=20 ;;
  right)
    wrk -t1 -c32 -d15s -s "$here/start.lua" "$base" >/dev/null
    callgrind_control --zero "$pid" >/dev/null 2>&1
    script=right; seconds=8 ;;
  totp)
    python3 "$here/totp_factors.py" "$base" "$VERIFYD_AUTH" "$service" "${TOTP_FACTORS:-15000}" "$dir/challenges"
    callgrind_control --zero "$pid" >/dev/null 2>&1
    export BENCH_REQUESTS="$dir/challenges" BENCH_AUTH="Basic $VERIFYD_AUTH" BENCH_STATUS=201 BENCH_NEEDLE='"approved"'
    script=replay; seconds=8 ;;
  *) echo "unknown mix $mix (start, right or totp)" >&2; exit 2 ;;
esac
out="$(wrk -t1 -c32 -d"${seconds}s" -s "$here/$script.lua" "$base" 2>&1)"
if [ "$script" = replay ]; then
  # replay.lua counts the answers; one that ran out of prepared requests sent /healthz after.
  if [ "$(awk '/^bench_exhausted/ {print $2}' <<<"$out")" = 1 ]; then
    echo "the challenges ran out before the time: raise TOTP_FACTORS" >&2; exit 1
  fi
  requests="$(awk '/^bench_requests/ {print $2}' <<<"$out")"
  bad="$(awk '/^bench_unexpected/ {print $2}' <<<"$out")"
else
  requests="$(awk '/requests in/ {print $1}' <<<"$out")"
  bad="$(awk '/^status / {s=$2; sub(":", "", s); if (s+0 < 200 || s+0 >= 300) n += $3} END {print n+0}' <<<"$out")"
fi
kill -TERM "$pid"; wait "$pid" || true
# CALLGRIND_KEEP=FILE keeps the profile, for callgrind_annotate.
[ -z "${CALLGRIND_KEEP:-}" ] || cp "$dir/callgrind.out" "$CALLGRIND_KEEP"
# Inclusive counts by function, and the calls of the commit's frame writes.
totals="$(callgrind_annotate --inclusive=yes "$dir/callgrind.out")"
calls="$(callgrind_annotate --inclusive=yes --tree=calling "$dir/callgrind.out")"
count() { awk -v f="$1" 'index($0, f) {gsub(",", "", $1); print $1; exit}' <<<"$totals"; }
called() { awk -v f="$1" 'index($0, "> ") && index($0, f) {match($0, /\(([0-9,]+)x\)/); s = substr($0, RSTART + 1, RLENGTH - 3); gsub(",", "", s); print s; exit}' <<<"$calls"; }
awk -v m="$mix" -v n="$requests" -v b="$bad" -v run="$(count 'writer::Operation>::run')" \
  -v writes="$(count 'verifyd_store_sqlite::apply_changes ')" -v commit="$(count 'verifyd_store_sqlite::writer::control ')" \
  -v commits="$(called 'pagerWalFrames (')" -v frames="$(called 'walWriteOneFrame.isra.0 (')" \
  'BEGIN {printf "%s: %d requests (non-2xx %d); the writer per request: %.1fk instructions (operations %.1fk, of them writes %.1fk; commits %.1fk); %.2f log frames; per commit %.1f requests, %.1f frames\n",
    m, n, b, (run + commit) / n / 1000, run / n / 1000, writes / n / 1000, commit / n / 1000, frames / n, n / commits, frames / commits}'
