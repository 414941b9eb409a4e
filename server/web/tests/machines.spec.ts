// Machines from enrollment to sign-out: a machine enrolled but never connected (no load, no
// last-seen) renders on the list and its page instead of crashing, and comes online when its
// agent runs; a fresh server with no agent builds says so on the Add machine page and how to
// publish one, then lists the published version; enrollment tokens are listed and revoked;
// a machine's page starts a session there and signs the machine out.
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer } from "./harness";
import { confirm, expectNoSidewaysScroll, expectTerminal, pageAs, screenshot } from "./pages";

test("a machine that never connected, then connects; its page starts sessions and signs it out", async ({ browser }) => {
  const server = await TestServer.start();
  try {
    const org = await server.setupAdmin();
    const agent = await server.enrollAgent(org); // enrolled with the real agent, not run yet
    for (const size of ["desktop", "phone"] as const) {
      const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, size);
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.base}/orgs/${org}/machines`);
      const card = page.locator(`[data-machine="${agent.machineId}"]`);
      await expect(card.getByText("never connected")).toBeVisible();
      await expect(card.locator("[data-never-connected]")).toContainText("sessionforge-agent run");
      await expect(page.getByText(/Something went wrong/)).toHaveCount(0);
      await expectNoSidewaysScroll(page, "machines");
      await screenshot(page, "machines-never-connected", size);
      await card.getByRole("link", { name: "Details" }).click();
      await expect(page.locator("[data-never-connected]")).toBeVisible();
      expect(errors).toEqual([]);
      await page.context().close();
    }

    // The list follows the agent coming online, without a reload.
    const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD);
    await page.goto(`${server.base}/orgs/${org}/machines/${agent.machineId}`);
    await expect(page.locator("[data-never-connected]")).toBeVisible();
    await agent.run(org);
    await expect(page.locator(".page-head .badge", { hasText: "online" })).toBeVisible();
    await expect(page.locator("[data-never-connected]")).toHaveCount(0);
    await expect(page.locator(".facts")).toContainText("Load");

    // Start a session from the machine's page.
    await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh"] });
    await page.getByRole("link", { name: "Start a session here" }).click();
    await expect(page.getByLabel("Machine")).toHaveValue(agent.machineId);
    await page.getByLabel("Arguments").fill("-c 'echo from-machine-page; sleep 30'");
    await page.getByRole("button", { name: "Start session" }).click();
    await expectTerminal(page, /from-machine-page/);

    // Its sessions are listed on its page; signing it out takes a confirm and goes back to the list.
    await page.goto(`${server.base}/orgs/${org}/machines/${agent.machineId}`);
    await expect(page.getByRole("row", { name: /from-machine-page/ })).toBeVisible();
    await page.getByRole("button", { name: "Sign out machine" }).click();
    await confirm(page, "Sign out machine");
    await expect(page.getByRole("heading", { level: 1, name: "Machines" })).toBeVisible();
    await expect(page.locator(`[data-machine="${agent.machineId}"]`)).toHaveCount(0);
  } finally {
    await server.stop();
  }
});

test("a fresh server without agent builds says so on Add machine, and lists them once published", async ({ browser }) => {
  const server = await TestServer.start();
  try {
    const org = await server.setupAdmin();
    const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD);
    await page.goto(`${server.base}/orgs/${org}/machines/add`);
    const box = page.locator("[data-availability]");
    await expect(box).toHaveAttribute("data-availability", "none");
    await expect(box).toContainText("This server has no agent builds yet");
    await expect(box).toContainText(/sessionforge-server release publish --version \d+\.\d+\.\d+\S* --target x86_64-unknown-linux-musl/);
    await expect(box).toContainText("cargo build --release");
    await expect(box.locator('[data-platform="Linux (x86-64)"]')).toHaveAttribute("data-available", "no");
    await screenshot(page, "add-machine-no-builds", "desktop");

    // Publish one Linux build: that platform has it, the others still say what to do.
    const resp = await server.api.post("/api/v1/releases?version=1.2.3&target=x86_64-unknown-linux-musl", {
      headers: { "x-csrf-token": (await server.json("GET", "/api/v1/auth/me")).csrf_token, "content-type": "application/octet-stream" },
      data: Buffer.from("not really an agent"),
    });
    expect(resp.status()).toBe(201);
    await page.reload();
    await expect(box).toHaveAttribute("data-availability", "some");
    await expect(box.locator('[data-platform="Linux (x86-64)"]')).toContainText("1.2.3");
    await expect(box.locator('[data-platform="macOS (Apple silicon)"]')).toContainText("no build");
  } finally {
    await server.stop();
  }
});

test("a server started beside an agent build publishes it, and Add machine shows it", async ({ browser }) => {
  const server = await TestServer.start({ publishBundled: true });
  try {
    const org = await server.setupAdmin();
    const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD);
    await page.goto(`${server.base}/orgs/${org}/machines/add`);
    await expect(page.locator('[data-platform="Linux (x86-64)"]')).toHaveAttribute("data-available", "yes");
    const latest = await server.api.get("/api/v1/releases/latest?target=x86_64-unknown-linux-gnu");
    expect(latest.status()).toBe(200);
  } finally {
    await server.stop();
  }
});

test("enrollment tokens are listed with their state and revoked", async ({ browser }) => {
  const server = await TestServer.start();
  try {
    const org = await server.setupAdmin();
    const agent = await server.enrollAgent(org); // uses one token
    const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD);
    await page.goto(`${server.base}/orgs/${org}/machines/add`);
    await page.getByLabel("Note (optional)").fill("for the build box");
    await page.getByRole("button", { name: "Create install command" }).click();
    const token = /SESSIONFORGE_TOKEN='(sfe_\w+)'/.exec((await page.locator('[data-copy="sh"]').textContent()) ?? "")?.[1];
    await page.getByRole("link", { name: "Enrollment tokens" }).click();
    const row = page.getByRole("row", { name: /for the build box/ });
    await expect(row).toContainText("active");
    // The used token names the machine it enrolled, linking to it.
    const hostname = (await server.json("GET", `/api/v1/orgs/${org}/machines/${agent.machineId}`)).hostname as string;
    const used = page.locator("tbody tr").filter({ hasText: "used" });
    await expect(used.getByRole("link", { name: hostname })).toHaveAttribute("href", `/orgs/${org}/machines/${agent.machineId}`);
    await row.getByRole("button", { name: "Revoke for the build box" }).click();
    await confirm(page, "Revoke token");
    await expect(row).toContainText("revoked");
    // The revoked token no longer enrolls anything.
    const enroll = await server.api.post("/api/v1/agent/enroll", {
      data: { token, machine: { hostname: "x", os: "linux", os_version: "", arch: "x86_64", cpus: 1, memory_bytes: 1, agent_version: "0.1.0" } },
    });
    expect(enroll.status()).toBe(401);
  } finally {
    await server.stop();
  }
});
