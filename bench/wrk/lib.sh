# Shared by bench/wrk/measure.sh and bench/compare/run.sh (sourced; `seconds` set first): the
# benchmark account's credentials, the Lua scripts' environment, one wrk row, and a median.
account=AC0000000000000000000000000000beef
token=bench-auth-token-0123456789abcdef
key=0000000000000000000000000000000000000000000000000000000000000001
export WRK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export VERIFYD_AUTH="$(printf '%s:%s' "$account" "$token" | base64 -w0)"

row() { # script url → "rps p50 p99 non2xx"
  local out
  out="$(wrk -t1 -c32 -d"${seconds}s" -s "$WRK_DIR/$1.lua" "$2" 2>&1)"
  local rps p50 p99 bad
  rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '/^p50_ms/ {print $2}' <<<"$out")"
  p99="$(awk '/^p99_ms/ {print $2}' <<<"$out")"
  bad="$(awk '/^status / {s=$2; sub(":", "", s); if (s+0 < 200 || s+0 >= 300) n += $3} END {print n+0}' <<<"$out")"
  echo "$rps $p50 $p99 $bad"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
