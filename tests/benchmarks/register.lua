-- wrk script: POST {base path}/immigration with a fresh traveller every request (wrk -t1, so one counter).
-- Every answer must be the API's registration: 201 and the entry's JSON (with its id). Anything else
-- (a wrong base path, a proxy's error page) stops the run, and wrk exits 1 instead of reporting
-- those answers as registrations per second.
local prefix = string.format("%06d", os.time() % 1000000)
local counter = 0
local threads = {}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench Traveller","dni":"B%s%08d","lodging":"Hotel","declared_money":"900.00","flight_number":"AA123"}',
    prefix, counter)
  local base = (string.gsub(wrk.path, "/+$", ""))
  return wrk.format(nil, base .. "/immigration", nil, body)
end

response = function(status, headers, body)
  if status ~= 201 or not string.find(body or "", '"id":%s*%d') then
    wrong_answer = string.format("status %d, body %s", status, string.sub(body or "", 1, 80))
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local why = thread:get("wrong_answer")
    if why then
      io.stderr:write("not the API's registration: " .. why .. "\n")
      os.exit(1)
    end
  end
end
