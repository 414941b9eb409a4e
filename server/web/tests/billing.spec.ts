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
      SESSIONFORGE_BILLING__LICENSE_PRODUCTS__PRICE_LIC__PLAN: "pro",
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

test("a guest buys a license: product and address, (fake) Stripe, then the page says the key was emailed", async ({ browser }) => {
  const page = await (await context(browser, "phone")).newPage();
  await page.goto(`${server.base}/purchase`);
  await expect(page.getByRole("heading", { level: 1, name: "Buy a license" })).toBeVisible();
  await expect(page.getByLabel("License")).toContainText("pro plan, 1 server, 1 year");
  await page.getByLabel("Email (the key is sent here)").fill("guest@example.com");
  await expectNoSidewaysScroll(page, "purchase");
  await screenshot(page, "purchase", "phone");
  await page.getByRole("button", { name: "Continue to payment" }).click();
  await page.waitForURL((u) => u.toString().startsWith(`${stripeUrl}/pay/`));
  const t = Math.floor(Date.now() / 1000);
  await deliver({
    id: "evt_browser_purchase",
    object: "event",
    type: "checkout.session.completed",
    created: t,
    data: { object: { id: "cs_guest_b", object: "checkout.session", mode: "payment", payment_status: "paid", customer_details: { email: "guest@example.com" }, metadata: { price: "price_lic" }, payment_intent: "pi_b" } },
  });
  await page.goto(`${server.base}/purchase/complete`);
  await expect(page.locator('[data-purchase="complete"]')).toContainText("on its way to your email");
  const outbox = await server.json("GET", "/api/v1/admin/outbox");
  expect(outbox.mail.filter((m: { template: string; to: string }) => m.template === "license_purchased" && m.to === "guest@example.com")).toHaveLength(1);
});

test("the administrators' console: every org's plan and source, an override, and the webhook log", async ({ browser }) => {
  const page = await (await context(browser)).newPage();
  await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
  await page.getByRole("link", { name: "Orgs and plans" }).click();
  const row = page.locator(`[data-org-id="${org}"]`);
  await expect(row).toHaveAttribute("data-source", "subscription");
  await row.getByRole("button", { name: /Change the plan/ }).click();
  const form = page.locator("[data-override-for]");
  await form.getByLabel("Plan", { exact: true }).fill("enterprise");
  await form.getByLabel("Reason (kept in the audit log)").fill("design partner");
  await form.getByRole("button", { name: "Set plan" }).click();
  await expect(row).toHaveAttribute("data-source", "override");
  await expect(row).toContainText("enterprise");
  await expect(page.locator('[data-event="evt_browser_1"]')).toHaveAttribute("data-state", "processed");
  await screenshot(page, "admin-orgs", "desktop");
  const phone = await (await context(browser, "phone")).newPage();
  await signIn(phone, server.base, ADMIN_EMAIL, PASSWORD);
  await phone.goto(`${server.base}/admin/orgs`);
  await expect(phone.locator(`[data-org-id="${org}"]`)).toContainText("enterprise");
  await expectNoSidewaysScroll(phone, "admin-orgs");
  await screenshot(phone, "admin-orgs", "phone");
  await server.json("DELETE", `/api/v1/admin/orgs/${org}/plan`);
});
