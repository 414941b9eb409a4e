// How the session view copes with volume, in real headless Chromium against a real server and
// agent: (1) opening a session with 10 MB of stored output, time until its latest screen shows;
// (2) a session printing 5 MB/s for 20 s, whether the page keeps up and stays responsive
// (animation-frame gaps, long tasks), with how far the terminal lags behind.
import { test } from "@playwright/test";
import { PASSWORD, ADMIN_EMAIL, TestServer, waitFor } from "../tests/harness";
import { signIn, terminalText } from "../tests/pages";

const OPEN_RUNS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

test("10 MB of stored output: time to the latest screen", async ({ browser }) => {
  const server = await TestServer.start();
  try {
    const org = await server.setupAdmin();
    const agent = await server.enrollAgent(org);
    await agent.run(org);
    // 7.5 MB of random bytes as base64 lines: 10 MB of printable output, then a marker.
    const script = "head -c 7500000 /dev/urandom | base64; echo LATEST-SCREEN-MARKER; exec sleep 600";
    const id = await agent.wrap(org, ["sh", "-c", script]);
    const total = await waitFor(
      "10 MB stored",
      async () => {
        const s = await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`);
        return s.output_end >= 10_000_000 ? (s.output_end as number) : undefined;
      },
      120_000,
    );
    const times: number[] = [];
    const phases: unknown[] = [];
    for (let i = 0; i < OPEN_RUNS; i++) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
      const url = `${server.base}/orgs/${org}/sessions/${id}`;
      const started = Date.now();
      await page.goto(url);
      await page.waitForFunction(
        () => {
          const t = (window as unknown as { sessionforgeTerminal?: { term: { buffer: { active: { baseY: number; length: number; getLine(i: number): { translateToString(): string } | undefined } } } } }).sessionforgeTerminal?.term;
          if (!t) return false;
          const b = t.buffer.active;
          for (let y = b.baseY; y < b.length; y++) if (b.getLine(y)?.translateToString().includes("LATEST-SCREEN-MARKER")) return true;
          return false;
        },
        null,
        { polling: "raf", timeout: 60_000 },
      );
      times.push(Date.now() - started);
      phases.push(
        await page.evaluate(() => {
          const at = (name: string) => Math.round(performance.getEntriesByName(name)[0]?.startTime ?? -1);
          const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
          return { dom_ready: Math.round(nav.domContentLoadedEventEnd), attached: at("sessionforge:attached"), first_output: at("sessionforge:first-output"), all_received: at("sessionforge:live"), shown: Math.round(performance.now()) };
        }),
      );
      if (i === 0 && !(await terminalText(page)).includes("LATEST-SCREEN-MARKER")) throw new Error("marker missing");
      await context.close();
    }
    console.log(JSON.stringify({ scenario: "open-10MB", stored_bytes: total, runs_ms: times, median_ms: median(times), max_ms: Math.max(...times), phases_ms: phases }));
  } finally {
    await server.stop();
  }
});

test("5 MB/s for 20 s: the page keeps up without freezing", async ({ browser }) => {
  const server = await TestServer.start();
  try {
    const org = await server.setupAdmin();
    const agent = await server.enrollAgent(org);
    await agent.run(org);
    const page = await browser.newPage();
    await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
    // Node prints 50 KB every 10 ms (5 MB/s) of coloured text lines for 20 s, then a marker.
    // One line: the server refuses session arguments with control characters (newlines too).
    const writer = [
      `const line = "\\x1b[32m" + "x".repeat(90) + "\\x1b[0m\\r\\n"; const chunk = line.repeat(Math.ceil(50000 / line.length));`,
      `let n = 0; const t0 = Date.now(); const iv = setInterval(() => { process.stdout.write(chunk); n++;`,
      `if (Date.now() - t0 >= 20000) { clearInterval(iv); process.stdout.write("STREAM-DONE " + n * chunk.length + "\\r\\n"); setTimeout(() => {}, 600000); } }, 10);`,
    ].join(" ");
    const id = await agent.wrap(org, ["node", "-e", writer]);
    await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
    await page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      const gaps: number[] = [];
      let last = performance.now();
      const tick = (now: number) => {
        gaps.push(now - last);
        last = now;
        if (!w.__stopFrames) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      w.__gaps = gaps;
      const longTasks: number[] = [];
      new PerformanceObserver((l) => l.getEntries().forEach((e) => longTasks.push(e.duration))).observe({ type: "longtask", buffered: false });
      w.__longTasks = longTasks;
      const backlog: number[] = [];
      setInterval(() => backlog.push((w.sessionforgeTerminal as { viewer: { backlog: number } }).viewer.backlog), 100);
      w.__backlog = backlog;
    });
    const started = Date.now();
    await page.waitForFunction(
      () => {
        const t = (window as unknown as { sessionforgeTerminal?: { term: { buffer: { active: { baseY: number; length: number; getLine(i: number): { translateToString(): string } | undefined } } } } }).sessionforgeTerminal?.term;
        const b = t?.buffer.active;
        if (!b) return false;
        for (let y = b.baseY; y < b.length; y++) if (b.getLine(y)?.translateToString().includes("STREAM-DONE")) return true;
        return false;
      },
      null,
      { polling: 250, timeout: 120_000 },
    );
    const caughtUpMs = Date.now() - started;
    const stats = await page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      w.__stopFrames = true;
      const gaps = (w.__gaps as number[]).slice(1).sort((a, b) => a - b);
      const lt = w.__longTasks as number[];
      const backlog = w.__backlog as number[];
      const p = (q: number) => gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * q))];
      const mem = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory;
      return {
        frames: gaps.length,
        frame_gap_p50_ms: Math.round(p(0.5)),
        frame_gap_p99_ms: Math.round(p(0.99)),
        frame_gap_max_ms: Math.round(gaps[gaps.length - 1]),
        long_tasks: lt.length,
        long_task_max_ms: Math.round(Math.max(0, ...lt)),
        backlog_max_bytes: Math.max(0, ...backlog),
        js_heap_mb: mem ? Math.round(mem.usedJSHeapSize / 1e5) / 10 : null,
        received_bytes: (w.sessionforgeTerminal as { viewer: { offset: number } }).viewer.offset,
      };
    });
    console.log(JSON.stringify({ scenario: "stream-5MBps-20s", done_after_ms: caughtUpMs, ...stats }));
  } finally {
    await server.stop();
  }
});
