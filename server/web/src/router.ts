// Client-side routing over the History API. The server answers every dashboard path with the
// same page, so links are plain `<a href>`s: this intercepts same-origin clicks and renders the
// matching route without a reload.

export interface Match {
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Route<T> {
  pattern: string;
  value: T;
}

/** Matches `/orgs/:org/sessions/:id`-style patterns; returns the route and its parameters. */
export function match<T>(routes: Route<T>[], pathname: string, search: string): [Route<T>, Match] | null {
  const parts = pathname.replace(/\/+$/, "").split("/").filter(Boolean);
  for (const route of routes) {
    const want = route.pattern.split("/").filter(Boolean);
    if (want.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = want.every((seg, i) => {
      if (seg.startsWith(":")) {
        params[seg.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return seg === parts[i];
    });
    if (ok) return [route, { params, query: new URLSearchParams(search) }];
  }
  return null;
}

let listener: () => void = () => {};

/** Goes to `url` (pushing history unless `replace`) and renders it. */
export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listener();
}

/** Renders on back/forward and on clicks on same-origin links. */
export function start(render: () => void): void {
  listener = render;
  window.addEventListener("popstate", render);
  document.addEventListener("click", (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = (ev.target as Element | null)?.closest?.("a");
    if (!a || a.target || a.hasAttribute("download") || a.origin !== location.origin) return;
    if (!isDashboardPath(a.pathname)) return;
    ev.preventDefault();
    navigate(a.pathname + a.search);
  });
  render();
}

/** Paths the server handles itself (downloads, docs, the API) load normally. */
function isDashboardPath(p: string): boolean {
  return !["/api/", "/docs", "/metrics", "/assets/", "/install."].some((prefix) => p.startsWith(prefix));
}
