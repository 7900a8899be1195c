-- Shared by the request mixes: Basic auth from VERIFYD_AUTH, the service from VERIFYD_SERVICE,
-- the API's path prefix from VERIFYD_PREFIX (`/v2`, or empty for a server mounted as the spec's
-- server URL says, such as a Prism mock), and phone numbers spread over the range, numbered so
-- that another mix can find them again.
local service = os.getenv("VERIFYD_SERVICE")
local prefix = os.getenv("VERIFYD_PREFIX") or "/v2"
wrk.method = "POST"
wrk.headers["Authorization"] = "Basic " .. os.getenv("VERIFYD_AUTH")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

-- The n-th number: a walk over 10^9 values by a step prime to 10^9 (the golden ratio's part of
-- the range), so that the numbers a batch of requests carries land far apart, on random index
-- pages, as real traffic's do. (A small step kept a batch's numbers next to each other.)
function phone(n)
  return string.format("%%2B1%010d", 2000000000 + (n * 618033989) % 1000000000)
end

function path(suffix)
  return prefix .. "/Services/" .. service .. suffix
end

-- Globals, not locals: each thread counts its own, and done() (which runs apart from the
-- threads) reads them through thread:get.
statuses = {}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      all[status] = (all[status] or 0) + count
    end
  end
  for status, count in pairs(all) do
    io.write(string.format("status %d: %d\n", status, count))
  end
  io.write(string.format("p50_ms %.3f\np99_ms %.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
