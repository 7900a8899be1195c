-- privacyIDEA's code check: POST /validate/check with a wrong code for one of PI_TOKENS TOTP
-- tokens in turn (each refuses after 10 failures; the rows stay well under that).
dofile(os.getenv("WRK_DIR") .. "/common.lua")
wrk.headers["Authorization"] = nil
local n = 0
local tokens = tonumber(os.getenv("PI_TOKENS") or "1")
request = function()
  n = n + 1
  return wrk.format(nil, "/validate/check", nil, string.format("serial=BENCH%04d&pass=000000", (n % tokens) + 1))
end
