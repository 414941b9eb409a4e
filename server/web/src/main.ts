// Boots the dashboard: finds out who is signed in, then renders the page for the current URL
// inside the app shell (or the sign-in and setup pages outside it).
import { call, describe, whenSignedOut, type Me, type Org } from "./api";
import * as auth from "./auth";
import type { Ctx, Page } from "./context";
import { orgPath } from "./context";
import { errorBox, h, replace } from "./dom";
import { shell } from "./layout";
import { match, navigate, start, type Route } from "./router";
import { accountPage } from "./pages/account";
import { addMachinePage } from "./pages/add-machine";
import { keysPage } from "./pages/keys";
import { loginPage } from "./pages/login";
import { machinesPage } from "./pages/machines";
import { membersPage } from "./pages/members";
import { newSessionPage } from "./pages/new-session";
import { sessionPage } from "./pages/session";
import { sessionsPage } from "./pages/sessions";
import { setupPage } from "./pages/setup";

interface RouteDef {
  title: string;
  page: Page;
  /** Pages outside the shell that need no sign-in. */
  public?: boolean;
}

const routes: Route<RouteDef>[] = [
  { pattern: "/setup", value: { title: "Set up", page: setupPage, public: true } },
  { pattern: "/login", value: { title: "Sign in", page: loginPage, public: true } },
  { pattern: "/orgs/:org/sessions", value: { title: "Sessions", page: sessionsPage } },
  { pattern: "/orgs/:org/sessions/new", value: { title: "New session", page: newSessionPage } },
  { pattern: "/orgs/:org/sessions/:id", value: { title: "Session", page: sessionPage } },
  { pattern: "/orgs/:org/machines", value: { title: "Machines", page: machinesPage } },
  { pattern: "/orgs/:org/machines/add", value: { title: "Add a machine", page: addMachinePage } },
  { pattern: "/orgs/:org/members", value: { title: "Members", page: membersPage } },
  { pattern: "/keys", value: { title: "API keys", page: keysPage } },
  { pattern: "/account", value: { title: "Account", page: accountPage } },
];

const ORG_KEY = "sessionforge.org";

let disposers: (() => void)[] = [];
let generation = 0;

function currentOrg(m: Me, wanted?: string): Org | undefined {
  const id = wanted ?? localStorage.getItem(ORG_KEY) ?? undefined;
  return m.orgs.find((o) => o.id === id) ?? (wanted ? undefined : m.orgs[0]);
}

function mainEl(): HTMLElement {
  let main = document.getElementById("main");
  if (!main) {
    main = h("main", { id: "main", tabindex: "-1" });
    document.getElementById("app")?.append(main);
  }
  return main;
}

async function render(): Promise<void> {
  const gen = ++generation;
  for (const d of disposers.splice(0)) d();
  const app = document.getElementById("app");
  if (!app) return;
  const found = match(routes, location.pathname, location.search);
  const alive = () => gen === generation;
  try {
    if (found?.[0].value.public) {
      const [route, m] = found;
      replace(app, h("main", { id: "main", tabindex: "-1" }, h("p", { class: "muted" }, "Loading…")));
      const ctx = {
        params: m.params,
        query: m.query,
        onDispose: (f: () => void) => disposers.push(f),
        alive,
      } as unknown as Ctx;
      const node = await route.value.page(ctx);
      if (alive()) show(route.value.title, node);
      return;
    }
    const me = auth.current() ?? (await auth.load());
    if (!alive()) return;
    if (!me) {
      const next = location.pathname === "/" ? "" : `?next=${encodeURIComponent(location.pathname + location.search)}`;
      navigate(`/login${next}`, true);
      return;
    }
    if (!found) {
      const org = currentOrg(me);
      if (location.pathname === "/" && org) navigate(orgPath(org, "/sessions"), true);
      else show("Not found", notFound(me, org), me, org);
      return;
    }
    const [route, m] = found;
    const org = currentOrg(me, m.params.org);
    if (!org) {
      show("Not found", notFound(me, currentOrg(me)), me, currentOrg(me));
      return;
    }
    if (m.params.org) localStorage.setItem(ORG_KEY, org.id);
    show(route.value.title, h("p", { class: "muted" }, "Loading…"), me, org, false);
    const ctx: Ctx = {
      me,
      org,
      params: m.params,
      query: m.query,
      onDispose: (f) => disposers.push(f),
      alive,
      refreshMe: async () => {
        await auth.load();
      },
    };
    const node = await route.value.page(ctx);
    if (alive()) show(route.value.title, node, me, org);
  } catch (e) {
    if (alive()) show("Error", h("div", null, h("h1", null, "Something went wrong"), errorBox(describe(e))), auth.current());
  }
}

/** Puts `node` on screen, inside the shell when signed in, and moves focus to it. */
function show(title: string, node: Node, m?: Me | null, org?: Org, focus = true): void {
  document.title = `${title} · SessionForge`;
  const app = document.getElementById("app");
  if (!app) return;
  if (m) {
    replace(app, shell(m, org, location.pathname, signOut), h("main", { id: "main", tabindex: "-1" }, node));
  } else {
    replace(app, h("main", { id: "main", tabindex: "-1" }, node));
  }
  if (focus) (app.querySelector("h1") as HTMLElement | null)?.setAttribute("tabindex", "-1");
  if (focus) (app.querySelector("h1") as HTMLElement | null ?? mainEl()).focus({ preventScroll: true });
}

function notFound(m: Me, org?: Org): Node {
  return h(
    "div",
    null,
    h("h1", null, "Page not found"),
    h("p", null, "There is nothing here, or it belongs to an org you are not a member of."),
    org ? h("a", { href: orgPath(org, "/sessions") }, "Go to your sessions") : null,
    m.orgs.length === 0 ? h("p", null, "You are not a member of any org.") : null,
  );
}

async function signOut(): Promise<void> {
  try {
    await call("post", "/api/v1/auth/logout");
  } catch {
    /* signed out either way */
  }
  auth.forget();
  navigate("/login", true);
}

whenSignedOut(() => {
  if (auth.current()) {
    auth.forget();
    navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
  }
});

start(() => void render());
