-- Shared by the scenario scripts: reading a request list, per-thread slicing, UUID v4, and a
-- machine-readable summary line at the end of the run.
--
-- A request list is a tab-separated file, one request a line:
--     METHOD <TAB> PATH <TAB> BEARER TOKEN (or -) <TAB> BODY (or -)
-- Every thread walks its own slice of the list (line id, id + threads, ...) round-robin, so
-- two threads never send the same line at the same time. In a BODY, every `{uuid}` becomes a
-- fresh random UUID v4 per request (unique client-made ids for POSTs).

local M = {}

local function split_tabs(line)
  local fields, start = {}, 1
  while true do
    local i = string.find(line, "\t", start, true)
    if not i then
      fields[#fields + 1] = string.sub(line, start)
      return fields
    end
    fields[#fields + 1] = string.sub(line, start, i - 1)
    start = i + 1
  end
end

function M.read_requests(path)
  local f = assert(io.open(path, "r"), "cannot open request list " .. tostring(path))
  local out = {}
  for line in f:lines() do
    if #line > 0 then
      local t = split_tabs(line)
      out[#out + 1] = {
        method = t[1],
        path = t[2],
        token = (t[3] ~= nil and t[3] ~= "-") and t[3] or nil,
        body = (t[4] ~= nil and t[4] ~= "-") and t[4] or nil,
      }
    end
  end
  f:close()
  assert(#out > 0, "empty request list " .. path)
  return out
end

local hex = "0123456789abcdef"
local function hexdigits(n)
  local s = {}
  for i = 1, n do
    local v = math.random(1, 16)
    s[i] = string.sub(hex, v, v)
  end
  return table.concat(s)
end

-- A random UUID v4: version nibble 4, variant bits 10xx.
function M.uuid4()
  local v = math.random(1, 4)
  local variant = string.sub("89ab", v, v)
  return hexdigits(8) .. "-" .. hexdigits(4) .. "-4" .. hexdigits(3) .. "-" .. variant
    .. hexdigits(3) .. "-" .. hexdigits(12)
end

local counter = 0
local threads = {}

-- wrk calls setup() once per thread, in the main Lua state, before the threads start.
function M.setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
  for _, t in ipairs(threads) do
    t:set("thread_count", counter)
  end
end

-- Per thread: load the list (path is the first script argument) and pick this thread's slice.
function M.init(args)
  local index = thread_index or 0
  local count = thread_count or 1
  math.randomseed(os.time() * 1000 + index * 7919 + math.floor((os.clock() * 1e6) % 100000))
  local all = M.read_requests(args[1])
  local mine = {}
  for i = index + 1, #all, count do
    mine[#mine + 1] = all[i]
  end
  if #mine == 0 then
    mine = all
  end
  -- Requests without a {uuid} are formatted once; the others per request.
  for _, r in ipairs(mine) do
    r.headers = { ["Accept"] = "application/json" }
    if r.token then
      r.headers["Authorization"] = "Bearer " .. r.token
    end
    if r.body then
      r.headers["Content-Type"] = "application/json"
    end
    if not (r.body and string.find(r.body, "{uuid}", 1, true)) then
      r.raw = wrk.format(r.method, r.path, r.headers, r.body)
    end
  end
  return mine
end

function M.next_request(list, position)
  local r = list[position]
  if r.raw then
    return r.raw
  end
  local body = string.gsub(r.body, "{uuid}", function() return M.uuid4() end)
  return wrk.format(r.method, r.path, r.headers, body)
end

-- One line the orchestrator parses besides wrk's own --latency text (times in microseconds).
function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOADJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"p50":%d,"p75":%d,"p90":%d,'
      .. '"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end

return M
