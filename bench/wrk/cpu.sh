#!/usr/bin/env bash
# The server's CPU per request, for profiling one build (interleave builds to compare them):
# a fresh SQLite database, then one mix with wrk (-t1 -c32) for SECONDS_PER_ROW (8) seconds, and the CPU the
# server's threads used meanwhile (utime + stime from /proc), divided by the requests: the
# whole process, and the SQLite writer thread alone (the serial part of every write).
#   bench/wrk/cpu.sh target/release/verifyd [start|check|fetch]
# `check` runs the start mix first (as long) and checks those verifications with a wrong code;
# `fetch` starts 500 verifications with curl and fetches them. Prints the requests/s, the
# non-2xx count and the microseconds of CPU per request; VERBOSE=1 also prints wrk's output.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$1"; mix="${2:-start}"; seconds="${SECONDS_PER_ROW:-8}"
port=18766
source "$here/lib.sh"
dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
VERIFYD_LISTEN="127.0.0.1:$port" VERIFYD_DATABASE_URL="sqlite:$dir/verifyd.db" VERIFYD_ACCOUNT_SID="$account" \
  VERIFYD_AUTH_TOKEN="$token" VERIFYD_MASTER_KEY="$key" VERIFYD_LOG=warn "$binary" serve >"$dir/log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
service="$(curl -fs -u "$account:$token" -X POST "$base/v2/Services" -d FriendlyName=Bench \
  | sed -E 's/.*"sid": ?"(VA[0-9a-f]{32})".*/\1/')"
export VERIFYD_SERVICE="$service"
case "$mix" in
  check) wrk -t1 -c32 -d"${seconds}s" -s "$here/start.lua" "$base" >/dev/null ;;
  fetch)
    export VERIFYD_SIDS="$dir/sids"
    for n in $(seq 500); do
      curl -fs -u "$account:$token" -X POST "$base/v2/Services/$service/Verifications" \
        --data-urlencode "To=+1415555$(printf '%04d' "$n")" -d Channel=sms \
        | sed -E 's/.*"sid": ?"(VE[0-9a-f]{32})".*/\1/'
      echo
    done >"$VERIFYD_SIDS"
    if grep -qvE '^VE[0-9a-f]{32}$' "$VERIFYD_SIDS"; then echo "a start failed: $(grep -vE '^VE' "$VERIFYD_SIDS" | head -1)" >&2; exit 1; fi ;;
  start) ;;
  *) echo "unknown mix $mix (start, check or fetch)" >&2; exit 2 ;;
esac
# The writer: the busier of the two threads named verifyd-sqlite-* (the other checkpoints).
ticks() { awk '{print $14 + $15}' "$1"; }
threads=(/proc/"$pid"/task/*)
writer=""; writer_b=""
for t in "${threads[@]}"; do
  [[ "$(cat "$t/comm")" == verifyd-sqlite-* ]] || continue
  [[ -n "$writer" ]] && writer_b="$t" || writer="$t"
done
w0a="$(ticks "$writer/stat")"; w0b="$(ticks "${writer_b:-$writer}/stat")"; p0="$(ticks "/proc/$pid/stat")"
out="$(wrk -t1 -c32 -d"${seconds}s" -s "$here/$mix.lua" "$base" 2>&1)"
[[ -n "${VERBOSE:-}" ]] && echo "$out" >&2
w1a="$(ticks "$writer/stat")"; w1b="$(ticks "${writer_b:-$writer}/stat")"; p1="$(ticks "/proc/$pid/stat")"
requests="$(awk '/requests in/ {print $1}' <<<"$out")"
rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
bad="$(awk '/^status / {s=$2; sub(":", "", s); if (s+0 < 200 || s+0 >= 300) n += $3} END {print n+0}' <<<"$out")"
hz="$(getconf CLK_TCK)"
writer_ticks=$(( (w1a - w0a) > (w1b - w0b) ? (w1a - w0a) : (w1b - w0b) ))
awk -v m="$mix" -v r="$rps" -v b="$bad" -v n="$requests" -v p="$((p1 - p0))" -v w="$writer_ticks" -v hz="$hz" \
  'BEGIN {printf "%s: %s requests/s, non-2xx %s, CPU per request %.1f us (the writer %.1f us)\n", m, r, b, p / hz / n * 1e6, w / hz / n * 1e6}'
