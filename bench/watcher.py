#!/usr/bin/env python3
"""Watcher benchmarks.

1. classification throughput: `skald classify` over a large generated Valheim log;
2. following a log written at 100 lines/s for 60 s: CPU time and peak RSS of `skald watch`, and the CPU time
   of the shell pipeline the Azure design used (tail | while read; grep; md5sum) on the same log.
"""
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SKALD = sys.argv[1]
FOLLOW_SECONDS = int(os.environ.get("BENCH_FOLLOW_SECONDS", "60"))
RATE = 100


def stamp(t):
    return time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(t))


def generate(n, t0=1795341600):
    """A Valheim-shaped log: mostly the server's periodic noise, with a session's worth of events mixed in."""
    rng = random.Random(42)
    lines = []
    online = []
    i = 0
    while len(lines) < n:
        t = stamp(t0 + i // 10)
        i += 1
        r = rng.random()
        if r < 0.55:
            lines.append(f"{t}: Connections {len(online)} ZDOS:{130000 + i % 5000}  sent:{i % 97} recv:{i % 4093}")
        elif r < 0.75:
            lines.append("(Filename: ./Runtime/Export/Debug/Debug.bindings.h Line: 35)")
        elif r < 0.85:
            lines.append("")
        elif r < 0.90:
            lines.append(f"{t}: Sending global keys to the peer")
        elif r < 0.93:
            lines.append(f"{t}: World saved ( {rng.uniform(700, 1200):.1f}ms )")
        elif r < 0.965 and len(online) < 10:
            sid = 76561198000000000 + rng.randrange(10**9)
            name = f"Viking{rng.randrange(10**6)}"
            owner = -rng.randrange(10**9)
            lines += [f"{t}: Got connection SteamID {sid}", f"{t}: Got handshake from client {sid}",
                      f"{t}: Got character ZDOID from {name} : {owner}:1"]
            online.append((sid, owner))
        elif online:
            sid, owner = online.pop(rng.randrange(len(online)))
            lines += [f"{t}: RPC_Disconnect", f"{t}: Destroying abandoned non persistent zdo {owner}:9 owner {owner}",
                      f"{t}: Closing socket {sid}"]
    return lines[:n]


def classify_throughput(n=2_000_000):
    d = tempfile.mkdtemp(prefix="skald-bench-classify-")
    path = os.path.join(d, "big.log")
    with open(path, "w") as f:
        f.write("\n".join(generate(n)) + "\n")
    size = os.path.getsize(path)
    best = None
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run([SKALD, "classify", path], stdout=subprocess.PIPE, check=True).stdout
        elapsed = time.perf_counter() - t
        best = elapsed if best is None else min(best, elapsed)
    events = out.count(b"\n")
    shutil.rmtree(d, ignore_errors=True)
    return n / best, size / best / 1e6, events


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory_mb(pid):
    """Peak RSS, and the private (anonymous) part of the current RSS."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def write_at_rate(path, lines, seconds):
    start = time.perf_counter()
    with open(path, "a", buffering=1) as f:
        for i in range(seconds * RATE):
            target = start + i / RATE
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            f.write(lines[i % len(lines)] + "\n")


def follow_skald(lines):
    d = tempfile.mkdtemp(prefix="skald-bench-follow-")
    path = os.path.join(d, "valheim.log")
    open(path, "w").close()
    env = dict(os.environ, SKALD_DATA=d, SKALD_LOG_LEVEL="warning", SKALD_HOST_NAME="bench")
    p = subprocess.Popen([SKALD, "watch", "--file", path], env=env)
    time.sleep(0.5)
    cpu0 = proc_cpu(p.pid)
    write_at_rate(path, lines, FOLLOW_SECONDS)
    time.sleep(0.5)
    cpu = proc_cpu(p.pid) - cpu0
    hwm = proc_memory_mb(p.pid)
    p.terminate()
    p.wait()
    shutil.rmtree(d, ignore_errors=True)
    return cpu, hwm


PIPELINE = r'''
tail -n +1 -F "$LOG" 2>/dev/null | while read -r LINE; do
  if echo "$LINE" | grep -qE "Got character ZDOID|Game server connected|Closing socket|Destroying abandoned"; then
    HASH=$(echo "$LINE" | md5sum | cut -d' ' -f1)
    if ! grep -qx "$HASH" "$SEEN" 2>/dev/null; then echo "$HASH" >> "$SEEN"; fi
  fi
done
'''


def follow_shell(lines):
    d = tempfile.mkdtemp(prefix="skald-bench-shell-")
    path = os.path.join(d, "valheim.log")
    open(path, "w").close()
    env = dict(os.environ, LOG=path, SEEN=os.path.join(d, "seen"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen(["bash", "-c", PIPELINE], env=env)
    time.sleep(0.5)
    write_at_rate(path, lines, FOLLOW_SECONDS)
    time.sleep(1.0)
    # End the pipeline the way `docker logs -f` ends: the reader goes away and the loop finishes.
    subprocess.run(["pkill", "-f", f"tail -n \\+1 -F {path}"])
    p.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(d, ignore_errors=True)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    rate, mbps, events = classify_throughput()
    print("\n## classification: skald classify over a generated 2,000,000-line Valheim log (best of 3)")
    print(f"  {rate:,.0f} lines/s ({mbps:.0f} MB/s), {events:,} events printed")
    # Line times end about now (the generator advances one second every ten lines).
    lines = generate(FOLLOW_SECONDS * RATE, t0=int(time.time()) - FOLLOW_SECONDS * RATE // 10)
    cpu, hwm = follow_skald(lines)
    shell = follow_shell(lines)
    wall = FOLLOW_SECONDS
    print(f"\n## following a log written at {RATE} lines/s for {wall} s")
    print(f"  skald watch      CPU {cpu:.2f} s = {cpu / wall * 100:.2f}% of a core, peak RSS {hwm['VmHWM']:.1f} MB"
          f" ({hwm['RssAnon']:.1f} MB private, {hwm['RssFile']:.1f} MB shared code pages)")
    print(f"  shell pipeline   CPU {shell:.2f} s = {shell / wall * 100:.1f}% of a core (tail | while read; grep; md5sum; no push)")
    print(f"  ratio            {shell / max(cpu, 0.001):.0f}x less CPU for skald")


if __name__ == "__main__":
    main()
