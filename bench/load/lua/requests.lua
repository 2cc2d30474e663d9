-- Replays a request list (see common.lua): GETs with per-user bearer tokens, or POSTs whose
-- bodies get a fresh UUID v4 per request. Usage:
--     wrk -t2 -c32 -d10s --latency -s requests.lua http://127.0.0.1:PORT -- list.tsv
local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local list, position

function setup(thread)
  common.setup(thread)
end

function init(args)
  list = common.init(args)
  position = 0
end

function request()
  position = position % #list + 1
  return common.next_request(list, position)
end

function done(summary, latency, requests)
  common.done(summary, latency, requests)
end
