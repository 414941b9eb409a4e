// The dashboard against one server with an admin, a member, a viewer and a running agent:
// roles in the terminal, sign-in errors, long sessions, starting sessions, API keys (the copy
// box goes with a revoked key), members, adding a machine and changing a password.
import { randomUUID } from "node:crypto";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer, waitFor, type TestAgent } from "./harness";
import { confirm, expectTerminal, pageAs as pageAsAt, screenshot, signIn, terminalText, type Size } from "./pages";

let server: TestServer;
let org: string;
let agent: TestAgent;

test.beforeAll(async () => {
  server = await TestServer.start();
  org = await server.setupAdmin();
  await server.addUser(org, "member@example.com", "member");
  await server.addUser(org, "viewer@example.com", "viewer");
  agent = await server.enrollAgent(org);
  await agent.run(org);
});

test.afterAll(async () => {
  await server?.stop();
});

function pageAs(browser: Browser, email: string, size: Size = "desktop"): Promise<Page> {
  return pageAsAt(browser, server.base, email, PASSWORD, size);
}

test("a wrong password is refused in words", async ({ page }) => {
  await page.goto(`${server.base}/login`);
  await page.getByLabel("Email").fill(ADMIN_EMAIL);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText(/wrong email or password/i);
  await expect(page).toHaveURL(/\/login$/);
});

test("a viewer sees the terminal but cannot type; a member can", async ({ browser }) => {
  const session = await agent.wrap(org, ["sh", "-c", "echo roles-marker; exec bash --norc --noprofile -i"]);
  const viewer = await pageAs(browser, "viewer@example.com");
  await viewer.goto(`${server.base}/orgs/${org}/sessions/${session}`);
  await expectTerminal(viewer, /roles-marker/);
  await expect(viewer.getByText(/Read-only: your role in this org is viewer/)).toBeVisible();
  await expect(viewer.getByRole("button", { name: "Stop session" })).toBeDisabled();
  // Changing the shared terminal's size is not offered to those who cannot type.
  await expect(viewer.getByRole("button", { name: "Resize session to my window" })).toHaveCount(0);
  await viewer.locator(".xterm").click();
  await viewer.keyboard.type("echo from-viewer-$((1+1))\n");

  // The member's input goes through; had the viewer's gone through first, it would show first.
  const member = await pageAs(browser, "member@example.com");
  await member.goto(`${server.base}/orgs/${org}/sessions/${session}`);
  await expect(member.locator(".conn")).toHaveText("live");
  await expect(member.getByRole("button", { name: "Resize session to my window" })).toBeVisible();
  await member.locator(".xterm").click();
  await member.keyboard.type("echo from-member-$((2+2))\n");
  await expectTerminal(member, /^from-member-4$/m);
  await expectTerminal(viewer, /^from-member-4$/m);
  expect(await terminalText(viewer)).not.toMatch(/from-viewer-2/);
  expect(await terminalText(member)).not.toMatch(/from-viewer-2/);
});

test("a long session opens on its latest output, and its full history loads on request", async ({ page }) => {
  const script = "echo FIRST-MARKER; head -c 1500000 /dev/zero | tr '\\0' x | fold -w 100; echo; echo LAST-MARKER; exec sleep 120";
  const id = await agent.wrap(org, ["sh", "-c", script]);
  await waitFor("1.5 MB stored", async () => {
    const s = await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`);
    return s.output_end > 1_500_000 ? true : undefined;
  });
  await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /LAST-MARKER/);
  await expect(page.locator("[data-history=tail]")).toContainText("Showing the last");
  expect(await terminalText(page)).not.toContain("FIRST-MARKER");
  await page.getByRole("button", { name: "Load the full history" }).click();
  await expectTerminal(page, /^FIRST-MARKER$/m);
  await expectTerminal(page, /LAST-MARKER/);
  await expect(page.locator("[data-history=tail]")).toHaveCount(0);
});

test("output an agent truly lost is shown as a gap between what came before and after it", async ({ browser }) => {
  // Only a full spool disk loses output; a raw agent reports such a loss as a real one would.
  const id = randomUUID();
  const raw = await server.rawAgent(org, [{ session_id: id, command: "lossy" }]);
  raw.output(id, 0, "before-the-gap\r\n");
  raw.send({ type: "gap", session_id: id, offset: 16, length: 65536 });
  raw.output(id, 16 + 65536, "after-the-gap\r\n");
  await waitFor("the output and its gap to be stored", async () => {
    const s = await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`);
    return s.output_end >= 16 + 65536 + 15 ? true : undefined;
  });
  for (const size of ["desktop", "phone"] as const) {
    const page = await pageAs(browser, ADMIN_EMAIL, size);
    await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
    await expectTerminal(page, /after-the-gap/);
    expect(await terminalText(page)).toContain("before-the-gap");
    await expect(page.locator("[data-gap]")).toHaveAttribute("data-gap", "65536");
    await expect(page.locator("[data-gap]")).toContainText("Gap in output: 66 KB could not be delivered");
    await screenshot(page, "session-gap", size);
  }
  raw.close();
});

test("the output byte count follows the output, and a missing PID is not shown as null", async ({ browser }) => {
  // Prints a line every 100 ms for a while: the count must move while the page stays open.
  const id = await agent.wrap(org, ["sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); sleep 0.1; done; sleep 60"]);
  const page = await pageAs(browser, ADMIN_EMAIL);
  await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
  await expectTerminal(page, /line-3/);
  const count = page.locator("[data-output-bytes]");
  const first = Number(await count.getAttribute("data-output-bytes"));
  await expect.poll(async () => Number(await count.getAttribute("data-output-bytes"))).toBeGreaterThan(first + 100);
  await expect(page.locator(".facts")).not.toContainText("null");
});

test("a member starts a session on a machine and lands in its live view", async ({ browser }) => {
  await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh", "claude"] });
  const page = await pageAs(browser, "member@example.com");
  await page.getByRole("link", { name: "New session" }).first().click();
  await page.getByLabel("Command").selectOption("sh");
  await page.getByLabel("Arguments").fill(`-c 'echo started-from-ui-$((40+2)); stty size'`);
  await page.getByLabel("Working directory").fill("/tmp");
  await page.getByRole("button", { name: "Start session" }).click();
  await expect(page).toHaveURL(/\/sessions\/[0-9a-f-]{36}$/);
  await expectTerminal(page, /^started-from-ui-42$/m);
  await expect(page.locator(".session-head .badge", { hasText: "exited (0)" })).toBeVisible();
  // It started at the size of this window (at least 80×24), not a fixed 120×32.
  const id = /sessions\/([0-9a-f-]{36})$/.exec(page.url())?.[1];
  const s = await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`);
  expect(s.cols).toBeGreaterThanOrEqual(80);
  expect([s.cols, s.rows]).not.toEqual([120, 32]);
  await expectTerminal(page, new RegExp(`^${s.rows} ${s.cols}$`, "m"));
});

test("API keys are shown once, listed and revoked; the copy box goes with a revoked key", async ({ browser }) => {
  const page = await pageAs(browser, ADMIN_EMAIL);
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByLabel("Name").fill("browser-test key");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.locator("[data-copy=new-key]").textContent()) ?? "";
  expect(key).toMatch(/^sfk_/);
  const row = page.getByRole("row", { name: /browser-test key/ });
  await expect(row).toContainText("active");
  expect((await server.api.get("/api/v1/orgs", { headers: { authorization: `Bearer ${key}` } })).status()).toBe(200);

  await row.getByRole("button", { name: "Revoke browser-test key" }).click();
  await confirm(page, "Revoke key");
  await expect(page.getByRole("row", { name: /browser-test key/ })).toContainText("revoked");
  await expect(page.locator("[data-copy=new-key]")).toHaveCount(0);
  await expect(page.getByText(key)).toHaveCount(0);
  expect((await server.api.get("/api/v1/orgs", { headers: { authorization: `Bearer ${key}` } })).status()).toBe(401);
  // Reloading never shows the secret again.
  await page.reload();
  await expect(page.getByText(key)).toHaveCount(0);
});

test("admins change a member's role", async ({ browser }) => {
  await server.addUser(org, "promote@example.com", "viewer");
  const page = await pageAs(browser, ADMIN_EMAIL);
  await page.getByRole("link", { name: "Members" }).click();
  await page.getByLabel("Role of promote@example.com").selectOption("member");
  await expect(page.locator('[data-member="promote@example.com"]')).toHaveAttribute("data-role", "member");
  await expect(page.getByText("promote@example.com is now member.")).toBeVisible();
  const members = await server.json("GET", `/api/v1/orgs/${org}/members`);
  expect(members.find((m: { email: string }) => m.email === "promote@example.com").role).toBe("member");
});

test("adding a machine shows the install lines with a fresh token and its expiry", async ({ browser }) => {
  const page = await pageAs(browser, ADMIN_EMAIL);
  await page.goto(`${server.base}/orgs/${org}/machines/add`);
  await page.getByRole("button", { name: "Create install command" }).click();
  const sh = (await page.locator('[data-copy="sh"]').textContent()) ?? "";
  const ps = (await page.locator('[data-copy="powershell"]').textContent()) ?? "";
  // The server's certificate is self-signed here, so curl trusts exactly its public key; the
  // token travels in the environment (never on a command line) and the release key id is named.
  expect(sh).toMatch(
    /^curl -fsSL --proto '=https' --proto-redir '=https' -k --pinnedpubkey 'sha256\/\/[A-Za-z0-9+/=]+' https:\/\/\S+\/install\.sh \| SESSIONFORGE_TOKEN='sfe_\w+' sh -s -- --signing-key-id [0-9a-f]{16}$/,
  );
  expect(ps).toMatch(/SESSIONFORGE_TOKEN='sfe_\w+'.*irm https:\/\/\S+\/install\.ps1 \| iex/);
  const token = /SESSIONFORGE_TOKEN='(sfe_\w+)'/.exec(sh)?.[1];
  expect(ps).toContain(token);
  // The self-signed certificate's fingerprint, as the server printed it, for people to compare.
  await expect(page.locator("[data-fingerprint]")).toHaveAttribute("data-fingerprint", server.fingerprint);
  const expires = Date.parse((await page.locator("[data-expires]").getAttribute("data-expires")) ?? "");
  expect(expires - Date.now()).toBeGreaterThan(55 * 60 * 1000);
  expect(expires - Date.now()).toBeLessThan(65 * 60 * 1000);
});

test("changing the password keeps this browser signed in and takes effect", async ({ browser }) => {
  await server.json("POST", "/api/v1/admin/users", { email: "pw@example.com", password: PASSWORD });
  const page = await pageAs(browser, "pw@example.com");
  await page.getByRole("link", { name: "Account", exact: true }).click();
  // A wrong current password is shown under that field.
  await page.getByLabel("Current password").fill("not my password");
  await page.getByLabel("New password", { exact: true }).fill("a brand new passphrase");
  await page.getByLabel("New password again").fill("a brand new passphrase");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText(/current password is wrong/i)).toBeVisible();
  await expect(page.getByLabel("Current password")).toBeFocused();
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText(/Password changed/)).toBeVisible();
  // Still signed in: a state-changing request with the refreshed CSRF token works.
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByLabel("Name").fill("after password change");
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page.locator("[data-copy=new-key]")).toBeVisible();
  const old = await server.api.post("/api/v1/auth/login", { data: { email: "pw@example.com", password: PASSWORD } });
  expect(old.status()).toBe(401);
});
