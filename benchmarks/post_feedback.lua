-- wrk script: POST /v1/feedback with a unique external_id per request; optional pacing via RATE
-- (requests/s across all connections) for latency at a fixed load.
-- run_id(): an id for this run from the OS's random source (benchmarks/run_id.lua, beside this script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "run_id.lua")
local counter = 0
math.randomseed(os.time() + math.floor(os.clock() * 1e6))  -- pacing jitter only
local thread_id = run_id()
local rate = tonumber(os.getenv("RATE") or "0")
local connections = tonumber(os.getenv("CONNECTIONS") or "1")
local texts = {
  "包装破损但客服很专业，联系电话 13812345678",
  "The delivery was two days late and nobody answered the phone.",
  "车门生锈了，才买了三个月",
  "Great staff at the Pudong store, very helpful!",
}

request = function()
  counter = counter + 1
  local body = string.format(
    '{"external_id":"bench-%s-%d","channel":"app","customer_id":"C%d","text":"%s","csat":%d,'
    .. '"business_line":"retail","region":"east","occurred_at":"2026-11-20T09:30:00+08:00"}',
    thread_id, counter, counter % 5000, texts[counter % 4 + 1], counter % 5 + 1)
  return wrk.format("POST", "/v1/feedback",
    {["Content-Type"] = "application/json", ["X-API-Key"] = "dev-ingest-key"}, body)
end

if rate > 0 then
  delay = function()
    -- Each connection sends one request every connections/rate seconds, with jitter.
    local mean = connections * 1000 / rate
    return math.random(math.floor(mean * 0.5), math.floor(mean * 1.5))
  end
end
