-- Shared by every scenario: per-thread status counters, reported as one JSON line by done().
-- bench.py prepends this file to the scenario script.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

ok, c4xx, c5xx, other, cycles, deposits = 0, 0, 0, 0, 0, 0

function count_status(status)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status >= 500 then c5xx = c5xx + 1
  elseif status >= 400 then c4xx = c4xx + 1
  else other = other + 1 end
end

function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  return lines
end

function done(summary, latency, requests)
  local t = {ok = 0, c4xx = 0, c5xx = 0, other = 0, cycles = 0, deposits = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(t) do t[key] = t[key] + (thread:get(key) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "p50_us": %.0f, "p99_us": %.0f, "max_us": %.0f, ' ..
    '"mean_us": %.0f, "socket_errors": %d, "non2xx": %d, "ok": %d, "c4xx": %d, "c5xx": %d, "other": %d, ' ..
    '"cycles": %d, "deposits": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    latency.mean, e.connect + e.read + e.write + e.timeout, e.status, t.ok, t.c4xx, t.c5xx, t.other,
    t.cycles, t.deposits))
end
