// Confirm dialogs instead of the browser's `confirm()`: a modal `<dialog>` with a title, an
// explanation, and a clear action button (red when it destroys something). Esc or Cancel says no.
import { signal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

export interface ConfirmOptions {
  title: string;
  body: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
}

interface Pending extends ConfirmOptions {
  resolve: (ok: boolean) => void;
}

const pending = signal<Pending | null>(null);

/** Asks the user; resolves `true` only when they press the action button. */
export function confirmDialog(opts: ConfirmOptions): Promise<boolean> {
  pending.value?.resolve(false);
  return new Promise((resolve) => {
    pending.value = { ...opts, resolve };
  });
}

function close(ok: boolean): void {
  const p = pending.value;
  pending.value = null;
  p?.resolve(ok);
}

export function ConfirmHost() {
  const ref = useRef<HTMLDialogElement>(null);
  const p = pending.value;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (p && !d.open) d.showModal();
    if (!p && d.open) d.close();
  }, [p]);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={() => close(false)}>
      {p ? (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            close(true);
          }}
        >
          <h2 id="confirm-title">{p.title}</h2>
          <div class="confirm-body">{p.body}</div>
          <div class="actions end">
            <button type="button" onClick={() => close(false)}>
              Cancel
            </button>
            <button type="submit" class={p.danger ? "danger solid" : "primary"} autofocus>
              {p.confirmLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}
