// Formatting every page shares: byte counts, relative times, durations, session titles.
import { UserError, type Session } from "../api";

export function bytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** "just now", "5 min ago", "3 h ago", "in 20 min", or a date for anything more than a day away. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (iso == null || iso === "") return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < -45) {
    // In the future (an expiry): "in 59 min", "in 3 h".
    if (-s < 3600) return `in ${Math.round(-s / 60)} min`;
    if (-s < 86400) return `in ${Math.round(-s / 3600)} h`;
    return new Date(t).toLocaleString();
  }
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleString();
}

/** `m:ss` (or `h:mm:ss`) for a number of seconds; `m:ss.t` with `tenths`, for recordings so short
 * that whole seconds would read "0:00 / 0:00". */
export function clock(seconds: number, tenths = false): string {
  const total = Math.max(0, seconds);
  const s = Math.floor(total);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  let sec = String(s % 60).padStart(2, "0");
  if (tenths) sec += `.${Math.floor((total - s) * 10)}`;
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** The command line of a session, shortened for lists. */
export function sessionTitle(s: Pick<Session, "command" | "args">, max = 80): string {
  const cmd = [s.command, ...s.args].join(" ");
  return cmd.length > max ? `${cmd.slice(0, max - 1)}…` : cmd;
}

export function isLive(s: Pick<Session, "state">): boolean {
  return s.state === "running" || s.state === "starting";
}

/** `a "b c"` → `a`, `"b c"`: arguments joined back the way a shell would read them. */
export function joinArgs(args: string[]): string {
  return args.map((a) => (a === "" || /[\s"'\\]/.test(a) ? `'${a.replace(/'/g, `'"'"'`)}'` : a)).join(" ");
}

/** Splits `a "b c" 'd'` into words, the way a shell would for simple quoting. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
    }
  }
  if (quote) throw new UserError(`An argument has an unclosed ${quote} quote.`, "args");
  if (has || cur) out.push(cur);
  return out;
}
