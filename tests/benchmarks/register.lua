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

response = function(status)
  if status ~= 201 then
    wrk.thread:stop()
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
