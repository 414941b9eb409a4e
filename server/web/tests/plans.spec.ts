// Plans in the browser: a plan that caps sign-ins per user ends the oldest sign-in when a new
// one is made, and the browser that was signed out says why on the sign-in page.
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer } from "./harness";
import { context, screenshot, signIn } from "./pages";

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
