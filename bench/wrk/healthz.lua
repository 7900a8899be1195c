-- GET /healthz, with the same status tally and percentiles as the other mixes.
dofile(os.getenv("WRK_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.body = nil
wrk.headers["Content-Type"] = nil
request = function()
  return wrk.format("GET", "/healthz")
end
