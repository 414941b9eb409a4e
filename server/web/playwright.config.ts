// Browser tests: Debian's Chromium, headless, driven by Playwright against real server and agent
// processes (see tests/harness.ts). Screenshots of failures land in test-artifacts/web.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "tests",
  outputDir: "../../test-artifacts/web",
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
