#!/usr/bin/env python3
"""Server memory under failed sign-ins, and whether it is returned afterwards.

Usage: signin_memory.py BINARY [ATTEMPTS=1000] [CONCURRENCY=30] [IDLE_SECS=60]
Starts BINARY on a fresh data dir (plain HTTP on loopback, rate limits raised so that every
attempt reaches password hashing), creates the first admin, then sends ATTEMPTS sign-ins with a
wrong password from CONCURRENCY threads, sampling the resident set size all along; then waits
IDLE_SECS and reads it again. Prints one JSON object (RSS in MiB).
"""
import http.client, json, os, re, subprocess, sys, tempfile, threading, time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def main():
    binary = sys.argv[1]
    attempts = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    idle = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONFORGE_")}
    env.update({
        "SESSIONFORGE_TLS__ENABLED": "false",
        "SESSIONFORGE_LOG__LEVEL": "warn",
        "SESSIONFORGE_RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE": "1000000",
        "SESSIONFORGE_RATE_LIMIT__LOGIN_PER_ACCOUNT_PER_MINUTE": "1000000",
        "SESSIONFORGE_RATE_LIMIT__LOGIN_PER_ACCOUNT_AND_IP_PER_MINUTE": "1000000",
    })
    data = tempfile.mkdtemp()
    proc = subprocess.Popen([binary, "--data-dir", data, "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    port = token = None
    for line in proc.stdout:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
        m = re.search(r"setup\?token=(\w+)", line)
        if m:
            token = m.group(1)
            break
    assert post(port, "/api/v1/setup", {"token": token, "email": "admin@example.com",
                                        "password": "a long admin passphrase"}) == 201
    time.sleep(2)
    idle_before = rss_mib(proc.pid)
    peak = [idle_before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(proc.pid))
            time.sleep(0.05)

    counter = iter(range(attempts))
    lock = threading.Lock()
    statuses = {}

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            s = post(port, "/api/v1/auth/login", {"email": f"user{i % 50}@example.com", "password": "wrong password!"})
            with lock:
                statuses[s] = statuses.get(s, 0) + 1

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    after = rss_mib(proc.pid)
    time.sleep(idle)
    done.set()
    sampler.join()
    settled = rss_mib(proc.pid)
    proc.terminate()
    proc.wait(timeout=20)
    print(json.dumps({
        "attempts": attempts, "concurrency": concurrency, "statuses": statuses, "seconds": round(took, 1),
        "rss_idle_mib": round(idle_before, 1), "rss_peak_mib": round(peak[0], 1),
        "rss_right_after_mib": round(after, 1), f"rss_after_{idle}s_idle_mib": round(settled, 1),
    }))


if __name__ == "__main__":
    main()
