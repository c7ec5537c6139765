-- Scenario 2: GET /api/v1/users/me, each request with the next buyer's token (args: tokens file, threads).
function init(args)
  tokens = read_lines(args[1])
  local nthreads = tonumber(args[2])
  index = math.floor(thread_id * #tokens / nthreads)
end

function request()
  index = index % #tokens + 1
  return wrk.format("GET", "/api/v1/users/me", {["Authorization"] = "Bearer " .. tokens[index]})
end

function response(status, headers, body)
  count_status(status)
end
