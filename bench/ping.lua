-- Replays one pre-signed Discord PING (headers from the environment of the bench driver).
wrk.method = "POST"
wrk.path = "/interactions"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Signature-Ed25519"] = os.getenv("BENCH_SIG")
wrk.headers["X-Signature-Timestamp"] = os.getenv("BENCH_TS")

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
