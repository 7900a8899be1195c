#!/usr/bin/env bash
# verifyd against what users run instead, with the same request mixes, machine and load
# generator (wrk -t1 -c32, bench/wrk/*.lua): start verification (a new number each) and check
# (a wrong code, four per verification). Installs what it compares from the package registries
# into target/ (nothing else is fetched): Stoplight Prism (npm, pinned in bench/compare/package.json)
# mocking verifyd's own spec/openapi.yaml, a stateless stand-in for Twilio Verify; and
# privacyIDEA (PyPI, pinned in bench/compare/requirements.txt, under gunicorn with 4 workers, on
# SQLite), a self-hosted OTP server, whose wrong-code check (`/validate/check` of a TOTP token)
# is set beside verifyd's (`VerificationCheck`). Prints each run, then the medians side by side.
#   bench/compare/run.sh            (RUNS=3 SECONDS_PER_ROW=5; needs wrk, node, npm and python3)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
runs="${RUNS:-3}"
seconds="${SECONDS_PER_ROW:-5}"
verifyd_port=18765
prism_port=18766
pi_port=18767
pi_tokens=100
source "$root/bench/wrk/lib.sh"

command -v wrk >/dev/null || { echo "compare: installing Debian's wrk"; apt-get install -y -q wrk >/dev/null; }
cargo build --release -q -p verifyd
node_dir="$root/target/compare-node"
mkdir -p "$node_dir"
if ! cmp -s bench/compare/package-lock.json "$node_dir/package-lock.json" || [[ ! -d "$node_dir/node_modules" ]]; then
  cp bench/compare/package.json bench/compare/package-lock.json "$node_dir/"
  (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
fi
prism="$node_dir/node_modules/.bin/prism"
venv="$root/target/compare-venv"
if ! cmp -s bench/compare/requirements.txt "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r bench/compare/requirements.txt
  cp bench/compare/requirements.txt "$venv/requirements.txt"
fi

wait_for() { for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "compare: $1 never answered" >&2; return 1; }

declare -A results
for run in $(seq "$runs"); do
  # verifyd: a fresh SQLite database, durable writes, request logs off.
  dir="$(mktemp -d)"
  VERIFYD_LISTEN="127.0.0.1:$verifyd_port" VERIFYD_DATABASE_URL="sqlite:$dir/verifyd.db" VERIFYD_ACCOUNT_SID="$account" \
    VERIFYD_AUTH_TOKEN="$token" VERIFYD_MASTER_KEY="$key" VERIFYD_LOG=warn target/release/verifyd serve >"$dir/log" 2>&1 &
  pid=$!
  wait_for "http://127.0.0.1:$verifyd_port/healthz"
  service="$(curl -fs -u "$account:$token" -X POST "http://127.0.0.1:$verifyd_port/v2/Services" -d FriendlyName=Bench \
    | sed -E 's/.*"sid": ?"(VA[0-9a-f]{32})".*/\1/')"
  export VERIFYD_SERVICE="$service" VERIFYD_PREFIX=/v2
  h="$(row healthz "http://127.0.0.1:$verifyd_port")"
  s="$(row start "http://127.0.0.1:$verifyd_port")"
  c="$(row check "http://127.0.0.1:$verifyd_port")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$dir"
  echo "run $run verifyd: healthz $h | start $s | check $c"
  results[verifyd_healthz]+="$h;"; results[verifyd_start]+="$s;"; results[verifyd_check]+="$c;"

  # Prism: the spec's paths at the root (its server URL ends in /v2), examples as answers.
  "$prism" mock -h 127.0.0.1 -p "$prism_port" spec/openapi.yaml >/tmp/compare-prism.log 2>&1 &
  pid=$!
  wait_for "http://127.0.0.1:$prism_port/Services"
  export VERIFYD_SERVICE=VA0123456789abcdef0123456789abcdef VERIFYD_PREFIX=
  s="$(row start "http://127.0.0.1:$prism_port")"
  c="$(row check "http://127.0.0.1:$prism_port")"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "run $run prism:   start $s | check $c"
  results[prism_start]+="$s;"; results[prism_check]+="$c;"

  # privacyIDEA: a fresh SQLite database, its keys, an admin, and $pi_tokens TOTP tokens.
  export PI_DIR="$(mktemp -d)" PRIVACYIDEA_CONFIGFILE="$root/bench/compare/pi.cfg"
  for step in "setup create_enckey" "setup create_audit_keys" "setup create_tables" "admin add admin -p compare-admin"; do
    # From its directory: pi-manage writes its own log file where it runs.
    # shellcheck disable=SC2086
    (cd "$PI_DIR" && "$venv/bin/pi-manage" $step >>setup.log 2>&1)
  done
  "$venv/bin/gunicorn" -w 4 -b "127.0.0.1:$pi_port" --chdir "$root/bench/compare" piapp:application >"$PI_DIR/gunicorn.log" 2>&1 &
  pid=$!
  wait_for "http://127.0.0.1:$pi_port/healthz/"
  jwt="$(curl -fs -X POST "http://127.0.0.1:$pi_port/auth" -d username=admin -d password=compare-admin \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["value"]["token"])')"
  for i in $(seq "$pi_tokens"); do
    curl -fs -o /dev/null -X POST "http://127.0.0.1:$pi_port/token/init" -H "Authorization: $jwt" -d type=totp \
      -d serial="$(printf 'BENCH%04d' "$i")" -d otpkey=3132333435363738393031323334353637383930 -d genkey=0
  done
  h="$(HEALTHZ_PATH=/healthz/ row healthz "http://127.0.0.1:$pi_port")"
  c="$(PI_TOKENS=$pi_tokens WRK_DIR="$root/bench/wrk" row ../compare/validate "http://127.0.0.1:$pi_port")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$PI_DIR"
  echo "run $run privacyIDEA: healthz $h | check $c"
  results[pi_healthz]+="$h;"; results[pi_check]+="$c;"
done

field() { tr ';' '\n' <<<"${results[$1]}" | sed '/^$/d' | cut -d' ' -f"$2" | median; }
echo
echo "medians of $runs runs, wrk -t1 -c32, ${seconds} s a row ($(nproc) cores shared by wrk and the server)"
echo "| mix | verifyd req/s | p99 ms | non-2xx | Prism req/s | p99 ms | non-2xx | privacyIDEA req/s | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cells() { [[ -n "${results[$1]:-}" ]] && echo "$(field "$1" 1) | $(field "$1" 3) | $(field "$1" 4)" || echo " | | "; }
echo "| health check | $(cells verifyd_healthz) | $(cells none) | $(cells pi_healthz) |"
echo "| start verification | $(cells verifyd_start) | $(cells prism_start) | $(cells none) |"
echo "| check a wrong code | $(cells verifyd_check) | $(cells prism_check) | $(cells pi_check) |"
