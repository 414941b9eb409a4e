// The key bar's configurable keys, kept per device (a phone and a tablet may want different
// ones). Each entry is one character, or a name: Enter, Space, Backspace, or ^X for Ctrl-X.

const KEY = "sessionforge.keybar";
export const DEFAULT_KEYS = ["/", "y", "n", "Enter"];
/** Most extra keys on the bar. */
export const MAX_KEYS = 8;

export interface ExtraKey {
  label: string;
  bytes: string;
}

const NAMED: Record<string, string> = { enter: "\r", space: " ", backspace: "\x7f" };

/** One entry as the key it stands for, or null when it is not one. */
export function parseKey(entry: string): ExtraKey | null {
  const e = entry.trim();
  if (!e) return null;
  const named = NAMED[e.toLowerCase()];
  if (named !== undefined) return { label: e[0].toUpperCase() + e.slice(1).toLowerCase(), bytes: named };
  if (/^\^[A-Za-z@[\\\]^_]$/.test(e)) return { label: e.toUpperCase(), bytes: String.fromCharCode(e.toUpperCase().charCodeAt(1) & 0x1f) };
  if ([...e].length === 1) return { label: e, bytes: e };
  return null;
}

export function loadKeys(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? "null") as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.slice(0, MAX_KEYS);
  } catch {
    /* fall back to the defaults */
  }
  return DEFAULT_KEYS;
}

export function saveKeys(keys: string[]): void {
  localStorage.setItem(KEY, JSON.stringify(keys.slice(0, MAX_KEYS)));
}
