-- Scenario 4: POST /api/v1/auth/login, rotating over the buyers (args: usernames file, password, threads).
function init(args)
  usernames = read_lines(args[1])
  password = args[2]
  index = math.floor(thread_id * #usernames / tonumber(args[3]))
end

function request()
  index = index % #usernames + 1
  local body = '{"username": "' .. usernames[index] .. '", "password": "' .. password .. '"}'
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  count_status(status)
end
