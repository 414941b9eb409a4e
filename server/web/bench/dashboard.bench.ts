// First meaningful paint of the sessions list on a cold load, in real headless Chromium against
// a real server on loopback: a new browser context each run (empty cache), already signed in, 50
// sessions in the org. Measured from navigation start to the moment the page marks the list as
// drawn with its data (`sessionforge:sessions-list`, set in an effect, which Preact runs after the
// browser painted that render). Prints figures; asserts nothing about timing.
import { test } from "@playwright/test";
import { PASSWORD, ADMIN_EMAIL, TestServer, waitFor } from "../tests/harness";

const RUNS = 7;
const SESSIONS = 50;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

test("cold load: first meaningful paint of the sessions list", async ({ browser }) => {
  const server = await TestServer.start();
  try {
    const org = await server.setupAdmin();
    const agent = await server.enrollAgent(org);
    await agent.run(org);
    await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh"] });
    for (let i = 0; i < SESSIONS; i++) {
      await server.json("POST", `/api/v1/orgs/${org}/sessions`, { machine_id: agent.machineId, command: "sh", args: ["-c", `echo session-${i}`], cols: 80, rows: 24 });
    }
    await waitFor("every session to end", async () => {
      const list = await server.json("GET", `/api/v1/orgs/${org}/sessions?state=exited`);
      return list.length >= SESSIONS ? true : undefined;
    }, 120_000);
    const runs: { paint_ms: number; fcp_ms: number; dom_ready_ms: number; transferred_kb: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 } });
      // Sign in through the API in this context: the page load itself is cold.
      await context.request.post(`${server.base}/api/v1/auth/login`, { data: { email: ADMIN_EMAIL, password: PASSWORD } });
      const page = await context.newPage();
      await page.goto(`${server.base}/orgs/${org}/sessions`);
      await page.waitForFunction(() => performance.getEntriesByName("sessionforge:sessions-list").length > 0, null, { timeout: 30_000 });
      runs.push(
        await page.evaluate(() => {
          const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
          const fcp = performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1;
          const bytes = performance.getEntriesByType("resource").reduce((n, r) => n + ((r as PerformanceResourceTiming).transferSize ?? 0), nav.transferSize);
          return {
            paint_ms: Math.round(performance.getEntriesByName("sessionforge:sessions-list")[0].startTime),
            fcp_ms: Math.round(fcp),
            dom_ready_ms: Math.round(nav.domContentLoadedEventEnd),
            transferred_kb: Math.round(bytes / 1024),
          };
        }),
      );
      await context.close();
    }
    const paint = runs.map((r) => r.paint_ms);
    console.log(
      JSON.stringify({ scenario: "cold-sessions-list", sessions: SESSIONS, runs, median_ms: median(paint), min_ms: Math.min(...paint), max_ms: Math.max(...paint) }),
    );
  } finally {
    await server.stop();
  }
});
