// Self-service org pages: create a team org from the org switcher, rename it and edit its allowed
// commands (with argument patterns) in its settings, and session templates: an admin saves one,
// a member starts it in one click from New session and from a machine's page.
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer, type TestAgent } from "./harness";
import { confirm, expectTerminal, pageAs } from "./pages";

let server: TestServer;
let org: string;
let agent: TestAgent;

test.beforeAll(async () => {
  server = await TestServer.start();
  org = await server.setupAdmin();
  await server.addUser(org, "member@example.com", "member");
  agent = await server.enrollAgent(org);
  await agent.run(org);
});

test.afterAll(async () => {
  await server?.stop();
});

test("create a team org, rename it, and edit its allowed commands with argument patterns", async ({ browser }) => {
  const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD);
  await page.locator(".sidebar .org-button").click();
  await page.getByRole("menuitem", { name: "Create a team org" }).click();
  await page.getByRole("button", { name: "Create org" }).click();
  await expect(page.getByText(/Please fill|fill out this field/i)).toBeVisible(); // an empty name, said under the field
  await page.getByLabel("Org name").fill("Mobile team");
  await page.getByRole("button", { name: "Create org" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Members of Mobile team" })).toBeVisible();
  const team = /\/orgs\/([0-9a-f-]+)\/members/.exec(page.url())?.[1] ?? "";
  await expect(page.locator(".sidebar .org-button")).toContainText("Mobile team");

  await page.getByRole("link", { name: "Org settings" }).click();
  await page.getByLabel("Org name").fill("Mobile and web team");
  await page.getByRole("button", { name: "Save name" }).click();
  await expect(page.locator(".sidebar .org-button")).toContainText("Mobile and web team");
  expect((await server.json("GET", `/api/v1/orgs/${team}`)).name).toBe("Mobile and web team");

  // The allow-list: the built-in list at first; keep claude with patterns, add sh with any args.
  await expect(page.getByText("The org uses the built-in list")).toBeVisible();
  const first = page.locator(".allowed-row").first();
  await expect(first.getByLabel("Command 1", { exact: true })).toHaveValue("claude");
  const rows = page.locator(".allowed-row");
  while ((await rows.count()) > 1) await rows.nth(1).getByRole("button", { name: /Remove command/ }).click();
  await first.getByLabel("any arguments").uncheck();
  await first.getByLabel("Argument patterns for command 1").fill("--model * -p");
  await page.getByRole("button", { name: "Add a command" }).click();
  await page.getByLabel("Command 2", { exact: true }).fill("sh");
  await page.getByRole("button", { name: "Save allowed commands" }).click();
  await expect(page.getByText("Allowed commands saved.")).toBeVisible();
  const saved = await server.json("GET", `/api/v1/orgs/${team}/allowed-commands`);
  expect(saved.commands).toEqual(["claude", "sh"]);
  expect(saved.entries).toEqual([{ command: "claude", args: ["--model", "*", "-p"] }, { command: "sh" }]);
  // Reloaded, the editor shows what was saved.
  await page.reload();
  await expect(page.getByLabel("Argument patterns for command 1")).toHaveValue("--model * -p");
  await expect(page.getByLabel("Command 2", { exact: true })).toHaveValue("sh");
});

test("templates: an admin saves one, a member starts it in one click", async ({ browser }) => {
  await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh"] });
  const admin = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD);
  await admin.getByRole("link", { name: "Templates" }).click();
  await admin.getByRole("button", { name: "New template" }).click();
  await admin.getByLabel("Name").fill("Say hello");
  await admin.getByLabel("Command").fill("sh");
  await admin.getByLabel("Arguments").fill(`-c 'echo hello-from-template; pwd; sleep 30'`);
  await admin.getByLabel("Working directory").fill("/tmp");
  await admin.getByLabel("Environment variables it needs").fill("1BAD");
  await admin.getByRole("button", { name: "Create template" }).click();
  // A bad variable name is said under its field.
  await expect(admin.locator(".field.invalid")).toContainText("letters, digits and _, not starting with a digit");
  await expect(admin.getByLabel("Environment variables it needs")).toBeFocused();
  await admin.getByLabel("Environment variables it needs").fill("HOME");
  await admin.getByRole("button", { name: "Create template" }).click();
  await expect(admin.getByText('Template "Say hello" saved.')).toBeVisible();
  await expect(admin.locator('[data-template="Say hello"]')).toContainText("echo hello-from-template");

  // A member starts it from New session, in one click.
  const member = await pageAs(browser, server.base, "member@example.com", PASSWORD);
  await member.getByRole("link", { name: "New session" }).first().click();
  await member.getByRole("button", { name: "Start Say hello" }).click();
  await expect(member).toHaveURL(/\/sessions\/[0-9a-f-]{36}$/);
  await expectTerminal(member, /^hello-from-template$/m);
  await expectTerminal(member, /^\/tmp$/m);
  // And from the machine's page.
  await member.goto(`${server.base}/orgs/${org}/machines/${agent.machineId}`);
  await member.getByRole("button", { name: "Start Say hello" }).click();
  await expect(member).toHaveURL(/\/sessions\/[0-9a-f-]{36}$/);
  await expectTerminal(member, /^hello-from-template$/m);
  // Members do not manage templates.
  await member.goto(`${server.base}/orgs/${org}/templates`);
  await expect(member.getByRole("button", { name: "New template" })).toHaveCount(0);
  await expect(member.getByRole("button", { name: "Delete Say hello" })).toHaveCount(0);

  // The admin deletes it, after a confirm.
  await admin.getByRole("button", { name: "Delete Say hello" }).click();
  await confirm(admin, "Delete template");
  await expect(admin.locator('[data-template="Say hello"]')).toHaveCount(0);
  expect(await server.json("GET", `/api/v1/orgs/${org}/templates`)).toEqual([]);
});
