-- wrk script: POST /v1/batch with 100 events per request, every messageId unique.
-- The Authorization header comes from the AUTH environment variable.
local auth = os.getenv("AUTH") or error("set AUTH")
local counter = 0
local events = {}
for i = 1, 100 do
  events[i] = string.format(
    '{"type":"track","userId":"user-%d","event":"Page Viewed","messageId":"MID-%d","properties":{"path":"/pricing","plan":"pro"},' ..
    '"context":{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0","page":{"url":"https://acme.io/pricing?utm_source=news"}}}',
    i * 37, i)
end
-- The body split at each messageId placeholder: a request joins the parts with its own prefix
-- (cheaper for wrk than a pattern substitution over the whole body).
local template = '{"batch":[' .. table.concat(events, ",") .. ']}'
local parts = {}
local from = 1
while true do
  local at = string.find(template, "MID", from, true)
  if not at then
    parts[#parts + 1] = string.sub(template, from)
    break
  end
  parts[#parts + 1] = string.sub(template, from, at - 1)
  from = at + 3
end

-- wrk runs one Lua state per thread, each with the same random sequence and counter: the thread's
-- own number (set by `setup`) keeps messageIds unique across threads.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = auth

request = function()
  counter = counter + 1
  -- A prefix unique to this request makes every messageId unique (dedup is on).
  local prefix = string.format("%d-%d-%d", tid, os.time(), counter)
  local body = table.concat(parts, prefix)
  return wrk.format(nil, "/v1/batch", nil, body)
end
