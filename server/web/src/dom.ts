// Tiny DOM helpers: `h()` builds elements, plus the formatting every page uses. No framework.

export type Child = Node | string | number | null | undefined | false | Child[];
export type Props = Record<string, unknown>;

/** Creates an element. `on*` props become listeners, `class` the class name, `true` an empty attribute. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
    } else if (key === "class") {
      el.className = String(value);
    } else if (key === "value" && "value" in el) {
      (el as HTMLInputElement).value = String(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces everything inside `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A `<dl class="facts">` from label/value pairs; pairs with an empty value are left out. */
export function facts(pairs: [string, Child][]): HTMLDListElement {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, v]) => v !== "" && v !== null && v !== undefined).map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v))),
  );
}

export function bytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** "just now", "5 min ago", "3 h ago", or a date for anything older than a day. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleString();
}

export function when(iso: string | undefined): HTMLTimeElement | string {
  if (!iso) return "";
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, ago(iso));
}

/** An error message for people, in a live region so screen readers announce it. */
export function errorBox(message: string): HTMLDivElement {
  return h("div", { class: "alert error", role: "alert" }, message);
}

/** Copies text to the clipboard and says so on the button. */
export function copyButton(text: string, label = "Copy"): HTMLButtonElement {
  const b = h("button", { type: "button" }, label);
  b.addEventListener("click", () => {
    const done = (msg: string) => {
      b.textContent = msg;
      setTimeout(() => (b.textContent = label), 1500);
    };
    navigator.clipboard?.writeText(text).then(
      () => done("Copied"),
      () => done("Select and copy"),
    ) ?? done("Select and copy");
  });
  return b;
}
