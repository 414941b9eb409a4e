// Page helpers for the browser tests: browser contexts at desktop and phone sizes, signing in,
// reading what the terminal shows, checking that nothing scrolls sideways, and screenshots saved
// under test-artifacts/web/screens/ for people to look at.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, type Browser, type BrowserContext, type Page } from "@playwright/test";

export const DESKTOP = { width: 1366, height: 768 };
export const PHONE = { width: 390, height: 844 };

export type Size = "desktop" | "phone";

const SCREENS = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "test-artifacts", "web", "screens");

/** A fresh browser context at `size` (a touch phone for "phone"). */
export async function context(browser: Browser, size: Size = "desktop"): Promise<BrowserContext> {
  return size === "phone"
    ? browser.newContext({ ignoreHTTPSErrors: true, viewport: PHONE, hasTouch: true, isMobile: true, deviceScaleFactor: 2 })
    : browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP });
}

export async function signIn(page: Page, base: string, email: string, password: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
}

/** A signed-in page at `size`. */
export async function pageAs(browser: Browser, base: string, email: string, password: string, size: Size = "desktop"): Promise<Page> {
  const page = await (await context(browser, size)).newPage();
  await signIn(page, base, email, password);
  return page;
}

/** Everything in the terminal's buffer (scrollback included), one line per row. */
export async function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => {
    type Buf = { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined };
    const handle = (window as unknown as { sessionforgeTerminal?: { term: { buffer: { active: Buf } } } }).sessionforgeTerminal;
    if (!handle) return "";
    const b = handle.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? "");
    return lines.join("\n");
  });
}

/** Waits until the terminal shows `pattern`. */
export async function expectTerminal(page: Page, pattern: RegExp): Promise<void> {
  await expect.poll(() => terminalText(page), { message: `terminal shows ${pattern}` }).toMatch(pattern);
}

/** The terminal's size and font, as the page shows it. */
export async function terminalGeometry(page: Page): Promise<{ cols: number; rows: number; font: number; screen: number; frame: number }> {
  return page.evaluate(() => {
    const h = (window as unknown as { sessionforgeTerminal?: { term: { cols: number; rows: number; options: { fontSize?: number }; element?: HTMLElement } } })
      .sessionforgeTerminal;
    if (!h) throw new Error("no terminal on the page");
    const screen = h.term.element?.querySelector(".xterm-screen")?.getBoundingClientRect().width ?? 0;
    // The room the terminal has: the frame's width less the box drawn around the terminal.
    const frame = document.querySelector(".terminal-frame") as HTMLElement;
    const box = getComputedStyle(frame.querySelector(".term-scroller") as HTMLElement);
    const around = ["paddingLeft", "paddingRight", "borderLeftWidth", "borderRightWidth"] as const;
    const inner = frame.clientWidth - around.reduce((n, k) => n + (parseFloat(box[k]) || 0), 0);
    return { cols: h.term.cols, rows: h.term.rows, font: h.term.options.fontSize ?? 0, screen, frame: inner };
  });
}

/** How many pixels the page scrolls sideways (0 when it does not). */
export async function sidewaysScroll(page: Page): Promise<number> {
  return page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth);
}

export async function expectNoSidewaysScroll(page: Page, what: string): Promise<void> {
  expect(await sidewaysScroll(page), `${what} scrolls sideways`).toBeLessThanOrEqual(0);
}

/** Saves a full-page screenshot as test-artifacts/web/screens/<name>-<size>.png. */
export async function screenshot(page: Page, name: string, size: Size): Promise<void> {
  mkdirSync(SCREENS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENS, `${name}-${size}.png`), fullPage: true });
}

/** Accepts the confirm dialog that is open, by its action button. */
export async function confirm(page: Page, action: string | RegExp): Promise<void> {
  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  await dialog.getByRole("button", { name: action }).click();
  await expect(dialog).toBeHidden();
}
