// Billing in the browser, against the local fake of Stripe's API: an org admin picks a plan on
// the Billing page and is sent to (fake) Stripe Checkout; Stripe's signed webhook arrives; the
// Billing page shows the trial and the plan in effect. Screenshots at both sizes.
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer, waitFor } from "./harness";
import { context, expectNoSidewaysScroll, screenshot, signIn, type Size } from "./pages";

const SECRET = "whsec_browser_test";
let stripe: ChildProcess;
let stripeUrl = "";
let server: TestServer;
let org: string;

test.beforeAll(async () => {
  stripe = spawn("python3", [path.join(path.dirname(fileURLToPath(import.meta.url)), "../../tests/fake_stripe.py")], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  stripe.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  stripeUrl = await waitFor("the fake Stripe's banner", () => /listening on (\S+)/.exec(out)?.[1]);
  server = await TestServer.start({
    env: {
      SESSIONFORGE_BILLING__STRIPE__SECRET_KEY: "sk_test_browser",
      SESSIONFORGE_BILLING__STRIPE__API_BASE: stripeUrl,
      SESSIONFORGE_BILLING__STRIPE__WEBHOOK_SECRETS: `["${SECRET}"]`,
      SESSIONFORGE_BILLING__PRICES__TEAM__MONTHLY: "price_team_m",
    },
  });
  org = await server.setupAdmin();
});

test.afterAll(async () => {
  await server?.stop();
  stripe?.kill();
});

/** Posts `event` to the webhook, signed as Stripe signs. */
async function deliver(event: object): Promise<void> {
  const body = JSON.stringify(event);
  const t = Math.floor(Date.now() / 1000);
  const sig = createHmac("sha256", SECRET).update(`${t}.${body}`).digest("hex");
  const resp = await server.api.fetch("/api/v1/billing/stripe/webhook", {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": `t=${t},v1=${sig}` },
    data: body,
  });
  expect(resp.status()).toBe(200);
}

test("upgrade: Checkout at (fake) Stripe, the webhook, then the Billing page shows the trial", async ({ browser }) => {
  const page = await (await context(browser)).newPage();
  await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
  await page.getByRole("link", { name: "Billing" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Billing" })).toBeVisible();
  await expect(page.locator('[data-billing-plan="none"]')).toBeVisible();
  await page.getByLabel("Seats").fill("3");
  await page.locator('[data-checkout="team-monthly"]').click();
  await page.waitForURL((u) => u.toString().startsWith(`${stripeUrl}/pay/`));

  const t = Math.floor(Date.now() / 1000);
  await deliver({
    id: "evt_browser_1",
    object: "event",
    type: "customer.subscription.created",
    created: t,
    data: {
      object: {
        id: "sub_b",
        object: "subscription",
        customer: "cus_b",
        status: "trialing",
        metadata: { org_id: org },
        trial_end: t + 14 * 86400 - 60,
        items: { object: "list", data: [{ id: "si_b", quantity: 3, current_period_end: t + 14 * 86400, price: { id: "price_team_m" } }] },
      },
    },
  });
  await page.goto(`${server.base}/orgs/${org}/billing?checkout=success`);
  await expect(page.locator('[data-billing-plan="team"]')).toContainText("trial");
  await expect(page.locator("[data-trial]")).toContainText("Trial: 13 days left");
  await expect(page.locator('[data-billing-plan="team"]')).toContainText("1 used of 3 paid");
  await expect(page.getByRole("button", { name: "Manage billing" })).toBeVisible();
  for (const size of ["desktop", "phone"] as Size[]) {
    const shot = await (await context(browser, size)).newPage();
    await signIn(shot, server.base, ADMIN_EMAIL, PASSWORD);
    await shot.goto(`${server.base}/orgs/${org}/billing`);
    await expect(shot.locator("[data-trial]")).toBeVisible();
    await expectNoSidewaysScroll(shot, "billing");
    await screenshot(shot, "billing", size);
    await shot.close();
  }
});
