#!/usr/bin/env bash
# Ratios to /healthz with wrk as the load generator (wrk -t1 -c32), for one or more release
# `verifyd` binaries: for each, RUNS times: a fresh database, /healthz, start verification (new
# numbers), then wrong-code checks on those verifications (four each). Prints requests/s,
# p50/p99 and the non-2xx counts of each row, then the medians. A check past the verifications
# the starts made finds none (404): on PostgreSQL, where checks outrun starts several times,
# the start row runs START_SECONDS (3 × SECONDS_PER_ROW there) so that the check row has enough.
#   bench/wrk/measure.sh target/release/verifyd [other/verifyd …]   (RUNS=3 SECONDS_PER_ROW=5)
# DATABASE=postgres://user@host:port/db runs on PostgreSQL instead of a fresh SQLite file: each
# run on a fresh schema of that database (CREATE SCHEMA bench_<random>, dropped after; needs psql).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runs="${RUNS:-3}"
database="${DATABASE:-}"
seconds="${SECONDS_PER_ROW:-5}"
start_seconds="${START_SECONDS:-$seconds}"
[[ -n "$database" ]] && start_seconds="${START_SECONDS:-$((3 * seconds))}"
port=18765
source "$here/lib.sh"

# The server's database for a run, in $url: a file in $1, or a new schema (in $schema).
fresh_database() { # dir
  if [[ -z "$database" ]]; then url="sqlite:$1/verifyd.db"; return; fi
  schema="bench_$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
  psql -qX -v ON_ERROR_STOP=1 "$database" -c "CREATE SCHEMA $schema" >/dev/null
  local separator='?'
  if [[ "$database" == *'?'* ]]; then separator='&'; fi
  url="$database${separator}options=-csearch_path%3D$schema"
}
drop_schema() {
  if [[ -n "$database" ]]; then psql -qX -v ON_ERROR_STOP=1 "$database" -c "SET client_min_messages TO warning" -c "DROP SCHEMA $schema CASCADE" >/dev/null; fi
}
store="sqlite"; [[ -n "$database" ]] && store="postgres"

for binary in "$@"; do
  results=()
  for run in $(seq "$runs"); do
    dir="$(mktemp -d)"
    fresh_database "$dir"
    VERIFYD_LISTEN="127.0.0.1:$port" VERIFYD_DATABASE_URL="$url" VERIFYD_ACCOUNT_SID="$account" \
      VERIFYD_AUTH_TOKEN="$token" VERIFYD_MASTER_KEY="$key" VERIFYD_LOG=warn \
      "$binary" serve >"$dir/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    service="$(curl -fs -u "$account:$token" -X POST "http://127.0.0.1:$port/v2/Services" -d FriendlyName=Bench \
      | sed -E 's/.*"sid": ?"(VA[0-9a-f]{32})".*/\1/')"
    export VERIFYD_SERVICE="$service"
    base="http://127.0.0.1:$port"
    h="$(row healthz "$base")"; s="$(seconds="$start_seconds"; row start "$base")"; c="$(row check "$base")"
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; drop_schema
    echo "$binary ($store) run $run: healthz $h | start $s | check $c"
    results+=("$h|$s|$c")
  done
  for i in 0 1 2; do
    name=(healthz start check)
    rps="$(for r in "${results[@]}"; do IFS='|' read -ra parts <<<"$r"; echo "${parts[$i]}" | cut -d' ' -f1; done | median)"
    ratio="$(for r in "${results[@]}"; do IFS='|' read -ra parts <<<"$r";
      echo "${parts[$i]} ${parts[0]}" | awk '{printf "%.3f\n", $1 / $5}'; done | median)"
    p50="$(for r in "${results[@]}"; do IFS='|' read -ra parts <<<"$r"; echo "${parts[$i]}" | cut -d' ' -f2; done | median)"
    p99="$(for r in "${results[@]}"; do IFS='|' read -ra parts <<<"$r"; echo "${parts[$i]}" | cut -d' ' -f3; done | median)"
    echo "$binary ($store) median: ${name[$i]} ${rps} req/s, ratio ${ratio}, p50 ${p50} ms, p99 ${p99} ms"
  done
done
