-- wrk script: POST /v1/feedback/batch, BATCH records per request (default 1,000), each with a unique
-- external_id; the same four texts and fields as benchmarks.ingest.record(). Counts what the service
-- reports accepted (202 only after Kafka acknowledged) and prints "accepted N" when done.
-- run_id(): an id for this run from the OS's random source (benchmarks/run_id.lua, beside this script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "run_id.lua")
local counter = 0
local run = run_id()
local size = tonumber(os.getenv("BATCH") or "1000")
local texts = {
  "包装破损但客服很专业，联系电话 13812345678",
  "The delivery was two days late, call me at +44 20 7946 0958.",
  "车门生锈了，才买了三个月",
  "Great staff at the Pudong store, very helpful!",
}
accepted = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

request = function()
  local parts = {}
  for i = 1, size do
    counter = counter + 1
    parts[i] = string.format(
      '{"external_id":"wrk-batch-%s-%d","channel":"app","customer_id":"C%d","text":"%s","csat":%d,'
      .. '"business_line":"retail","region":"east","occurred_at":"2026-11-20T09:30:00+08:00"}',
      run, counter, counter % 5000, texts[counter % 4 + 1], counter % 5 + 1)
  end
  return wrk.format("POST", "/v1/feedback/batch",
    {["Content-Type"] = "application/json", ["X-API-Key"] = "dev-ingest-key"},
    '{"records":[' .. table.concat(parts, ",") .. ']}')
end

response = function(status, headers, body)
  local n = body:match('"accepted":(%d+)')
  if n then
    accepted = accepted + tonumber(n)
  end
end

done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("accepted")
  end
  io.write(string.format("accepted %d\n", total))
end
