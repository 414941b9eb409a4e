// Boots the dashboard into #app. Who is signed in, and the data of the page being opened, are
// asked for at once, while the app renders its first frame, not after it.
import { render } from "preact";
import { App } from "./app";
import { prefetch } from "./api";
import { loadMe } from "./state/auth";

if (!["/login", "/setup"].includes(location.pathname)) {
  void loadMe().catch(() => {});
  const org = /^\/orgs\/([0-9a-f-]{36})\/sessions\/?$/.exec(location.pathname)?.[1];
  if (org && !location.search) {
    prefetch("/api/v1/orgs/{org_id}/sessions", { path: { org_id: org } });
    prefetch("/api/v1/orgs/{org_id}/machines", { path: { org_id: org } });
  }
}

const root = document.getElementById("app");
if (root) {
  root.replaceChildren();
  render(<App />, root);
}
