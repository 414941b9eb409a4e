// In-browser notifications while a dashboard tab is open: a session of the org on screen starts
// waiting for input, finishes or crashes. Each notice, when the user's preferences want it,
// becomes a toast, a system notification (when the browser allows them and this tab is not in
// front), and an entry in the attention list whose size shows in the tab title as "(2) …".
// Opening a session's page clears its entry.
import { computed, effect, signal } from "@preact/signals";
import { call, type Preferences, type Session } from "../api";
import { orgPath } from "./auth";
import { onSessionNotice, type SessionNotice } from "./events";
import { toast } from "../ui/toast";
import { sessionTitle } from "../lib/format";

export type Reason = "waiting_for_input" | "finished" | "crashed";

interface Attention {
  reason: Reason;
  text: string;
}

export const prefs = signal<Preferences | null>(null);
/** Sessions that want the user's attention, by id. */
export const attention = signal<ReadonlyMap<string, Attention>>(new Map());
/** The page's own title; the count is put in front of it. */
export const pageTitle = signal("SessionForge");
/** The org whose notices are being followed. */
export const noticeOrg = signal<string | null>(null);

const count = computed(() => attention.value.size);
effect(() => {
  const n = count.value;
  document.title = `${n > 0 ? `(${n}) ` : ""}${pageTitle.value} · SessionForge`;
});

export async function loadPrefs(): Promise<void> {
  try {
    prefs.value = await call("get", "/api/v1/auth/preferences");
  } catch {
    /* defaults apply until the next sign-in */
  }
}

function wants(reason: Reason): boolean {
  const browser = prefs.value?.notifications?.browser;
  // Until the preferences arrive, everything is on (the server's defaults).
  return browser == null || browser[reason] !== false;
}

function setAttention(id: string, a: Attention | null): void {
  const next = new Map(attention.value);
  if (a) next.set(id, a);
  else next.delete(id);
  attention.value = next;
}

export function clearAttention(id: string): void {
  if (attention.value.has(id)) setAttention(id, null);
}

export function clearAllAttention(): void {
  attention.value = new Map();
}

function reasonOf(n: SessionNotice, s: Session): Reason | null {
  const state = n.state ?? s.state;
  if (state === "crashed") return "crashed";
  if (state === "exited") return "finished";
  if (state === "running" && (n.waiting_for_input ?? s.waiting_for_input)) return "waiting_for_input";
  return null;
}

function sentence(reason: Reason, title: string, s: Session): string {
  if (reason === "waiting_for_input") return `${title} is waiting for input`;
  if (reason === "crashed") return `${title} crashed${s.reason ? `: ${s.reason}` : ""}`;
  const code = s.exit_code ?? null;
  return `${title} finished${code !== null ? ` (exit code ${code})` : ""}`;
}

/** System notifications only when the user is not looking at this tab. */
function systemNotify(text: string, href: string, tag: string): void {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible" && document.hasFocus()) return;
  const n = new Notification("SessionForge", { body: text, tag, icon: "/assets/icon.svg" });
  n.onclick = () => {
    window.focus();
    location.assign(href);
    n.close();
  };
}

/** Ignores notices for one session that repeat the last one (the same reason twice). */
const lastReason = new Map<string, Reason | null>();

async function handle(n: SessionNotice): Promise<void> {
  const org = noticeOrg.value;
  if (!org) return;
  let s: Session;
  try {
    s = await call("get", "/api/v1/orgs/{org_id}/sessions/{id}", { path: { org_id: org, id: n.session_id } });
  } catch {
    return;
  }
  const reason = reasonOf(n, s);
  if (lastReason.get(s.id) === reason) return;
  lastReason.set(s.id, reason);
  if (reason === null) {
    // It stopped waiting (someone typed): nothing to look at any more.
    if (attention.value.get(s.id)?.reason === "waiting_for_input") setAttention(s.id, null);
    return;
  }
  if (!wants(reason)) return;
  const href = orgPath(org, `/sessions/${s.id}`);
  const text = sentence(reason, sessionTitle(s, 40), s);
  setAttention(s.id, { reason, text });
  toast(text, reason === "crashed" ? "error" : "info", { label: "Open", href });
  systemNotify(text, href, `${s.id}:${reason}`);
}

onSessionNotice((n) => void handle(n));
