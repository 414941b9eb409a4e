// Form plumbing shared by every page: labelled fields, a submit button that disables itself
// while the request runs, and errors shown in words next to the form.
import { describe } from "./api";
import { errorBox, h, type Child } from "./dom";

let nextId = 0;

/** A labelled input. `hint` is linked with aria-describedby. */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLDivElement {
  const id = input.id || `f${++nextId}`;
  input.id = id;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return h("div", null, h("label", { for: id }, label), input, hintEl);
}

export interface FormOptions {
  submitLabel: string;
  busyLabel?: string;
  /** Runs on submit; a thrown error is shown above the button. */
  onSubmit: (form: HTMLFormElement) => Promise<void>;
  extraActions?: Child[];
}

export function form(children: Child[], opts: FormOptions): HTMLFormElement {
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, opts.submitLabel);
  const el = h("form", { novalidate: false }, children, status, h("div", { class: "actions" }, submit, opts.extraActions ?? []));
  el.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    submit.textContent = opts.busyLabel ?? `${opts.submitLabel}…`;
    status.replaceChildren();
    opts
      .onSubmit(el)
      .catch((e: unknown) => {
        status.replaceChildren(errorBox(describe(e)));
        (el.querySelector("input:not([type=hidden])") as HTMLInputElement | null)?.focus();
      })
      .finally(() => {
        submit.disabled = false;
        submit.textContent = opts.submitLabel;
      });
  });
  return el;
}

export function input(props: Record<string, unknown>): HTMLInputElement {
  return h("input", props);
}
