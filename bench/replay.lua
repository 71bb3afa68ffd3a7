-- wrk script: replays pre-signed raw HTTP requests in a cycle, then prints a JSON summary.
-- Usage: wrk -t THREADS ... -s bench/replay.lua URL -- REQUEST_FILE THREADS
-- REQUEST_FILE holds records of "<byte length>\n<raw request bytes>".

local threads = {}
local requests = {}
local position = 0

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

local function load(path)
   local file = assert(io.open(path, "rb"))
   local data = file:read("*a")
   file:close()
   local cursor = 1
   while cursor <= #data do
      local newline = assert(data:find("\n", cursor, true), "bad request file")
      local length = tonumber(data:sub(cursor, newline - 1))
      table.insert(requests, data:sub(newline + 1, newline + length))
      cursor = newline + length + 1
   end
   assert(#requests > 0, "no requests in " .. path)
end

function init(args)
   load(args[1])
   -- each thread starts at its own place in the cycle
   local thread_count = tonumber(args[2])
   position = math.floor(thread_index * #requests / thread_count)
end

function request()
   position = position % #requests + 1
   return requests[position]
end

function done(summary, latency, _)
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
      '"non_2xx":%d,"timeouts":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
