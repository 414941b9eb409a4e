// Pieces several pages show: state badges, a session's title, the machine lookup.
import type { Machine, Session } from "../api";
import { h } from "../dom";

const STATE_CLASS: Record<Session["state"], string> = {
  starting: "warn",
  running: "ok",
  exited: "muted",
  crashed: "bad",
  stale: "warn",
};

export function stateBadge(s: Pick<Session, "state" | "exit_code">): HTMLElement {
  // The server sends `null` for "no exit code" (a signal ended the process).
  const code = s.exit_code ?? null;
  let label: string = s.state;
  if (s.state === "exited" && code !== null) label = `exited (${code})`;
  const cls = s.state === "exited" && code !== null && code !== 0 ? "bad" : STATE_CLASS[s.state];
  return h("span", { class: `badge ${cls}` }, label);
}

export function onlineBadge(m: Machine): HTMLElement {
  return m.online ? h("span", { class: "badge ok" }, "online") : h("span", { class: "badge muted" }, "offline");
}

export function sourceBadge(s: Session): HTMLElement | null {
  return s.source === "discovered"
    ? h("span", { class: "badge discovered", title: "Found running on the machine; its terminal is not relayed" }, "discovered")
    : null;
}

export function sessionTitle(s: Session): string {
  const cmd = [s.command, ...s.args].join(" ");
  return cmd.length > 80 ? `${cmd.slice(0, 79)}…` : cmd;
}

export function machineNames(machines: Machine[]): Map<string, string> {
  return new Map(machines.map((m) => [m.id, m.hostname]));
}

export const STATES: Session["state"][] = ["starting", "running", "exited", "crashed", "stale"];
export const KINDS = ["claude", "codex", "gemini", "aider", "opencode", "cursor-agent", "goose", "amp", "other"];
