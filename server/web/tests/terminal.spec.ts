// The terminal sizing model: viewers show the PTY at its own size, fitted by font size, refit on
// window changes (a phone rotated, a desktop window narrowed) and scroll sideways with a visible
// cue when even the smallest font is too wide. Only an explicit "Resize session to my window"
// changes the PTY; while a local `wrap` terminal holds the size the page says so and asks before
// forcing it. On a touch phone the key bar sends Esc, Tab, Ctrl-C and arrows to a real session.
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer, waitFor, type TestAgent } from "./harness";
import { confirm, expectNoSidewaysScroll, expectTerminal, pageAs, screenshot, terminalGeometry } from "./pages";

let server: TestServer;
let org: string;
let agent: TestAgent;

test.beforeAll(async () => {
  server = await TestServer.start();
  org = await server.setupAdmin();
  await server.addUser(org, "viewer@example.com", "viewer");
  agent = await server.enrollAgent(org);
  await agent.run(org);
  await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh"] });
});

test.afterAll(async () => {
  await server?.stop();
});

/** Starts `sh -c script` through the API at a given size; returns its id once running. */
async function start(script: string, cols: number, rows: number): Promise<string> {
  const s = await server.json("POST", `/api/v1/orgs/${org}/sessions`, { machine_id: agent.machineId, command: "sh", args: ["-c", script], cols, rows });
  await waitFor("the session to run", async () => ((await server.json("GET", `/api/v1/orgs/${org}/sessions/${s.id}`)).state === "running" ? true : undefined));
  return s.id as string;
}

test("the terminal fits the screen at the PTY's size and refits on resize and rotation", async ({ browser }) => {
  const id = await start("echo fit-marker; exec sleep 120", 80, 24);
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "phone");
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /fit-marker/);
  const fits = async () => {
    const g = await terminalGeometry(page);
    return g.cols === 80 && g.rows === 24 && g.screen <= g.frame + 0.5 ? g : undefined;
  };
  // Portrait phone: 80 columns, smaller font, all of it on screen.
  const portrait = await waitFor("the terminal to fit the phone", fits);
  expect(portrait.font).toBeLessThan(12);
  await expect(page.locator(".scroll-cue")).toHaveCount(0);
  await expectNoSidewaysScroll(page, "session on a phone");
  await screenshot(page, "terminal-phone-portrait", "phone");
  // Rotated to landscape: the font grows back, still 80×24.
  await page.setViewportSize({ width: 844, height: 390 });
  const landscape = await waitFor("the terminal to refit after rotation", async () => {
    const g = await fits();
    return g && g.font > portrait.font ? g : undefined;
  });
  expect(landscape.cols).toBe(80);
  // Back to portrait: it shrinks again, with nothing sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await waitFor("the terminal to refit back", async () => {
    const g = await fits();
    return g && g.font <= portrait.font ? g : undefined;
  });
  await expectNoSidewaysScroll(page, "session after rotating back");
  // Nobody's viewing changed the PTY.
  const s = await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`);
  expect([s.cols, s.rows]).toEqual([80, 24]);
});

test("a session wider than the phone scrolls sideways inside its frame, with a cue", async ({ browser }) => {
  const id = await start("echo wide-marker; exec sleep 120", 200, 50);
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "phone");
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /wide-marker/);
  await expect(page.locator(".scroll-cue")).toContainText("scroll sideways");
  await expect(page.locator(".terminal-frame")).toHaveClass(/overflowing/);
  const g = await terminalGeometry(page);
  expect(g.cols).toBe(200);
  expect(g.screen).toBeGreaterThan(g.frame);
  // The frame scrolls; the page does not.
  await expectNoSidewaysScroll(page, "wide session");
  const scrolled = await page.locator(".term-scroller").evaluate((el) => {
    el.scrollLeft = 200;
    return el.scrollLeft;
  });
  expect(scrolled).toBeGreaterThan(0);
  await screenshot(page, "terminal-phone-wide", "phone");
});

test("'Resize session to my window' changes the PTY for everyone; viewers are not offered it", async ({ browser }) => {
  const id = await start("echo resize-marker; while :; do sleep 0.2; done", 80, 24);
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "desktop");
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /resize-marker/);
  await expect(page.locator("[data-size]")).toHaveAttribute("data-size", "80x24");
  await page.getByRole("button", { name: "Resize session to my window" }).click();
  const resized = await waitFor("the PTY to be resized", async () => {
    const s = await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`);
    return s.cols > 80 ? s : undefined;
  });
  await expect(page.locator("[data-size]")).toHaveAttribute("data-size", `${resized.cols}x${resized.rows}`);
  // A viewer sees the new size, fitted to their own screen, and no resize button.
  const viewer = await pageAs(browser, server.base, "viewer@example.com", PASSWORD, "phone");
  await viewer.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expect(viewer.locator("[data-size]")).toHaveAttribute("data-size", `${resized.cols}x${resized.rows}`);
  await expect(viewer.getByRole("button", { name: "Resize session to my window" })).toHaveCount(0);
});

test("a local wrap terminal holds the size: the page says so and forces a resize only after a confirm", async ({ browser }) => {
  const id = await agent.wrap(org, ["sh", "-c", "echo held-marker; exec sleep 120"], { cols: 100, rows: 30 });
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "desktop");
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /held-marker/);
  await expect(page.locator("[data-size]")).toHaveAttribute("data-size", "100x30");
  await expect(page.locator("[data-size-locked]")).toContainText("size held by a local terminal");
  await page.getByRole("button", { name: "Resize session to my window" }).click();
  await expect(page.getByRole("dialog")).toContainText("holds this session's size at 100×30");
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  expect((await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`)).cols).toBe(100);
  await page.getByRole("button", { name: "Resize session to my window" }).click();
  await confirm(page, /^Resize to \d+×\d+$/);
  await waitFor("the forced resize", async () => ((await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`)).cols !== 100 ? true : undefined));
});

test("the phone key bar sends Esc, Tab, arrows and Ctrl-C to a real session", async ({ browser }) => {
  // Raw mode and cat -vT: every byte the session receives is printed visibly (^[ for Esc, ^C…).
  const id = await start("stty raw -echo; echo keys-ready; exec cat -vT", 80, 24);
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "phone");
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /keys-ready/);
  const bar = page.getByRole("toolbar", { name: "Terminal keys" });
  await expect(bar).toBeVisible();
  await page.locator(".xterm").tap();
  await bar.getByRole("button", { name: "Escape" }).tap();
  await bar.getByRole("button", { name: "Tab" }).tap();
  await bar.getByRole("button", { name: "Up arrow" }).tap();
  await bar.getByRole("button", { name: "Key y" }).tap();
  // Sticky Ctrl: latched until the next key, which it turns into a control character.
  const ctrl = bar.getByRole("button", { name: /Control/ });
  await ctrl.tap();
  await expect(ctrl).toHaveAttribute("aria-pressed", "true");
  await page.keyboard.type("c");
  await expect(ctrl).toHaveAttribute("aria-pressed", "false");
  await page.keyboard.type("z");
  await expectTerminal(page, /\^\[\^I\^\[(\[A|OA)y\^Cz/);
  await screenshot(page, "terminal-phone-keybar", "phone");
});

test("Ctrl-C from the key bar interrupts a running program", async ({ browser }) => {
  const id = await start("trap 'echo GOT-SIGINT; exit 3' INT; echo int-ready; while :; do sleep 0.1; done", 80, 24);
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "phone");
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /int-ready/);
  await page.locator(".xterm").tap();
  await page.getByRole("button", { name: /Control/ }).tap();
  await page.keyboard.type("c");
  await expectTerminal(page, /GOT-SIGINT/);
  await expect(page.locator(".session-head .badge", { hasText: "exited (3)" })).toBeVisible();
});

test("the key bar's extra keys are chosen on the Account page (a wrong one is refused) and sent", async ({ browser }) => {
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "phone");
  await page.goto(`${server.base}/account`);
  const keys = page.getByLabel("Extra keys");
  await expect(keys).toHaveValue("/ y n Enter");
  await keys.fill("q ^D nope");
  await page.getByRole("button", { name: "Save keys" }).click();
  await expect(page.getByText(`"nope" is not a key`)).toBeVisible();
  await expect(keys).toHaveAttribute("aria-invalid", "true");
  await keys.fill("q ^D Enter");
  await page.getByRole("button", { name: "Save keys" }).click();
  await expect(page.getByText("Key bar saved.")).toBeVisible();

  const id = await start("stty raw -echo; echo extra-ready; exec cat -vT", 80, 24);
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /extra-ready/);
  const bar = page.getByRole("toolbar", { name: "Terminal keys" });
  await expect(bar.getByRole("button", { name: "Key y" })).toHaveCount(0);
  await page.locator(".xterm").tap();
  await bar.getByRole("button", { name: "Key q" }).tap();
  await bar.getByRole("button", { name: "Key ^D" }).tap();
  await bar.getByRole("button", { name: "Key Enter" }).tap();
  // cat -vT shows the Ctrl-D byte as ^D; raw mode sends Enter as a carriage return (^M).
  await expectTerminal(page, /q\^D\^M/);
});
