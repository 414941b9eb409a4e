// Loads the terminal bundle (term.js, with xterm.js) the first time a page needs a terminal.
// Its URL, with its content hash, is in the page's `<meta name="sf-term">`, filled in by the
// server like the app's own script.
type TermModule = typeof import("../term/index");

let loading: Promise<TermModule> | null = null;

export function loadTerm(): Promise<TermModule> {
  const url = document.querySelector<HTMLMetaElement>('meta[name="sf-term"]')?.content ?? "/assets/term.js";
  loading ??= import(/* the bundle next to app.js */ url) as Promise<TermModule>;
  loading.catch(() => {
    loading = null; // let a later page try again
  });
  return loading;
}

/** The terminal's colours, from the page's theme (light or dark). */
export function terminalTheme(): { background: string; foreground: string; cursor: string } {
  const css = getComputedStyle(document.documentElement);
  const bg = css.getPropertyValue("--term-bg").trim() || "#000000";
  const fg = css.getPropertyValue("--term-fg").trim() || "#ffffff";
  return { background: bg, foreground: fg, cursor: fg };
}

/** Font size for terminals on this screen when there is room. */
export function baseFont(): number {
  return window.matchMedia("(max-width: 720px)").matches ? 12 : 14;
}

/** Whether this is a phone or tablet: touch first, so it gets the key bar. */
export function touchFirst(): boolean {
  return window.matchMedia("(pointer: coarse)").matches;
}
