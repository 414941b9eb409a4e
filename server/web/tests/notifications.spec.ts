// In-browser notifications while a dashboard tab is open: a session that waits for input,
// finishes or crashes shows a toast, a count in the tab's title and (with the tab in the
// background and permission given) a system notification; per-user preferences on the account
// page turn kinds off, and are stored on the server.
import { expect, test, type Page } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer, waitFor, type TestAgent } from "./harness";
import { context, signIn } from "./pages";

let server: TestServer;
let org: string;
let agent: TestAgent;

test.beforeAll(async () => {
  server = await TestServer.start();
  org = await server.setupAdmin();
  agent = await server.enrollAgent(org);
  await agent.run(org);
  await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh"] });
});

test.afterAll(async () => {
  await server?.stop();
});

/** A signed-in page whose system notifications are recorded, in a tab "in the background". */
async function backgroundPage(browser: import("@playwright/test").Browser): Promise<Page> {
  const ctx = await context(browser, "desktop");
  await ctx.addInitScript(() => {
    const w = window as unknown as { __notes: { title: string; body: string }[] };
    w.__notes = [];
    class FakeNotification {
      static permission = "granted";
      static requestPermission = async () => "granted";
      onclick: (() => void) | null = null;
      constructor(title: string, opts: { body: string }) {
        w.__notes.push({ title, body: opts.body });
      }
      close() {}
    }
    (window as unknown as { Notification: unknown }).Notification = FakeNotification;
    document.hasFocus = () => false;
  });
  const page = await ctx.newPage();
  await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
  return page;
}

async function start(script: string): Promise<string> {
  const s = await server.json("POST", `/api/v1/orgs/${org}/sessions`, { machine_id: agent.machineId, command: "sh", args: ["-c", script], cols: 80, rows: 24 });
  return s.id as string;
}

test("finished, crashed and waiting sessions notify: toast, title count, system notification", async ({ browser }) => {
  const page = await backgroundPage(browser);
  await start("echo done-soon; sleep 0.3; exit 0");
  await expect(page.locator(".toast", { hasText: /finished \(exit code 0\)/ })).toBeVisible();
  await expect(page).toHaveTitle(/^\(1\) Sessions/);
  await expect.poll(() => page.evaluate(() => (window as unknown as { __notes: { body: string }[] }).__notes.map((n) => n.body).join("\n"))).toMatch(
    /finished \(exit code 0\)/,
  );

  // A program that asks a question and waits for an answer.
  const waiting = await start("printf 'Proceed? [y/n] '; read answer; echo got-$answer; sleep 30");
  await expect(page.locator(".toast", { hasText: /waiting for input/ })).toBeVisible({ timeout: 45_000 });
  await expect(page).toHaveTitle(/^\(2\) /);
  // Opening it clears its entry from the count.
  await page.goto(`${server.base}/orgs/${org}/sessions/${waiting}`);
  await expect(page).toHaveTitle(/^(\(1\) )?sh -c/);
  await expect(page).not.toHaveTitle(/^\(2\)/);
});

test("preferences turn a kind of notification off, and are kept on the server", async ({ browser }) => {
  const page = await backgroundPage(browser);
  await page.getByRole("link", { name: "Account", exact: true }).click();
  const inBrowser = page.getByRole("group", { name: "Notify me when" });
  await inBrowser.getByLabel("A session finished").uncheck();
  await page.getByRole("button", { name: "Save notification settings" }).click();
  await expect(page.getByText("Notification settings saved.")).toBeVisible();
  const prefs = await waitFor("the saved preferences", async () => {
    const resp = await page.request.get(`${server.base}/api/v1/auth/preferences`);
    const p = await resp.json();
    return p.notifications.browser.finished === false ? p : undefined;
  });
  expect(prefs.notifications.browser).toEqual({ waiting_for_input: true, finished: false, crashed: true });
  expect(prefs.notifications.email).toEqual({ waiting_for_input: false, finished: false, crashed: false, all_org_sessions: false });

  // A finished session now stays quiet; a crash still notifies.
  await page.getByRole("link", { name: "Sessions", exact: true }).click();
  const quiet = await start("exit 0");
  await expect(page.locator(`[data-session="${quiet}"] .badge`, { hasText: "exited (0)" })).toBeVisible();
  await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh", "/definitely/not/here"] });
  await server.json("POST", `/api/v1/orgs/${org}/sessions`, { machine_id: agent.machineId, command: "/definitely/not/here", args: [], cols: 80, rows: 24 });
  await expect(page.locator(".toast", { hasText: /crashed/ })).toBeVisible();
  await expect(page.locator(".toast", { hasText: /finished/ })).toHaveCount(0);
  // A fresh page load reads the same preferences back.
  await page.goto(`${server.base}/account`);
  await expect(page.getByRole("group", { name: "Notify me when" }).getByLabel("A session finished")).not.toBeChecked();
  await expect(page.getByRole("group", { name: "Notify me when" }).getByLabel("A session crashed or failed to start")).toBeChecked();
});
