-- Right-code check: one per verification started by start.lua with VERIFYD_CODE, so every answer
-- is 200 approved. The first request() of a wrk run is never sent, so these begin at number 2.
dofile(os.getenv("WRK_DIR") .. "/common.lua")
local code = os.getenv("VERIFYD_CODE")
local n = 1
request = function()
  n = n + 1
  return wrk.format(nil, path("/VerificationCheck"), nil, "To=" .. phone(n) .. "&Code=" .. code)
end
