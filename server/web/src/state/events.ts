// Live updates: one server-sent event stream for the org on screen (`/api/v1/orgs/{org}/events`).
// List notices (`machines`, `sessions`) tell pages which list to refetch, at most a few times a
// second; `session` notices (a session waits for input, stops waiting, or ends) feed the
// notifications. `resync` means notices were missed: refetch everything.
import { useEffect, useRef } from "preact/hooks";
import type { Session } from "../api";

export type Kind = "machines" | "sessions";

/** A `session` notice: what changed about one session. */
export interface SessionNotice {
  session_id: string;
  state?: Session["state"];
  exit_code?: number | null;
  waiting_for_input?: boolean;
}

/** Shortest time between two refetches of one list. */
const DEBOUNCE_MS = 300;

interface Listener {
  kinds: Kind[];
  fire: () => void;
}

let source: EventSource | null = null;
let sourceOrg = "";
const listeners = new Set<Listener>();
const noticeListeners = new Set<(n: SessionNotice) => void>();

function debounce(f: () => void): () => void {
  let timer: number | undefined;
  return () => {
    if (timer !== undefined) return;
    timer = window.setTimeout(() => {
      timer = undefined;
      f();
    }, DEBOUNCE_MS);
  };
}

function message(ev: MessageEvent<string>): void {
  let data: { kind?: string } & Partial<SessionNotice> = {};
  try {
    data = JSON.parse(ev.data) as typeof data;
  } catch {
    /* a notice we cannot read: refetch everything */
  }
  const kind = data.kind ?? "resync";
  if (kind === "session") {
    if (data.session_id) for (const f of noticeListeners) f(data as SessionNotice);
    // A session's state changed: lists showing sessions refetch too.
    for (const l of listeners) if (l.kinds.includes("sessions")) l.fire();
    return;
  }
  for (const l of listeners) if (kind === "resync" || l.kinds.includes(kind as Kind)) l.fire();
}

/** Follows `org`'s stream (closing any other). Called by the shell for the org on screen. */
export function followOrg(org: string | null): void {
  if (org === sourceOrg && source) return;
  source?.close();
  source = null;
  sourceOrg = org ?? "";
  if (!org) return;
  const es = new EventSource(`/api/v1/orgs/${encodeURIComponent(org)}/events`);
  source = es;
  let lost = false;
  es.onmessage = message;
  // EventSource reconnects by itself; whatever changed meanwhile was missed, so refetch on return.
  es.onerror = () => {
    lost = true;
  };
  es.onopen = () => {
    if (lost) for (const l of listeners) l.fire();
    lost = false;
  };
}

/** Calls `refetch` when any of `kinds` changes. Returns the unsubscribe function. */
export function onChange(kinds: Kind[], refetch: () => void): () => void {
  const l: Listener = { kinds, fire: debounce(refetch) };
  listeners.add(l);
  return () => listeners.delete(l);
}

export function onSessionNotice(f: (n: SessionNotice) => void): () => void {
  noticeListeners.add(f);
  return () => noticeListeners.delete(f);
}

/** Hook: runs the latest `refetch` when any of `kinds` changes, while the component is mounted. */
export function useLive(kinds: Kind[], refetch: () => void): void {
  const ref = useRef(refetch);
  ref.current = refetch;
  const key = kinds.join(",");
  useEffect(() => onChange(kinds, () => ref.current()), [key]);
}
