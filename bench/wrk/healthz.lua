-- GET /healthz (or HEALTHZ_PATH), with the same status tally and percentiles as the other mixes.
dofile(os.getenv("WRK_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.body = nil
wrk.headers["Content-Type"] = nil
local health = os.getenv("HEALTHZ_PATH") or "/healthz"
request = function()
  return wrk.format("GET", health)
end
