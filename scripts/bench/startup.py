#!/usr/bin/env python3
"""Start-to-healthy time and idle RSS of a sessionforge-server binary.

Usage: startup.py BINARY RUNS [--tls]
Starts the binary RUNS times on a fresh data dir (first run: generates keys, certificate and
database) and RUNS times on an existing one (restart), each time measuring the wall time from
spawn until GET /api/v1/health answers 200 over plain HTTP on loopback. Then leaves one server
idle for 5 s and reads its resident set size. Prints one JSON object.
"""
import http.client, json, os, re, shutil, ssl, statistics, subprocess, sys, tempfile, time

TLS = "--tls" in sys.argv


def start(binary, data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONFORGE_")}
    env.update({"SESSIONFORGE_TLS__ENABLED": "true" if TLS else "false", "SESSIONFORGE_LOG__LEVEL": "warn"})
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "--data-dir", data_dir, "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    port = None
    for line in proc.stdout:
        m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    while True:
        try:
            c = connect(port)
            c.request("GET", "/api/v1/health")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
    return proc, port, (time.perf_counter() - t0) * 1000


def connect(port):
    if TLS:
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=1, context=ssl._create_unverified_context())
    return http.client.HTTPConnection("127.0.0.1", port, timeout=1)


def stop(proc):
    proc.terminate()
    proc.wait(timeout=20)


def main():
    binary, runs = sys.argv[1], int(sys.argv[2])
    first, restart = [], []
    for _ in range(runs):
        d = tempfile.mkdtemp()
        proc, _, ms = start(binary, d)
        first.append(ms)
        stop(proc)
        proc, _, ms = start(binary, d)
        restart.append(ms)
        stop(proc)
        shutil.rmtree(d)
    d = tempfile.mkdtemp()
    proc, port, _ = start(binary, d)
    for _ in range(100):
        c = connect(port)
        c.request("GET", "/api/v1/health")
        c.getresponse().read()
    time.sleep(5)
    with open(f"/proc/{proc.pid}/status") as f:
        rss_kb = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))
    stop(proc)
    shutil.rmtree(d)
    print(json.dumps({
        "first_run_ms_median": round(statistics.median(first), 1),
        "first_run_ms_max": round(max(first), 1),
        "restart_ms_median": round(statistics.median(restart), 1),
        "restart_ms_max": round(max(restart), 1),
        "idle_rss_mb": round(rss_kb / 1024, 1),
        "tls": TLS,
    }))


main()
