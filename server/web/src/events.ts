// Live updates: one server-sent event stream per org (`/api/v1/orgs/{org}/events`) telling which
// list changed. Pages subscribe to the kinds they show and refetch, at most a few times a second.

export type Kind = "machines" | "sessions";

/** Shortest time between two refetches of one list. */
const DEBOUNCE_MS = 300;

interface Listener {
  kinds: Kind[];
  fire: () => void;
}

let source: EventSource | null = null;
let sourceOrg = "";
const listeners = new Set<Listener>();

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

function connect(org: string): void {
  if (source && sourceOrg === org) return;
  source?.close();
  sourceOrg = org;
  source = new EventSource(`/api/v1/orgs/${encodeURIComponent(org)}/events`);
  let lost = false;
  source.onmessage = (ev: MessageEvent<string>) => {
    let kind = "resync";
    try {
      kind = (JSON.parse(ev.data) as { kind?: string }).kind ?? "resync";
    } catch {
      /* a notice we cannot read: refetch everything */
    }
    for (const l of listeners) if (kind === "resync" || l.kinds.includes(kind as Kind)) l.fire();
  };
  // EventSource reconnects by itself; whatever changed meanwhile was missed, so refetch on return.
  source.onerror = () => {
    lost = true;
  };
  source.onopen = () => {
    if (lost) for (const l of listeners) l.fire();
    lost = false;
  };
}

/** Calls `refetch` when any of `kinds` changes in `org`. Returns the unsubscribe function. */
export function onChange(org: string, kinds: Kind[], refetch: () => void): () => void {
  connect(org);
  const l: Listener = { kinds, fire: debounce(refetch) };
  listeners.add(l);
  return () => {
    listeners.delete(l);
    if (listeners.size === 0) {
      source?.close();
      source = null;
      sourceOrg = "";
    }
  };
}
