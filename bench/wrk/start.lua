-- Start verification: a new number per request (numbers 0, 1, 2, …), with VERIFYD_CODE as its
-- custom code when set (the service must allow custom codes).
dofile(os.getenv("WRK_DIR") .. "/common.lua")
local code = os.getenv("VERIFYD_CODE")
local custom = code and ("&CustomCode=" .. code) or ""
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, path("/Verifications"), nil, "To=" .. phone(n) .. "&Channel=sms" .. custom)
end
