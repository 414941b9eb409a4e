// The main flow on a brand-new server: set up the admin from the printed link, sign out and in,
// see the enrolled machine online, open a session the agent is wrapping, watch its output,
// type a command and see its echo, then stop the session.
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer } from "./harness";
import { expectTerminal, signIn } from "./pages";

test("first run to a live session, typed into and stopped", async ({ page }) => {
  const server = await TestServer.start();
  try {
    // First-run setup from the link the server printed.
    await page.goto(server.setupLink());
    await expect(page.getByRole("heading", { name: "Set up SessionForge" })).toBeVisible();
    await page.getByLabel("Email").fill(ADMIN_EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Password again").fill(PASSWORD);
    await page.getByRole("button", { name: "Create administrator" }).click();
    await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
    await expect(page).toHaveURL(/\/orgs\/[0-9a-f-]+\/sessions$/);

    // The link works once.
    const again = await server.api.get("/api/v1/setup");
    expect((await again.json()).required).toBe(false);

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

    // Stop it from the page.
    page.once("dialog", (d) => void d.accept());
    await page.getByRole("button", { name: "Stop session" }).click();
    await expect(page.locator(".session-head .badge", { hasText: /^exited/ })).toBeVisible();
    await expect(page.getByRole("button", { name: "Stop session" })).toBeDisabled();
    const stored = await server.json("GET", `/api/v1/orgs/${org}/sessions/${session}`);
    expect(stored.state).toBe("exited");
  } finally {
    await server.stop();
  }
});
