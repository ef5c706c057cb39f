#!/usr/bin/env python3
"""Worker benchmarks.

1. events applied per second, 1 and 4 consumers, all on one server record (every write contends on its
   etag), checked for exactness against the in-order result;
2. a log line written to the watched file -> the channel notice received by a loopback Discord, on `skald up`
   (p50 / p99).
"""
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SKALD = sys.argv[1]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def envelope(i, event, player, t, seq):
    return {"v": 1, "id": f"bench:{i}", "at": iso(t), "server": "valheim", "kind": "log", "host": "vm-0",
            "line": "...", "event": event, "player": player, "seq": seq}


def applied_throughput(consumers, n=5000, processes=1):
    data = tempfile.mkdtemp(prefix="skald-bench-worker-")
    env = dict(os.environ, SKALD_DATA=data, SKALD_HOST_START="true", SKALD_HOST_STOP="true",
               SKALD_LOG_LEVEL="error", SKALD_WORKER_CONSUMERS=str(consumers))
    t0 = time.time()
    lines = [json.dumps(envelope(0, "ready", None, t0, 0))]
    subprocess.run([SKALD, "queue", "send"], input="\n".join(lines) + "\n", env=env, text=True, check=True,
                   capture_output=True)
    # Bring the server online, then the evening: 20 players joining and leaving, in random order.
    w = subprocess.Popen([SKALD, "worker"], env=env, stdout=subprocess.DEVNULL)
    db = sqlite3.connect(os.path.join(data, "state.sqlite"))
    while True:
        try:
            row = db.execute("SELECT body FROM server_state WHERE server='valheim'").fetchone()
            if row and json.loads(row[0])["status"] == "online":
                break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.01)
    w.terminate()
    w.wait()
    online = set()
    events = []
    for i in range(1, n + 1):
        p = f"Viking{random.randrange(20)}"
        join = p not in online
        (online.add if join else online.discard)(p)
        events.append(envelope(i, "join" if join else "leave", p, t0 + i * 0.01, i))
    random.shuffle(events)
    subprocess.run([SKALD, "queue", "send"], input="\n".join(json.dumps(e) for e in events) + "\n", env=env,
                   text=True, check=True, capture_output=True)
    q = sqlite3.connect(os.path.join(data, "events.sqlite"))
    start = time.perf_counter()
    workers = [subprocess.Popen([SKALD, "worker"], env=env, stdout=subprocess.DEVNULL) for _ in range(processes)]
    while q.execute("SELECT count(*) FROM queue_messages WHERE event_id NOT LIKE 'timer:%'").fetchone()[0] > 0:
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    for w in workers:
        w.terminate()
        w.wait()
    state = json.loads(subprocess.run([SKALD, "state", "--json"], env=env, capture_output=True, text=True).stdout)[0]
    exact = set(state["players"]) == online and state["online_players"] == len(online)
    shutil.rmtree(data, ignore_errors=True)
    return n / elapsed, exact


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    arrivals = {}
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with Recorder.lock:
            Recorder.arrivals.setdefault(body.get("content", ""), time.perf_counter())
        out = b'{"id":"1"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_PATCH = do_POST


def notice_latency(samples=200):
    data = tempfile.mkdtemp(prefix="skald-bench-latency-")
    log = os.path.join(data, "valheim.log")
    open(log, "w").close()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, SKALD_DATA=data, SKALD_HOST_START="true", SKALD_HOST_STOP="true",
               SKALD_LOG_LEVEL="error", SKALD_LISTEN="127.0.0.1:0", SKALD_WATCH_FILE=log,
               DISCORD_PUBLIC_KEY="03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
               DISCORD_BOT_TOKEN="bench", DISCORD_CHANNEL_ID="1",
               DISCORD_API_BASE=f"http://127.0.0.1:{server.server_address[1]}/api/v10")
    up = subprocess.Popen([SKALD, "up"], env=env, stdout=subprocess.DEVNULL)

    def write(line):
        with open(log, "a") as f:
            f.write(time.strftime("%m/%d/%Y %H:%M:%S: ", time.gmtime()) + line + "\n")

    def wait_for(text, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            with Recorder.lock:
                if text in Recorder.arrivals:
                    return Recorder.arrivals[text]
            time.sleep(0.0005)
        raise RuntimeError(f"no notice {text!r}")

    time.sleep(0.5)
    write("Game server connected")
    wait_for("**valheim** is ready at `127.0.0.1:2456`. Have fun!")
    latencies = []
    for i in range(samples):
        # Players join one by one (a new name each time, so every line makes a notice).
        t = time.perf_counter()
        write(f"Got character ZDOID from Viking{i} : {1000 + i}:1")
        arrived = wait_for(f"Viking{i} joined ({i + 1} online)")
        latencies.append((arrived - t) * 1000)
        time.sleep(0.05)  # stay under Discord's global 50 requests/s, which the client honours
    up.terminate()
    up.wait()
    server.shutdown()
    shutil.rmtree(data, ignore_errors=True)
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], latencies[-1]


def main():
    print("\n## worker: events applied per second, one server record (every write contends on its etag)")
    for label, c, p in (("1 consumer", 1, 1), ("4 consumers, 1 process", 4, 1), ("4 processes x 1 consumer", 1, 4)):
        rate, exact = applied_throughput(c, processes=p)
        print(f"  {label:26s} {rate:8.0f} events/s   exact: {'yes' if exact else 'NO'}")
    p50, p99, worst = notice_latency()
    print("\n## log line written -> channel notice at a loopback Discord, on skald up (200 lines)")
    print(f"  p50 {p50:.1f} ms   p99 {p99:.1f} ms   worst {worst:.1f} ms")


if __name__ == "__main__":
    main()
