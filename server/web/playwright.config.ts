// Browser tests: Debian's Chromium, headless, driven by Playwright against real server and agent
// processes (see tests/harness.ts). Failures leave screenshots and traces in
// test-artifacts/web/results; every page is saved in test-artifacts/web/screens.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "tests",
  // Failure traces here; tests save page screenshots beside it, in test-artifacts/web/screens.
  outputDir: "../../test-artifacts/web/results",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  // Each test file starts its own server and agents; two at a time suit a 2-core machine.
  workers: 2,
  fullyParallel: false,
  forbidOnly: true,
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    headless: true,
    ignoreHTTPSErrors: true,
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"],
    },
  },
});
