-- A run id from the OS's random source: seeding math.random from os.time() and os.clock() gave two
-- runs started a few seconds apart the same id now and then (their records then came back duplicate).
function run_id()
  local source = assert(io.open("/dev/urandom", "rb"))
  local bytes = source:read(6)
  source:close()
  local n = 0
  for i = 1, #bytes do
    n = n * 256 + bytes:byte(i)
  end
  return string.format("%.0f", n)
end
