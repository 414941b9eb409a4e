// The main flow on a brand-new server: set up the admin from the printed link (mistakes shown
// under the right field), sign out and in, see the enrolled machine online, open a session the
// agent is wrapping, watch its output, type a command and see its echo, then stop the session
// through the confirm dialog and see it end without stale messages.
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer } from "./harness";
import { confirm, expectTerminal, signIn } from "./pages";

test("first run to a live session, typed into and stopped", async ({ page }) => {
  const server = await TestServer.start();
  try {
    // First-run setup from the link the server printed.
    await page.goto(server.setupLink());
    await expect(page.getByRole("heading", { name: "Set up SessionForge" })).toBeVisible();
    await page.getByLabel("Email").fill(ADMIN_EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    // A mistyped second password is said in words under that field, which gets focus.
    await page.getByLabel("Password again").fill(`${PASSWORD}x`);
    await page.getByRole("button", { name: "Create administrator" }).click();
    const again = page.getByLabel("Password again");
    await expect(page.getByText("The two passwords differ")).toBeVisible();
    await expect(again).toBeFocused();
    await expect(again).toHaveAttribute("aria-invalid", "true");
    await expect(page.getByText(/Something went wrong/)).toHaveCount(0);
    await expect(page.getByLabel("Setup token")).not.toBeFocused();
    // Too short: under the password field.
    await page.getByLabel("Password", { exact: true }).fill("short");
    await again.fill("short");
    await page.getByRole("button", { name: "Create administrator" }).click();
    await expect(page.getByText("Use at least 10 characters.")).toBeVisible();
    await expect(page.getByLabel("Password", { exact: true })).toBeFocused();

    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await again.fill(PASSWORD);
    await page.getByRole("button", { name: "Create administrator" }).click();
    await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
    await expect(page).toHaveURL(/\/orgs\/[0-9a-f-]+\/sessions$/);

    // The link works once.
    const status = await server.api.get("/api/v1/setup");
    expect((await status.json()).required).toBe(false);

    // Sign out, then sign in again.
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page.getByRole("heading", { name: "Sign in to SessionForge" })).toBeVisible();
    await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);

    // An enrolled, running agent shows up online.
    const org = await server.signInApi(ADMIN_EMAIL, PASSWORD);
    const agent = await server.enrollAgent(org);
    await agent.run(org);
    await page.getByRole("link", { name: "Machines" }).click();
    const machine = page.locator(`[data-machine="${agent.machineId}"]`);
    await expect(machine.locator(".badge", { hasText: "online" })).toBeVisible();

    // A wrapped session appears in the list without a reload.
    await page.getByRole("link", { name: "Sessions", exact: true }).click();
    await expect(page.getByText("No sessions yet")).toBeVisible();
    const cmd = ["sh", "-c", "echo wrapped-output-marker; exec bash --norc --noprofile -i"];
    const session = await agent.wrap(org, cmd);
    const row = page.locator(`[data-session="${session}"]`);
    await expect(row.locator(".badge", { hasText: "running" })).toBeVisible();

    // Its live view shows the output, and what is typed reaches the PTY and echoes back.
    await row.getByRole("link").click();
    await expect(page.locator(".conn")).toHaveText("live");
    await expectTerminal(page, /wrapped-output-marker/);
    await page.locator(".xterm").click();
    await page.keyboard.type("echo typed-$((6*7))\n");
    await expectTerminal(page, /^typed-42$/m);

    // Stop it from the page, through the confirm dialog (Cancel first: nothing happens).
    await page.getByRole("button", { name: "Stop session" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    await expect(page.getByRole("dialog")).toBeHidden();
    expect((await server.json("GET", `/api/v1/orgs/${org}/sessions/${session}`)).state).toBe("running");
    await page.getByRole("button", { name: "Stop session" }).click();
    await confirm(page, "Stop session");
    await expect(page.locator(".session-head .badge", { hasText: /^exited/ })).toBeVisible();
    // Once ended: no stop button, no "stopping" or "Stop requested" left behind, one state badge.
    await expect(page.getByRole("button", { name: /Stop/ })).toHaveCount(0);
    await expect(page.locator(".session-head .badge")).toHaveCount(1);
    await expect(page.locator(".session-head")).not.toContainText(/ended|stopping/);
    await expect(page.getByRole("link", { name: "Replay" })).toBeVisible();
    const stored = await server.json("GET", `/api/v1/orgs/${org}/sessions/${session}`);
    expect(stored.state).toBe("exited");
  } finally {
    await server.stop();
  }
});
