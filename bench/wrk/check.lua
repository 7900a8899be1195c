-- Wrong-code check: four per verification started by start.lua (the fifth would close it),
-- so every answer is 200 pending. wrk calls request() once before it sends anything, so the
-- first number of a run is never sent: start.lua's numbers begin at 2, and so do these.
dofile(os.getenv("WRK_DIR") .. "/common.lua")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, path("/VerificationCheck"), nil, "To=" .. phone(math.floor((n - 1) / 4) + 2) .. "&Code=000000")
end
