// Toasts: short results of actions ("Key revoked", "Stop requested"), shown in a corner for a few
// seconds in a live region, so they never linger as stale state on the page itself.
import { signal } from "@preact/signals";

export type ToastKind = "ok" | "info" | "error";

interface Toast {
  id: number;
  text: string;
  kind: ToastKind;
  action?: { label: string; href: string };
}

/** How long a toast stays, unless it is an error (those stay until dismissed or replaced). */
const TOAST_MS = 5000;
/** Most toasts on screen at once; older ones make way. */
const MAX_TOASTS = 4;

const toasts = signal<Toast[]>([]);
let nextId = 0;

export function toast(text: string, kind: ToastKind = "ok", action?: Toast["action"]): void {
  const t: Toast = { id: ++nextId, text, kind, action };
  toasts.value = [...toasts.value.slice(-(MAX_TOASTS - 1)), t];
  if (kind !== "error") window.setTimeout(() => dismiss(t.id), TOAST_MS);
}

function dismiss(id: number): void {
  toasts.value = toasts.value.filter((t) => t.id !== id);
}

export function Toasts() {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.value.map((t) => (
        <div key={t.id} class={`toast ${t.kind}`} data-toast={t.kind}>
          <span>{t.text}</span>
          {t.action ? <a href={t.action.href}>{t.action.label}</a> : null}
          <button type="button" class="icon" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
