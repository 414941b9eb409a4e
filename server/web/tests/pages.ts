// Page helpers for the browser tests: signing in, and reading what the terminal shows.
import { expect, type Page } from "@playwright/test";

export async function signIn(page: Page, base: string, email: string, password: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
}

/** Everything in the terminal's buffer (scrollback included), one line per row. */
export async function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const handle = (window as unknown as { sessionforgeTerminal?: { term: { buffer: { active: { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } } } } }).sessionforgeTerminal;
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
