-- verifyd-bench's request mixes under wrk: replays the requests the benchmark prepared, one line
-- each in BENCH_REQUESTS (method, path, content type, body; tab-separated), in order, each once;
-- with BENCH_REPEAT=1 it starts the file over at its end (rows whose work repeats: a fetch).
-- Authorization comes from BENCH_AUTH. With BENCH_NEEDLE set, every answer must be
-- BENCH_STATUS and hold that text, which is counted here (wrk then reads every body); without
-- it, wrk's own count of 4xx and 5xx answers stands. A run that replays every line and wants
-- more sends GET /healthz from then on and says so (`bench_exhausted 1`): it is invalid.
local requests_path = os.getenv("BENCH_REQUESTS")
local again = os.getenv("BENCH_REPEAT") == "1"
local want_status = tonumber(os.getenv("BENCH_STATUS") or "200")
local needle = os.getenv("BENCH_NEEDLE") or ""
local auth = os.getenv("BENCH_AUTH") or ""

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- Globals, not locals: done() reads them from each thread (thread:get).
local file
exhausted, unexpected, non2xx, statuses = 0, 0, 0, {}
function init(args)
  file = assert(io.open(requests_path, "r"))
end

local fallback = nil
-- wrk (4.x) calls request() once before it connects, to check the request it makes, and never
-- sends that one: the first line is answered twice so that it is sent once.
local checked = nil
request = function()
  local line
  if checked == nil then
    checked = file:read("*l")
    line = checked
  elseif checked ~= false then
    line, checked = checked, false
  else
    line = file:read("*l")
  end
  if line == nil and again then
    file:seek("set", 0)
    line = file:read("*l")
  end
  if line == nil then
    exhausted = 1
    fallback = fallback or wrk.format("GET", "/healthz")
    return fallback
  end
  local method, path, content_type, body = line:match("^(%u+)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = { ["Authorization"] = auth }
  if content_type ~= "" then
    headers["Content-Type"] = content_type
  end
  if body == "" then
    body = nil
  end
  return wrk.format(method, path, headers, body)
end

if needle ~= "" then
  response = function(status, headers, body)
    if status < 200 or status > 299 then
      non2xx = non2xx + 1
      statuses[status] = (statuses[status] or 0) + 1
    end
    if status ~= want_status or not body or not body:find(needle, 1, true) then
      unexpected = unexpected + 1
    end
  end
end

function done(summary, latency, requests)
  local exhausted_any, unexpected_all, non2xx_all = 0, 0, 0
  for _, thread in ipairs(threads) do
    exhausted_any = math.max(exhausted_any, thread:get("exhausted") or 0)
    unexpected_all = unexpected_all + (thread:get("unexpected") or 0)
    non2xx_all = non2xx_all + (thread:get("non2xx") or 0)
    for status, count in pairs(thread:get("statuses") or {}) do
      io.write(string.format("bench_status %d %d\n", status, count))
    end
  end
  if needle == "" then
    -- wrk counts answers with a status of 400 or more; the rows expect 2xx only.
    non2xx_all = summary.errors.status
    unexpected_all = summary.errors.status
  end
  local socket = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("bench_requests %d\n", summary.requests))
  io.write(string.format("bench_duration_us %d\n", summary.duration))
  io.write(string.format("bench_p50_us %d\n", latency:percentile(50)))
  io.write(string.format("bench_p99_us %d\n", latency:percentile(99)))
  io.write(string.format("bench_non2xx %d\n", non2xx_all))
  io.write(string.format("bench_unexpected %d\n", unexpected_all + socket))
  io.write(string.format("bench_exhausted %d\n", exhausted_any))
end
