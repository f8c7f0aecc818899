-- wrk script for the side-by-side run with PostHog capture (run.sh, "Against PostHog capture"):
-- the same page view the peer's scripts send (../shared/peers/posthog-capture/single.lua), as
-- analytics.js sends it: a `page` call with analytics.js's context, ~1 KB of JSON per event, a
-- fresh messageId and a fresh anonymousId per event (unique across wrk threads and runs).
--   BATCH=1 (default): one event per request, POST /v1/page
--   BATCH=100: POST /v1/batch {"batch": [...100 events...], "sentAt": ...}
-- The Authorization header comes from the AUTH environment variable ("Basic base64(key:)").
local BATCH = tonumber(os.getenv("BATCH") or "1")
local auth = os.getenv("AUTH") or error("set AUTH")

local threads_started = 0
local main_prefix = nil
function setup(thread)
  if main_prefix == nil then
    math.randomseed(os.time())
    main_prefix = math.random(0, 0x7fffffff)
  end
  threads_started = threads_started + 1
  thread:set("wrk_tid", threads_started)
  thread:set("wrk_run_prefix", main_prefix)
end

local counter = 0
local tid = 1
local run_prefix = 0
local rnd = math.random
local fmt = string.format

function init(args)
  tid = rawget(_G, "wrk_tid") or 1
  run_prefix = rawget(_G, "wrk_run_prefix") or (os.time() % 0x7fffffff)
  math.randomseed(run_prefix + tid * 7919)
end

local function uuid()
  counter = counter + 1
  return fmt("%08x-%04x-4%03x-%04x-%04x%08x",
    run_prefix, rnd(0, 0xffff), rnd(0, 0xfff), 0x8000 + rnd(0, 0x3fff),
    tid % 0x10000, counter % 0x100000000)
end

-- The peer's pages, titles beside them.
local paths = { "/project/1/insights/trends", "/project/1/dashboard/42", "/project/1/replay/recent",
                "/project/1/persons", "/project/1/feature_flags/17", "/pricing", "/docs/getting-started" }
local titles = { "Trends", "Dashboard", "Recent recordings", "Persons", "Feature flag", "Pricing",
                 "Getting started" }

-- analytics.js's context (what analytics-next 1.70 sends from Chrome on a Mac), the same facts the
-- peer's `$os`, `$browser`, `$screen_*`, `$timezone`, `$lib` properties carry.
local STATIC_CONTEXT = '"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",'
  .. '"userAgentData":{"brands":[{"brand":"Chromium","version":"124"},{"brand":"Google Chrome","version":"124"}],"mobile":false,"platform":"macOS"},'
  .. '"locale":"en-US","timezone":"Europe/Berlin","screen":{"width":1728,"height":1117,"density":2},'
  .. '"library":{"name":"analytics.js","version":"npm:next-1.70.0"},'
  .. '"campaign":{"source":"newsletter"}'

local function event_json(ts)
  local anon = uuid()
  local i = rnd(1, #paths)
  local path, title = paths[i], titles[i]
  local url = fmt("https://app.example.com%s?ref=nav&utm_source=newsletter", path)
  local page = fmt('{"path":"%s","referrer":"https://www.google.com/","search":"?ref=nav&utm_source=newsletter","title":"%s","url":"%s"}',
    path, title, url)
  return fmt('{"type":"page","name":"%s","anonymousId":"%s","messageId":"ajs-next-%08x%08x%s","timestamp":"%s",'
    .. '"properties":%s,'
    .. '"context":{"page":%s,%s,"sessionId":%d,"pageviewId":"%s"},'
    .. '"integrations":{},"sentAt":"%s"}',
    title, anon, rnd(0, 0x7fffffff), rnd(0, 0x7fffffff), uuid():sub(25), ts,
    page, page, STATIC_CONTEXT, 1700000000000 + rnd(0, 0x7fffffff), uuid(), ts)
end

local headers = { ["Content-Type"] = "application/json", ["Authorization"] = auth }

function request()
  local ts = os.date("!%Y-%m-%dT%H:%M:%S.000Z", os.time())
  if BATCH <= 1 then
    return wrk.format("POST", "/v1/page", headers, event_json(ts))
  end
  local evs = {}
  for i = 1, BATCH do evs[i] = event_json(ts) end
  return wrk.format("POST", "/v1/batch", headers,
    fmt('{"batch":[%s],"sentAt":"%s"}', table.concat(evs, ","), ts))
end
