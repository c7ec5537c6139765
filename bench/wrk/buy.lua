-- Scenario 3: buy cycle. One connection per thread, one buyer per connection: insert a 100-cent
-- coin, then buy one 35-cent product chosen at random (args: tokens file, product ids file).
function init(args)
  local tokens = read_lines(args[1])
  products = read_lines(args[2])
  math.randomseed(1000 + thread_id)
  headers = {["Authorization"] = "Bearer " .. tokens[thread_id + 1], ["Content-Type"] = "application/json"}
  deposit_request = wrk.format("POST", "/api/v1/deposit", headers, '{"coin": 100}')
  step = 0
end

function request()
  if step == 0 then return deposit_request end
  local product = products[math.random(#products)]
  return wrk.format("POST", "/api/v1/buy", headers, '{"productId": ' .. product .. ', "amount": 1}')
end

function response(status, headers, body)
  count_status(status)
  if status >= 200 and status < 300 then
    if step == 0 then deposits = deposits + 1 else cycles = cycles + 1 end
  end
  step = 1 - step
end
