// Plans in the browser: a plan that caps sign-ins per user ends the oldest sign-in when a new
// one is made, and the browser that was signed out says why on the sign-in page. Licenses: an
// issuer's administrator creates one (its key shown once), a licensed server's administrator
// activates that key on the License page, and the plan applies there.
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer } from "./harness";
import { context, expectNoSidewaysScroll, screenshot, signIn, type Size } from "./pages";

let server: TestServer;

test.beforeAll(async () => {
  // The free plan allows 2 browser sign-ins per user.
  server = await TestServer.start({ env: { SESSIONFORGE_PLANS__DEFAULT: "free" } });
  await server.setupAdmin();
});

test.afterAll(async () => {
  await server?.stop();
});

test("signed out by a newer sign-in elsewhere: the sign-in page says why", async ({ browser }) => {
  const page = await (await context(browser)).newPage();
  await signIn(page, server.base, ADMIN_EMAIL, PASSWORD); // the second sign-in (setup made the first)
  await server.signInApi(ADMIN_EMAIL, PASSWORD); // the third ends the first
  await server.signInApi(ADMIN_EMAIL, PASSWORD); // the fourth ends this browser's
  await page.getByRole("link", { name: "Machines" }).first().click();
  await expect(page.getByRole("heading", { level: 1, name: "Sign in to SessionForge" })).toBeVisible();
  const why = page.locator('[data-signed-out="elsewhere"]');
  await expect(why).toContainText("signed in somewhere else");
  await screenshot(page, "signed-out-elsewhere", "desktop");
  await page.getByLabel("Email").fill(ADMIN_EMAIL);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { level: 1 })).not.toHaveText("Sign in to SessionForge");
  await expect(why).toHaveCount(0);
});

test("licenses: issued on one server, activated on another from its License page", async ({ browser }) => {
  test.setTimeout(120_000);
  const issuer = await TestServer.start({ env: { SESSIONFORGE_TLS__ENABLED: "false" } });
  let licensed: TestServer | undefined;
  try {
    await issuer.setupAdmin();
    const { key_id } = await issuer.json("GET", "/api/v1/licenses/public-key");
    licensed = await TestServer.start({ env: { SESSIONFORGE_LICENSING__TRUSTED_KEYS: `["${key_id}"]` } });
    const org = await licensed.setupAdmin();

    const issuing = await (await context(browser)).newPage();
    await signIn(issuing, issuer.base, ADMIN_EMAIL, PASSWORD);
    await issuing.getByRole("link", { name: "Licenses issued" }).click();
    await expect(issuing.getByRole("heading", { level: 1, name: "Licenses" })).toBeVisible();
    await issuing.getByLabel("Plan", { exact: true }).fill("pro");
    await issuing.getByLabel("Licensee").fill("Acme Ltd");
    await issuing.getByRole("button", { name: "Create license" }).click();
    const key = (await issuing.locator('[data-copy="license-key"]').textContent()) ?? "";
    expect(key).toMatch(/^SF-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}$/);
    const row = issuing.locator('[data-license="Acme Ltd"]');
    await expect(row).toContainText("0 of 1");

    const page = await (await context(browser)).newPage();
    await signIn(page, licensed.base, ADMIN_EMAIL, PASSWORD);
    await page.getByRole("link", { name: "License", exact: true }).click();
    await expect(page.locator('[data-license="none"]')).toBeVisible();
    await page.getByLabel("License key", { exact: true }).fill("SF-00000-00000-00000-00000");
    await page.getByLabel("Issuer URL").fill(issuer.base);
    await page.getByRole("button", { name: "Activate" }).click();
    await expect(page.locator(".field-error")).toContainText(/license key|refused/i);
    await page.getByLabel("License key", { exact: true }).fill(key);
    await page.getByRole("button", { name: "Activate" }).click();
    await expect(page.locator('[data-source="key"]')).toContainText("Acme Ltd");
    await expect(page.locator('[data-source="key"]')).toContainText("VALID");
    await page.goto(`${licensed.base}/orgs/${org}/settings`);
    await expect(page.locator('[data-plan="pro"]')).toContainText("the license installed on this server");

    await issuing.reload();
    await expect(row).toContainText("1 of 1");
    for (const size of ["desktop", "phone"] as Size[]) {
      for (const [name, server, path] of [
        ["license", licensed, "/admin/license"],
        ["licenses-issued", issuer, "/admin/licenses"],
      ] as const) {
        const shot = await (await context(browser, size)).newPage();
        await signIn(shot, server.base, ADMIN_EMAIL, PASSWORD);
        await shot.goto(`${server.base}${path}`);
        await expect(shot.locator(".loading")).toHaveCount(0);
        await expectNoSidewaysScroll(shot, name);
        await screenshot(shot, name, size);
        await shot.close();
      }
    }
  } finally {
    await licensed?.stop();
    await issuer.stop();
  }
});
