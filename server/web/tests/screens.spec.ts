// Every page at desktop (1366×768) and phone (390×844, touch) sizes, on a server with data on
// every page: no page scrolls sideways on the phone, each is saved as a screenshot under
// test-artifacts/web/screens/ to be looked at, and the layout defects testers saw stay fixed
// (org switcher size, header height, tables cut off on phones, squashed selects, focus rings).
import { expect, test, type Page } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer, waitFor, type TestAgent } from "./harness";
import { context, expectNoSidewaysScroll, expectTerminal, pageAs, screenshot, signIn, type Size } from "./pages";

let server: TestServer;
let org: string;
let agent: TestAgent;
const ids: Record<string, string> = {};

test.beforeAll(async () => {
  server = await TestServer.start();
  org = await server.setupAdmin();
  await server.addUser(org, "member@example.com", "member");
  await server.addUser(org, "a.person.with.a.rather.long.address@example.com", "viewer");
  // A second org with a long name: the switcher must stay compact.
  await server.json("POST", "/api/v1/orgs", { name: "Platform engineering and developer experience team" });
  agent = await server.enrollAgent(org);
  await agent.run(org);
  ids.never = await server.enrollMachine(org, {
    hostname: "build-box-never-connected",
    os: "Ubuntu",
    os_version: "24.04.1 LTS (Noble Numbat) GNU/Linux 6.8.0-45-generic x86_64 with a very long kernel string",
  });
  await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh", "bash", "claude"] });
  ids.running = await agent.wrap(org, ["sh", "-c", "echo running-marker; exec bash --norc --noprofile -i"]);
  ids.ended = await agent.wrap(org, ["sh", "-c", "echo ended-marker-one; sleep 0.5; echo ended-marker-two"]);
  await waitFor("the short session to end", async () => {
    const s = await server.json("GET", `/api/v1/orgs/${org}/sessions/${ids.ended}`);
    return s.state === "exited" ? true : undefined;
  });
  await server.json("POST", `/api/v1/orgs/${org}/templates`, {
    name: "Claude on the app",
    command: "claude",
    args: ["--model", "opus"],
    cwd: "~/src/app",
    env_names: ["ANTHROPIC_API_KEY"],
  });
  await server.json("POST", "/api/v1/api-keys", { name: "ci deploy key", scopes: ["read", "write"] });
});

test.afterAll(async () => {
  await server?.stop();
});

/** Every page: name, path, and the heading that says it is shown. */
function pages(): [string, string, string | RegExp][] {
  const o = `/orgs/${org}`;
  return [
    ["sessions", `${o}/sessions`, "Sessions"],
    ["new-session", `${o}/sessions/new`, "New session"],
    ["session-running", `${o}/sessions/${ids.running}`, /bash --norc/],
    ["session-ended", `${o}/sessions/${ids.ended}`, /ended-marker-one/],
    ["replay", `${o}/sessions/${ids.ended}/replay`, /^Replay:/],
    ["machines", `${o}/machines`, "Machines"],
    ["machine", `${o}/machines/${agent.machineId}`, /./],
    ["machine-never-connected", `${o}/machines/${ids.never}`, "build-box-never-connected"],
    ["add-machine", `${o}/machines/add`, "Add a machine"],
    ["enrollment-tokens", `${o}/machines/tokens`, "Enrollment tokens"],
    ["templates", `${o}/templates`, "Templates"],
    ["members", `${o}/members`, /^Members of/],
    ["org-settings", `${o}/settings`, "Org settings"],
    ["usage", `${o}/usage`, "Usage"],
    ["new-org", "/orgs/new", "Create a team org"],
    ["api-keys", "/keys", "API keys"],
    ["account", "/account", "Account"],
    ["not-found", `${o}/nothing-here`, "Page not found"],
  ];
}

async function shown(page: Page, heading: string | RegExp): Promise<void> {
  await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
  await expect(page.locator(".loading")).toHaveCount(0);
}

for (const size of ["desktop", "phone"] as Size[]) {
  test(`every page at ${size} size: no sideways scrolling, screenshots saved`, async ({ browser }) => {
    test.setTimeout(180_000);
    const ctx = await context(browser, size);
    const page = await ctx.newPage();
    await page.goto(`${server.base}/login`);
    await shown(page, "Sign in to SessionForge");
    await expectNoSidewaysScroll(page, "login");
    await screenshot(page, "login", size);
    await page.goto(`${server.base}/setup`);
    await shown(page, "Setup is done");
    await screenshot(page, "setup-done", size);
    await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
    await page.close();
    for (const [name, path, heading] of pages()) {
      // A new tab per page: a full-page screenshot leaves Chromium's touch emulation off.
      const page = await ctx.newPage();
      await page.goto(`${server.base}${path}`);
      await shown(page, heading);
      if (["session-running", "session-ended", "replay"].includes(name)) await expect(page.locator(".xterm-screen")).toBeVisible();
      // The running session once attached: with its key bar on the phone.
      if (name === "session-running") await expect(page.locator('[data-conn="live"]')).toBeVisible();
      if (name === "session-running" && size === "phone") await expect(page.getByRole("toolbar", { name: "Terminal keys" })).toBeVisible();
      // The player starts playing at once: show the whole recording, not whichever moment it was at.
      if (name === "replay") {
        await page.getByRole("button", { name: "Jump to the end" }).click();
        await expectTerminal(page, /ended-marker-two/);
      }
      await expectNoSidewaysScroll(page, name);
      await screenshot(page, name, size);
      await page.close();
    }
    await ctx.close();
  });
}

test("usage: this month's figures of what the org did, with a bar per month", async ({ browser }) => {
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "desktop");
  await page.getByRole("link", { name: "Usage" }).click();
  await shown(page, "Usage");
  // Two wrapped sessions, one machine that connected, their output; no API-key calls yet.
  await expect(page.getByTestId("usage-sessions_started")).toHaveText("2");
  await expect(page.getByTestId("usage-active_machines")).toHaveText("1");
  await expect(page.getByTestId("usage-bytes_relayed")).not.toHaveText("0 B");
  await expect(page.getByTestId("usage-api_calls")).toHaveText("0");
  const bars = page.locator('[data-measure="sessions_started"] svg.bars g');
  await expect(bars).toHaveCount(6);
  await page.getByLabel("Months").selectOption("12");
  await expect(bars).toHaveCount(12);
  await page.close();
});

test("desktop: a compact org switcher in the sidebar, one navigation column, no focus ring on headings", async ({ browser }) => {
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "desktop");
  const switcher = page.locator(".sidebar .org-button");
  const box = await switcher.boundingBox();
  expect(box?.width ?? 999).toBeLessThanOrEqual(216);
  expect(box?.height ?? 999).toBeLessThanOrEqual(44);
  // Every navigation entry is in one column: same left edge, increasing tops.
  const links = page.locator(".sidebar nav a");
  const lefts = await links.evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().left)));
  expect(new Set(lefts).size).toBe(1);
  // The page heading gets focus after navigation (for screen readers) but draws no ring.
  await page.getByRole("link", { name: "Machines" }).click();
  const h1 = page.getByRole("heading", { level: 1, name: "Machines" });
  await expect(h1).toBeFocused();
  const outline = await h1.evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline).toBe("none");
  // Switching org from the compact menu.
  await switcher.click();
  await page.getByRole("menuitem", { name: /Platform engineering/ }).click();
  await expect(page.locator(".sidebar .org-button")).toContainText("Platform engineering");
  await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
});

test("phone: one-row header with two orgs, bottom bar and drawer, tables as cards, usable selects", async ({ browser }) => {
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "phone");
  const header = await page.locator(".topbar").boundingBox();
  expect(header?.height ?? 999).toBeLessThanOrEqual(60);
  // The bottom bar has the main pages; the rest is in the drawer.
  const bar = page.getByRole("navigation", { name: "Main" });
  await bar.getByRole("link", { name: "Machines" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Machines" })).toBeVisible();
  await bar.getByRole("button", { name: "More" }).click();
  await page.getByRole("navigation", { name: "All pages" }).getByRole("link", { name: "API keys" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "API keys" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "All pages" })).toHaveCount(0);

  // The API key's status and revoke button are on screen, not cut off.
  const row = page.getByRole("row", { name: /ci deploy key/ });
  for (const part of [row.getByText("active"), row.getByRole("button", { name: "Revoke ci deploy key" })]) {
    const b = await part.boundingBox();
    expect(b, "visible").not.toBeNull();
    expect((b?.x ?? 0) + (b?.width ?? 0)).toBeLessThanOrEqual(390);
  }
  // The members' role selects are wide enough to read.
  await page.goto(`${server.base}/orgs/${org}/members`);
  const select = page.getByLabel("Role of member@example.com");
  expect((await select.boundingBox())?.width ?? 0).toBeGreaterThanOrEqual(110);
  await expectNoSidewaysScroll(page, "members");
  // The sessions filter selects fit side by side or wrap, but never overflow.
  await page.goto(`${server.base}/orgs/${org}/sessions`);
  for (const id of ["#filter-machine", "#filter-state", "#filter-kind"]) {
    const b = await page.locator(id).boundingBox();
    expect((b?.x ?? 0) + (b?.width ?? 0)).toBeLessThanOrEqual(390);
  }
});
