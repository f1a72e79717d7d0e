-- wrk script for make bench: a Bearer token, an optional JSON body, an optional request mix.
--   TOKEN   access token sent as "Authorization: Bearer ..." (optional: login needs none)
--   METHOD  HTTP method (default GET)
--   BODY    request body, sent as application/json (optional)
--   MIX     a file of requests to rotate over, one per line: "METHOD PATH [JSON BODY]"
--   STATUSES=1  count the answers by status code (costs wrk a little per response)
-- At the end one machine-readable line is printed: "BENCH key=value ..." (times in us), and
-- with STATUSES=1 another: "STATUSES 200=n 201=n ...".

local token = os.getenv("TOKEN")
local body = os.getenv("BODY")
local mix_file = os.getenv("MIX")

local headers = { ["Accept"] = "application/json" }
if token and token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end

wrk.method = os.getenv("METHOD") or "GET"
for name, value in pairs(headers) do
  wrk.headers[name] = value
end
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

if mix_file and mix_file ~= "" then
  local requests = {}
  -- Built in init(), which wrk calls once the Host header is known (not at load time).
  function init(args)
    for line in io.lines(mix_file) do
      local method, path, rest = line:match("^(%S+)%s+(%S+)%s*(.*)$")
      if method then
        local h = {}
        for name, value in pairs(wrk.headers) do
          h[name] = value
        end
        h["Content-Type"] = nil
        local b = nil
        if rest ~= "" then
          b = rest
          h["Content-Type"] = "application/json"
        end
        requests[#requests + 1] = wrk.format(method, path, h, b)
      end
    end
    assert(#requests > 0, "MIX names no requests")
  end
  local i = 0
  request = function()
    i = i % #requests + 1
    return requests[i]
  end
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

if os.getenv("STATUSES") == "1" then
  statuses = {}
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f "
      .. "status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
  if os.getenv("STATUSES") == "1" then
    local total = {}
    for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses") or {}) do
        total[status] = (total[status] or 0) + n
      end
    end
    local parts = {}
    for status, n in pairs(total) do
      parts[#parts + 1] = string.format("%d=%d", status, n)
    end
    table.sort(parts)
    io.write("STATUSES " .. table.concat(parts, " ") .. "\n")
  end
end
