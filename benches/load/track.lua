-- wrk script: single-event POST /v1/track with a unique messageId per request.
-- The Authorization header comes from the AUTH environment variable.
local counter = 0
-- "Basic base64(WRITE_KEY:)", computed by run.sh.
local auth = os.getenv("AUTH") or error("set AUTH")

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
  local body = string.format(
    '{"userId":"user-%d","event":"Page Viewed","messageId":"%d-%d-%d","properties":{"path":"/pricing"},' ..
    '"context":{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0","page":{"url":"https://acme.io/pricing?utm_source=news"}}}',
    counter % 5000, tid, os.time(), counter)
  return wrk.format(nil, "/v1/track", nil, body)
end
