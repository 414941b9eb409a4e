// The app shell around signed-in pages: brand, org switcher, navigation and sign-out. On narrow
// screens the navigation folds behind a menu button.
import type { Me, Org } from "./api";
import { atLeast, orgPath } from "./context";
import { h } from "./dom";
import { navigate } from "./router";

export function shell(me: Me, org: Org | undefined, path: string, signOut: () => void): HTMLElement {
  const links: [string, string][] = [];
  if (org) {
    links.push([orgPath(org, "/sessions"), "Sessions"], [orgPath(org, "/machines"), "Machines"]);
    if (atLeast(org.role, "member")) links.push([orgPath(org, "/sessions/new"), "New session"]);
    if (atLeast(org.role, "admin")) links.push([orgPath(org, "/machines/add"), "Add machine"]);
    links.push([orgPath(org, "/members"), "Members"]);
  }
  links.push(["/keys", "API keys"], ["/account", "Account"]);

  const nav = h(
    "nav",
    { class: "main", id: "main-nav", "aria-label": "Main" },
    h(
      "ul",
      null,
      links.map(([href, label]) =>
        h("li", null, h("a", { href, "aria-current": isCurrent(path, href) ? "page" : false }, label)),
      ),
    ),
    h(
      "div",
      { class: "who" },
      h("span", { class: "muted", title: me.user.email }, me.user.display_name || me.user.email),
      h("button", { type: "button", onclick: signOut }, "Sign out"),
    ),
  );
  const toggle = h(
    "button",
    { type: "button", class: "menu-toggle", "aria-controls": "main-nav", "aria-expanded": "false" },
    "Menu",
  );
  toggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });

  return h(
    "header",
    { class: "top" },
    h("a", { class: "brand", href: org ? orgPath(org, "/sessions") : "/" }, h("img", { src: "/assets/icon.svg", alt: "" }), "SessionForge"),
    orgSwitcher(me, org),
    toggle,
    nav,
  );
}

function isCurrent(path: string, href: string): boolean {
  if (path === href) return true;
  // A session's page belongs to "Sessions", but "New session" has its own entry.
  return href.endsWith("/sessions") && path.startsWith(`${href}/`) && !path.endsWith("/new");
}

function orgSwitcher(me: Me, org: Org | undefined): Node | null {
  if (me.orgs.length < 2 || !org) return null;
  const select = h(
    "select",
    { id: "org-switch", "aria-label": "Organisation" },
    me.orgs.map((o) => h("option", { value: o.id, selected: o.id === org.id }, o.name)),
  );
  select.addEventListener("change", () => navigate(orgPath(select.value, "/sessions")));
  return select;
}
