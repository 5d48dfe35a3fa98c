-- Counts non-2xx responses per thread and, when the run is over, prints one line
-- "WRK_JSON {...}" with the figures that bench/web_throughput.py reads.
-- Latencies are in microseconds, as wrk measures them.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   non2xx = 0
   statuses = {}
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      statuses[status] = (statuses[status] or 0) + 1
   end
end

function done(summary, latency, requests)
   local non2xx_total = 0
   local codes = {}
   for _, t in ipairs(threads) do
      non2xx_total = non2xx_total + t:get("non2xx")
      local s = t:get("statuses")
      for code, n in pairs(s) do
         codes[#codes + 1] = string.format('"%d": %d', code, n)
      end
   end
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_s": %.6f, "rps": %.3f, "bytes": %d, ' ..
      '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p95": %d, "p99": %d}, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status_ge_400": %d, ' ..
      '"non_2xx": %d, "non_2xx_codes": {%s}}}\n',
      summary.requests, seconds, summary.requests / seconds, summary.bytes,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50.0), latency:percentile(90.0), latency:percentile(95.0), latency:percentile(99.0),
      e.connect, e.read, e.write, e.timeout, e.status, non2xx_total, table.concat(codes, ", ")))
end
