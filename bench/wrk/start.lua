-- Start verification: a new number per request (numbers 0, 1, 2, …).
dofile(os.getenv("WRK_DIR") .. "/common.lua")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, path("/Verifications"), nil, "To=" .. phone(n) .. "&Channel=sms")
end
