-- wrk script: POST /immigration with a fresh traveller every request (wrk -t1, so one counter).
local prefix = string.format("%06d", os.time() % 1000000)
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench Traveller","dni":"B%s%08d","lodging":"Hotel","declared_money":"900.00","flight_number":"AA123"}',
    prefix, counter)
  return wrk.format(nil, "/immigration", nil, body)
end

-- The API's answer, not just its status: 201 and the registered entry's JSON (with its id). A wrong
-- base path or a proxy's error page stops the run instead of being measured as registrations.
response = function(status, headers, body)
  if status ~= 201 or not string.find(body or "", '"id":%s*%d') then
    wrk.thread:stop()
    io.stderr:write("not the API's registration: status " .. status .. ", body " .. string.sub(body or "", 1, 80) .. "\n")
  end
end
