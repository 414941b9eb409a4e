// Replay in the browser: an ended session's recording plays, pauses, changes speed, seeks to a
// time and jumps to the end; resize events in the recording resize the player's terminal; the
// download stays next to it.
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, PASSWORD, TestServer, waitFor } from "./harness";
import { expectNoSidewaysScroll, pageAs, screenshot, terminalGeometry, terminalText } from "./pages";

test("the player plays, seeks, changes speed and jumps to the end, following resizes", async ({ browser }) => {
  const server = await TestServer.start();
  try {
    const org = await server.setupAdmin();
    const agent = await server.enrollAgent(org);
    await agent.run(org);
    await server.json("PUT", `/api/v1/orgs/${org}/allowed-commands`, { commands: ["sh"] });
    // step-1 at once, then the PTY is resized (by a member, below), then step-2 and step-3 a
    // second apart, each printing the size it ran at.
    const flag = `/tmp/sf-replay-${Date.now()}`;
    const script = `echo step-1; while [ ! -f ${flag} ]; do sleep 0.1; done; rm -f ${flag}; echo "step-2 $(stty size)"; sleep 1; echo step-3; sleep 0.5`;
    const s = await server.json("POST", `/api/v1/orgs/${org}/sessions`, { machine_id: agent.machineId, command: "sh", args: ["-c", script], cols: 80, rows: 24 });
    const id = s.id as string;
    const page = await pageAs(browser, server.base, ADMIN_EMAIL, PASSWORD, "desktop");
    await page.goto(`${server.base}/orgs/${org}/sessions/${id}`);
    await expect.poll(() => terminalText(page)).toContain("step-1");
    await page.getByRole("button", { name: "Resize session to my window" }).click();
    const resized = await waitFor("the resize", async () => {
      const x = await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`);
      return x.cols !== 80 ? x : undefined;
    });
    const { writeFileSync } = await import("node:fs");
    writeFileSync(flag, "");
    await waitFor("the session to end", async () => ((await server.json("GET", `/api/v1/orgs/${org}/sessions/${id}`)).state === "exited" ? true : undefined));

    // The ended session offers Replay; the player starts playing from the start.
    await page.reload();
    await page.getByRole("link", { name: "Replay" }).click();
    await expect(page.getByRole("heading", { level: 1, name: /^Replay:/ })).toBeVisible();
    await expect(page.getByRole("link", { name: "Download recording (.cast)" })).toHaveAttribute("href", `/api/v1/orgs/${org}/sessions/${id}/cast`);
    await expect.poll(() => terminalText(page)).toContain("step-1");

    // Jump to the end: the final screen, at the size the session had then.
    await page.getByRole("button", { name: "Jump to the end" }).click();
    await expect.poll(() => terminalText(page)).toContain("step-3");
    await expect(page.getByRole("button", { name: "Play" })).toBeVisible();
    expect(await terminalText(page)).toContain(`step-2 ${resized.rows} ${resized.cols}`);
    expect((await terminalGeometry(page)).cols).toBe(resized.cols);

    // The recording has the resize as an "r" event between step-1 and step-2.
    const cast = (await (await server.api.get(`/api/v1/orgs/${org}/sessions/${id}/cast`)).text()).trim().split("\n").slice(1);
    const events = cast.map((l) => JSON.parse(l) as [number, string, string]);
    const at = (pred: (e: [number, string, string]) => boolean) => events.find(pred)?.[0] ?? -1;
    const step1 = at((e) => e[1] === "o" && e[2].includes("step-1"));
    const resize = at((e) => e[1] === "r" && e[2] === `${resized.cols}x${resized.rows}`);
    expect(step1).toBeGreaterThanOrEqual(0);
    expect(resize).toBeGreaterThan(step1);

    // Seek back to between step-1 and the resize: only step-1, at the starting size.
    const slider = page.getByRole("slider", { name: "Position" });
    await slider.fill(String(Math.round(((step1 + resize) / 2) * 10) / 10));
    await expect.poll(() => terminalText(page)).not.toContain("step-2");
    expect(await terminalText(page)).toContain("step-1");
    expect((await terminalGeometry(page)).cols).toBe(80);
    // Seeking to the very start shows nothing yet.
    await slider.fill("0");
    await expect.poll(() => terminalText(page)).not.toContain("step-1");

    // Play at 4× from the start: it reaches the end by itself and stops there.
    await page.getByLabel("Speed").selectOption("4");
    await page.getByRole("button", { name: "Play" }).click();
    await expect(page.getByRole("button", { name: "Pause" })).toBeVisible();
    await expect.poll(() => terminalText(page), { timeout: 30_000 }).toContain("step-3");
    await expect(page.getByRole("button", { name: "Play" })).toBeVisible();
    const end = Number(await page.locator("[data-position]").getAttribute("data-position"));
    expect(end).toBeGreaterThan(1);
    await expectNoSidewaysScroll(page, "replay");
    await screenshot(page, "replay-end", "desktop");
  } finally {
    await server.stop();
  }
});
