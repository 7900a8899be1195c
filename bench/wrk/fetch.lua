-- Fetch verification: the SIDs listed one a line in the file VERIFYD_SIDS, round and round.
dofile(os.getenv("WRK_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.headers["Content-Type"] = nil
local sids = {}
for line in io.lines(os.getenv("VERIFYD_SIDS")) do sids[#sids + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, path("/Verifications/" .. sids[(n % #sids) + 1]))
end
