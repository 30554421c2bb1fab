-- wrk script: POST /v1/feedback with a unique external_id per request; optional pacing via RATE
-- (requests/s across all connections) for latency at a fixed load.
-- A run id from the OS's random source: seeding math.random from os.time() and os.clock() gave two
-- runs started a few seconds apart the same id now and then (their records then came back duplicate).
local function run_id()
  local source = assert(io.open("/dev/urandom", "rb"))
  local bytes = source:read(6)
  source:close()
  local n = 0
  for i = 1, #bytes do
    n = n * 256 + bytes:byte(i)
  end
  return string.format("%.0f", n)
end
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
