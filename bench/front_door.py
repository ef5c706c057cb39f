#!/usr/bin/env python3
"""Front-door benchmarks: Skald's interactions endpoint beside two reference endpoints.

1. process start -> first verified PONG (median of 20 runs)
2. signed PINGs/s with wrk, 64 connections, and p50/p99 latency
3. a new request's latency while 500 idle / half-sent connections are open (Skald only)
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from nacl.signing import SigningKey

HERE = os.path.dirname(os.path.abspath(__file__))
SKALD = sys.argv[1]
DURATION = os.environ.get("BENCH_WRK_SECONDS", "10")
KEY = SigningKey(bytes(range(1, 33)))
PUB = KEY.verify_key.encode().hex()
BODY = b'{"type":1,"id":"1180000000000000001","application_id":"1178000000000000000","token":"dG9rZW4","version":1}'


def signed():
    ts = str(int(time.time()))
    return ts, KEY.sign(ts.encode() + BODY).signature.hex()


def request_bytes(ts, sig):
    return (
        f"POST /interactions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Signature-Ed25519: {sig}\r\nX-Signature-Timestamp: {ts}\r\nContent-Length: {len(BODY)}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode() + BODY


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def implementations():
    return {
        "skald (Swift)": lambda addr, data: (
            [SKALD, "api"],
            {"DISCORD_PUBLIC_KEY": PUB, "SKALD_LISTEN": addr, "SKALD_DATA": data, "SKALD_LOG_LEVEL": "error"},
        ),
        "python + PyNaCl": lambda addr, data: (
            [sys.executable, os.path.join(HERE, "reference_python.py"), addr], {"DISCORD_PUBLIC_KEY": PUB}),
        "node http + crypto": lambda addr, data: (
            ["node", os.path.join(HERE, "reference_node.js"), addr], {"DISCORD_PUBLIC_KEY": PUB}),
    }


def start(make, port):
    data = tempfile.mkdtemp(prefix="skald-bench-")
    argv, env = make(f"127.0.0.1:{port}", data)
    full_env = dict(os.environ, **env)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, t0, data


def first_pong(port, t0, timeout=20):
    ts, sig = signed()
    req = request_bytes(ts, sig)
    while time.perf_counter() - t0 < timeout:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            time.sleep(0.0005)
            continue
        try:
            s.sendall(req)
            data = b""
            while True:  # Connection: close, so read to the end
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"HTTP/1.1 200") and data.endswith(b'{"type":1}'):
                return time.perf_counter() - t0
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.0005)
    raise RuntimeError("no PONG")


def stop(proc, data):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(data, ignore_errors=True)


def bench_startup(runs=20):
    results = {}
    for name, make in implementations().items():
        times = []
        for _ in range(runs):
            port = free_port()
            proc, t0, data = start(make, port)
            try:
                times.append(first_pong(port, t0))
            finally:
                stop(proc, data)
        results[name] = statistics.median(times) * 1000
    return results


def bench_wrk():
    results = {}
    for name, make in implementations().items():
        port = free_port()
        proc, t0, data = start(make, port)
        try:
            first_pong(port, t0)
            ts, sig = signed()
            env = dict(os.environ, BENCH_BODY=BODY.decode(), BENCH_SIG=sig, BENCH_TS=ts)
            out = subprocess.run(
                ["wrk", "-t2", "-c64", f"-d{DURATION}s", "--latency", "-s", os.path.join(HERE, "ping.lua"),
                 f"http://127.0.0.1:{port}/interactions"],
                env=env, capture_output=True, text=True, check=True).stdout
            line = next(l for l in out.splitlines() if l.startswith("BENCH "))
            fields = dict(kv.split("=") for kv in line.split()[1:])
            results[name] = {k: float(v) for k, v in fields.items()}
        finally:
            stop(proc, data)
    return results


def bench_starvation(idle=500, samples=30):
    make = implementations()["skald (Swift)"]
    port = free_port()
    proc, t0, data = start(make, port)
    held = []
    try:
        first_pong(port, t0)
        for i in range(idle):
            s = socket.create_connection(("127.0.0.1", port))
            if i % 2:
                s.sendall(b"POST /interactions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ty")
            held.append(s)
        time.sleep(0.2)
        times = []
        for _ in range(samples):
            ts, sig = signed()
            t = time.perf_counter()
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(request_bytes(ts, sig))
            data_in = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data_in += chunk
            times.append((time.perf_counter() - t) * 1000)
            s.close()
        return statistics.median(times), max(times)
    finally:
        for s in held:
            s.close()
        stop(proc, data)


def main():
    print(f"machine: {os.cpu_count()} cores; wrk -t2 -c64 -d{DURATION}s shares them with the server")
    startup = bench_startup()
    print("\n## process start -> first verified PONG (median of 20)")
    for name, ms in startup.items():
        print(f"  {name:22s} {ms:8.1f} ms")
    wrk = bench_wrk()
    print("\n## signed PINGs/s, wrk 64 connections")
    for name, r in wrk.items():
        print(f"  {name:22s} {r['rps']:10.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:7.2f} ms"
              f"   errors {int(r['errors'])}  non-2xx {int(r['non2xx'])}")
    med, worst = bench_starvation()
    print("\n## a new signed PING while 500 idle / half-sent connections are open (skald)")
    print(f"  median {med:.2f} ms, worst of 30 {worst:.2f} ms")
    skald = wrk["skald (Swift)"]["rps"]
    print("\n## ratios")
    print(f"  skald / python throughput: {skald / wrk['python + PyNaCl']['rps']:.1f}x")
    print(f"  skald / node throughput:   {skald / wrk['node http + crypto']['rps']:.2f}x")
    json.dump({"startup_ms": startup, "wrk": wrk, "starvation_ms": {"median": med, "worst": worst}},
              open(os.environ.get("BENCH_JSON", "/dev/null"), "w"), indent=1)


if __name__ == "__main__":
    main()
