-- wrk script: POST /v1/payments with a fresh Idempotency-Key per request, answers counted
-- by status. Arguments (after --): key prefix, API key, JSON body.
-- Prints name=value lines that bench/loadgen.py reads.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix, api_key, body, sent, statuses = args[1], args[2], args[3], 0, {}
end

function request()
  sent = sent + 1
  local headers = {
    ["Authorization"] = "Bearer " .. api_key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%d", prefix, tid, sent),
  }
  return wrk.format("POST", "/v1/payments", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("duration_us=%d\n", summary.duration))
  io.write(string.format("p50_us=%d\n", latency:percentile(50)))
  io.write(string.format("p99_us=%d\n", latency:percentile(99)))
  for _, kind in ipairs({"connect", "read", "write", "timeout"}) do
    io.write(string.format("socket_%s=%d\n", kind, summary.errors[kind]))
  end
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status_%d=%d\n", status, count))
    end
  end
end
