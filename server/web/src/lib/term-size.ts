// The terminal size a new session should start with: what fits this window at its base font,
// but never below 80×24 (AI CLIs assume at least that; a narrower screen scales it down).
import { baseFont } from "../terminal/load";

/** The smallest size a session is started with. */
const MIN_COLS = 80;
const MIN_ROWS = 24;
/** The largest, whatever the screen. */
const MAX_COLS = 250;
const MAX_ROWS = 80;
/** Height above and below the terminal on the session page (heading, actions, details). */
const CHROME_HEIGHT = 220;

function cellWidth(font: number): number {
  const ctx = document.createElement("canvas").getContext("2d");
  if (!ctx) return font * 0.6;
  ctx.font = `${font}px ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace`;
  return ctx.measureText("W").width || font * 0.6;
}

export function windowTermSize(): { cols: number; rows: number } {
  const font = baseFont();
  const main = document.getElementById("main");
  const width = (main?.clientWidth ?? window.innerWidth) - 48;
  const cols = Math.floor(width / cellWidth(font));
  const rows = Math.floor((window.innerHeight - CHROME_HEIGHT) / Math.ceil(font * 1.2));
  return { cols: Math.min(MAX_COLS, Math.max(MIN_COLS, cols)), rows: Math.min(MAX_ROWS, Math.max(MIN_ROWS, rows)) };
}
