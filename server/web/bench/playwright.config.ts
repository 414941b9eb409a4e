// Dashboard benchmarks (not tests: they print figures and assert nothing about timing). Run with
// `scripts/bench-web.sh`; results go to BENCHMARKS.md.
import { defineConfig } from "@playwright/test";
import base from "../playwright.config";

export default defineConfig({
  ...base,
  testDir: ".",
  testMatch: /.*\.bench\.ts/,
  outputDir: "../../../test-artifacts/web-bench",
  timeout: 300_000,
  workers: 1,
  use: { ...base.use, trace: "off", screenshot: "off" },
});
