// What the phone key bar's keys send to the PTY, as a real keyboard would: Esc, Tab, arrows (in
// the terminal's current cursor-key mode), Enter, and any key with a latched Ctrl.

export type KeyName = "Esc" | "Tab" | "Up" | "Down" | "Left" | "Right" | "Enter";

const ARROW: Record<string, string> = { Up: "A", Down: "B", Right: "C", Left: "D" };

/** The bytes for a named key. `appCursor` is the terminal's application cursor-key mode (DECCKM). */
export function keyBytes(name: KeyName, appCursor: boolean, ctrl = false): string {
  switch (name) {
    case "Esc":
      return "\x1b";
    case "Tab":
      return "\t";
    case "Enter":
      return "\r";
    default: {
      const final = ARROW[name];
      if (ctrl) return `\x1b[1;5${final}`;
      return appCursor ? `\x1bO${final}` : `\x1b[${final}`;
    }
  }
}

/** `data` typed with Ctrl held: letters and `@[\]^_?` become control characters. */
export function withCtrl(data: string): string {
  if (data.length !== 1) return data;
  const c = data.toUpperCase().charCodeAt(0);
  if (c >= 0x40 && c <= 0x5f) return String.fromCharCode(c & 0x1f);
  if (data === " ") return "\x00";
  if (data === "?") return "\x7f";
  return data;
}
