// People: an admin invites someone from the members page and gets the link to pass on; the
// invited person opens it in a browser of their own, creates their account through it and shows
// up in the members list. A forgotten password gets one answer whatever the address; a new
// sign-up sees "confirm your address" instead of the dashboard. The new pages at desktop and phone
// size: nothing scrolls sideways, and each is saved as a screenshot.
import { expect, test, type Page } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer, waitFor } from "./harness";
import { context, expectNoSidewaysScroll, signIn, screenshot, type Size } from "./pages";

/** An SMTP server nobody listens on: mail is queued, fails at once (no retries) and shows so in
 * the outbox, while the server still counts as able to send mail. */
const NOBODY_LISTENS = "smtp://127.0.0.1:1";

let server: TestServer;
let org: string;

test.beforeAll(async () => {
  server = await TestServer.start({
    env: {
      SESSIONFORGE_EMAIL__SMTP_URL: NOBODY_LISTENS,
      SESSIONFORGE_EMAIL__GIVE_UP_AFTER_HOURS: "0",
      SESSIONFORGE_ACCOUNTS__SIGNUP: "open",
    },
  });
  org = await server.setupAdmin();
});

test.afterAll(async () => {
  await server?.stop();
});

async function heading(page: Page, name: string | RegExp): Promise<void> {
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  await expect(page.locator(".loading")).toHaveCount(0);
}

/** Invites `email` from the members page that `page` shows; returns the link it shows once. */
async function invite(page: Page, email: string, role: string): Promise<string> {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Role", { exact: true }).selectOption(role);
  await page.getByRole("button", { name: "Send invitation" }).click();
  const box = page.locator('[data-copy="accept-url"]');
  await expect(box).toContainText("/invitations/accept#token=");
  await expect(page.locator("[data-fresh-invitation]")).toContainText(email);
  return (await box.textContent()) ?? "";
}

test("an invitation from the members page, accepted in another browser by creating an account", async ({ browser }) => {
  const admin = await (await context(browser)).newPage();
  await signIn(admin, server.base, ADMIN_EMAIL, PASSWORD);
  await admin.goto(`${server.base}/orgs/${org}/members`);
  await heading(admin, /^Members of/);
  const url = await invite(admin, "newcomer@example.com", "viewer");
  await expect(admin.locator("[data-fresh-invitation]")).toContainText("mailed");
  await expect(admin.locator('[data-invitation="newcomer@example.com"]')).toContainText("pending");
  // The server's public address (here https://localhost:<port>, the same server).
  expect(new URL(url).pathname).toBe("/invitations/accept");

  // The invited person: a browser of their own, with nobody signed in.
  const guest = await (await context(browser)).newPage();
  await guest.goto(url);
  await heading(guest, /^Join /);
  await expect(guest.locator(".facts")).toContainText("newcomer@example.com");
  await expect(guest.locator(".facts")).toContainText("viewer");
  // A wrong second password is said under its field before anything is sent.
  await guest.getByLabel("Name (optional)").fill("New Comer");
  await guest.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await guest.getByLabel("Password again").fill(`${PASSWORD}!`);
  await guest.getByRole("button", { name: "Create account and join" }).click();
  await expect(guest.getByText("The two passwords differ")).toBeVisible();
  await guest.getByLabel("Password again").fill(PASSWORD);
  await guest.getByRole("button", { name: "Create account and join" }).click();
  await heading(guest, "Sessions");
  expect(new URL(guest.url()).pathname).toBe(`/orgs/${org}/sessions`);

  // The admin sees the new member, and the invitation is no longer open.
  await admin.reload();
  await heading(admin, /^Members of/);
  await expect(admin.locator('[data-member="newcomer@example.com"]')).toHaveAttribute("data-role", "viewer");
  await expect(admin.locator('[data-member="newcomer@example.com"]')).toContainText("New Comer");
  await expect(admin.locator('[data-invitation="newcomer@example.com"]')).toHaveCount(0);

  // The link is used up: opening it again says so instead of offering to join.
  const late = await (await context(browser)).newPage();
  await late.goto(url);
  await expect(late.getByRole("alert")).toContainText(/accepted|used/i);
  await expect(late.getByRole("button", { name: "Create account and join" })).toHaveCount(0);
});

test("accounts: an administrator disables an account, which is signed out at once, and enables it again", async ({ browser }) => {
  await server.addUser(org, "leaving@example.com", "member");
  const theirs = await (await context(browser)).newPage();
  await signIn(theirs, server.base, "leaving@example.com", PASSWORD);
  const admin = await (await context(browser)).newPage();
  await signIn(admin, server.base, ADMIN_EMAIL, PASSWORD);
  await admin.getByRole("link", { name: "Accounts" }).first().click();
  await heading(admin, "Accounts");
  const row = admin.locator('[data-user="leaving@example.com"]');
  await expect(row).toHaveAttribute("data-disabled", "no");
  await expect(admin.locator(`[data-user="${ADMIN_EMAIL}"]`).getByRole("button")).toHaveCount(0);
  await row.getByRole("button", { name: "Disable leaving@example.com" }).click();
  await admin.getByRole("dialog").getByRole("button", { name: "Disable" }).click();
  await expect(row).toHaveAttribute("data-disabled", "yes");
  // Their browser's sign-in is gone: the next request is refused.
  const resp = await theirs.request.get(`${server.base}/api/v1/auth/me`);
  expect(resp.status()).toBe(401);
  await row.getByRole("button", { name: "Enable leaving@example.com" }).click();
  await expect(row).toHaveAttribute("data-disabled", "no");
  for (const size of ["desktop", "phone"] as Size[]) {
    const page = await (await context(browser, size)).newPage();
    await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
    await page.goto(`${server.base}/admin/users`);
    await heading(page, "Accounts");
    await expectNoSidewaysScroll(page, "accounts");
    await screenshot(page, "accounts", size);
  }
});

test("org settings show the plan and each limit against its use, over the limit after a downgrade", async ({ browser }) => {
  await server.addUser(org, "seat.two@example.com", "member");
  await server.json("PUT", `/api/v1/admin/orgs/${org}/plan`, { plan: "free", reason: "browser test" });
  try {
    const page = await (await context(browser)).newPage();
    await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
    await page.goto(`${server.base}/orgs/${org}/settings`);
    await heading(page, "Org settings");
    const plan = page.locator('[data-plan="free"]');
    await expect(plan).toContainText("Free");
    await expect(plan).toContainText("set by a server administrator");
    const seats = plan.locator('[data-limit="seats"]');
    await expect(seats).toHaveClass(/over/);
    await expect(seats).toContainText("of 1");
    await expect(seats).toContainText("nothing is removed");
    await expect(plan.locator('[data-limit="machines"]')).toContainText("0 of 2");
  } finally {
    // The free plan caps sign-ins at 2: the browser's ended this test's API sign-in.
    await server.signInApi(ADMIN_EMAIL, PASSWORD);
    await server.json("DELETE", `/api/v1/admin/orgs/${org}/plan`);
  }
});

test("forgot password: one answer for every address, reached from the sign-in page", async ({ page }) => {
  await page.goto(`${server.base}/login`);
  await page.getByRole("link", { name: "Forgot password?" }).click();
  await heading(page, "Forgot your password?");
  const answers: string[] = [];
  for (const email of [ADMIN_EMAIL, "nobody-here@example.com"]) {
    await page.goto(`${server.base}/forgot-password`);
    await page.getByLabel("Email").fill(email);
    await page.getByRole("button", { name: "Send link" }).click();
    answers.push((await page.locator("[data-sent]").textContent()) ?? "");
  }
  expect(answers[0]).toContain("If an account has this address");
  expect(answers[1]).toBe(answers[0]);
});

test("sign-up: the new account is asked to confirm its address, on every page", async ({ page }) => {
  await page.goto(`${server.base}/login`);
  await page.getByRole("link", { name: "Create an account" }).click();
  await heading(page, "Create an account");
  await page.getByLabel("Email").fill("signed.up@example.com");
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Password again").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await heading(page, "Confirm your address");
  await expect(page.locator('[data-page="confirm-address"]')).toContainText("signed.up@example.com");
  await page.getByRole("button", { name: "Send the link again" }).click();
  await expect(page.locator('[data-page="confirm-address"] .alert')).toBeVisible();
  // Any dashboard page shows the same, not a page of refusals.
  await page.goto(`${server.base}/keys`);
  await heading(page, "Confirm your address");
});

for (const size of ["desktop", "phone"] as Size[]) {
  test(`the people pages at ${size} size: no sideways scrolling, screenshots saved`, async ({ browser }) => {
    test.setTimeout(120_000);
    const pending = await server.invite(org, `pending.${size}.person@example.com`, "member");
    const ctx = await context(browser, size);
    const shots: [string, string, string | RegExp][] = [
      ["signup", "/signup", "Create an account"],
      ["forgot-password", "/forgot-password", "Forgot your password?"],
      ["reset-password", "/reset-password#token=not-a-real-token", "Choose a new password"],
      ["verify-email-bad-link", "/verify-email#token=not-a-real-token", "Confirm your address"],
      ["accept-invitation", `/invitations/accept${new URL(pending).hash}`, /^Join /],
    ];
    for (const [name, path, title] of shots) {
      const page = await ctx.newPage();
      await page.goto(`${server.base}${path}`);
      await heading(page, title);
      if (name === "verify-email-bad-link") await expect(page.getByRole("alert")).toBeVisible();
      await expectNoSidewaysScroll(page, name);
      await screenshot(page, name, size);
      await page.close();
    }

    let page = await ctx.newPage();
    await signIn(page, server.base, ADMIN_EMAIL, PASSWORD);
    await page.close();
    // The members page just after an invitation, with its link shown once.
    page = await ctx.newPage();
    await page.goto(`${server.base}/orgs/${org}/members`);
    await heading(page, /^Members of/);
    await invite(page, `a.rather.long.address.for.the.${size}.screen@example.com`, "member");
    await expectNoSidewaysScroll(page, "members");
    await screenshot(page, "members-invited", size);
    await page.close();

    page = await ctx.newPage();
    await page.goto(`${server.base}/orgs/${org}/audit`);
    await heading(page, "Audit log");
    await expect(page.locator('[data-action="invitation.created"]').first()).toBeVisible();
    await expectNoSidewaysScroll(page, "audit");
    await screenshot(page, "audit", size);
    await page.close();

    // The outbox, once the mail has failed (nothing listens at the SMTP address); Retry queues it again.
    await waitFor("a failed mail", async () => {
      const box = await server.json("GET", "/api/v1/admin/outbox?mail_state=failed");
      return box.mail.length > 0 ? true : undefined;
    });
    page = await ctx.newPage();
    await page.goto(`${server.base}/admin/outbox`);
    await heading(page, "Mail outbox");
    await expect(page.locator('[data-smtp="on"]')).toBeVisible();
    await expect(page.locator('tr[data-state="failed"]').first()).toBeVisible();
    await expectNoSidewaysScroll(page, "outbox");
    await screenshot(page, "outbox", size);
    await page.getByRole("button", { name: /^Retry the mail to/ }).first().click();
    await expect(page.getByText(/queued again/)).toBeVisible();
    await page.close();
    await ctx.close();

    // An account that has not confirmed its address yet.
    const fresh = await context(browser, size);
    page = await fresh.newPage();
    await page.goto(`${server.base}/signup`);
    await page.getByLabel("Email").fill(`unconfirmed.${size}@example.com`);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Password again").fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await heading(page, "Confirm your address");
    await page.goto(`${server.base}/`);
    await heading(page, "Confirm your address");
    await expectNoSidewaysScroll(page, "confirm-address");
    await screenshot(page, "confirm-address", size);
    await fresh.close();
  });
}
