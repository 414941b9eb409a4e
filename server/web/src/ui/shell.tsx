// The app shell around signed-in pages. Desktop: a sidebar with the brand, the org switcher, the
// navigation and who is signed in. Phone: a slim top bar (brand, org switcher) and a bottom bar
// with the main pages plus "More", which opens a drawer with everything else.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import type { Me, Org } from "../api";
import { atLeast, orgPath, signOut } from "../state/auth";
import { Icon } from "./icons";
import { OrgSwitcher } from "./org-switcher";

/** The icon's URL as the page links it (with its content hash, so it comes from the cache). */
export function iconUrl(): string {
  return document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href ?? "/assets/icon.svg";
}

interface Item {
  href: string;
  label: string;
  icon: string;
}

function items(org: Org, me: Me): { org: Item[]; personal: Item[] } {
  const o: Item[] = [{ href: orgPath(org, "/sessions"), label: "Sessions", icon: "sessions" }];
  if (atLeast(org.role, "member")) o.push({ href: orgPath(org, "/sessions/new"), label: "New session", icon: "new" });
  o.push(
    { href: orgPath(org, "/machines"), label: "Machines", icon: "machines" },
    { href: orgPath(org, "/templates"), label: "Templates", icon: "templates" },
    { href: orgPath(org, "/members"), label: "Members", icon: "members" },
    { href: orgPath(org, "/usage"), label: "Usage", icon: "usage" },
  );
  if (atLeast(org.role, "admin")) {
    o.push(
      { href: orgPath(org, "/settings"), label: "Org settings", icon: "settings" },
      { href: orgPath(org, "/audit"), label: "Audit log", icon: "audit" },
    );
    if (me.billing) o.push({ href: orgPath(org, "/billing"), label: "Billing", icon: "billing" });
  }
  const personal: Item[] = [
    { href: "/keys", label: "API keys", icon: "keys" },
    { href: "/account", label: "Account", icon: "account" },
  ];
  // The server's own pages, for its administrators.
  if (me.user.is_admin) {
    personal.push({ href: "/admin/users", label: "Accounts", icon: "members" });
    personal.push({ href: "/admin/outbox", label: "Mail outbox", icon: "outbox" });
    personal.push({ href: "/admin/orgs", label: "Orgs and plans", icon: "settings" });
    personal.push({ href: "/admin/license", label: "License", icon: "license" });
    personal.push({ href: "/admin/licenses", label: "Licenses issued", icon: "license" });
  }
  return { org: o, personal };
}

/** Whether the link `href` is the section the page at `path` belongs to. */
export function isCurrent(path: string, href: string): boolean {
  if (path === href) return true;
  if (href.endsWith("/sessions")) return path.startsWith(`${href}/`) && !path.endsWith("/sessions/new");
  if (href.endsWith("/machines")) return path.startsWith(`${href}/`);
  return false;
}

function NavList({ list, path }: { list: Item[]; path: string }) {
  return (
    <ul>
      {list.map((i) => (
        <li key={i.href}>
          <a href={i.href} aria-current={isCurrent(path, i.href) ? "page" : undefined}>
            <Icon name={i.icon} />
            <span>{i.label}</span>
          </a>
        </li>
      ))}
    </ul>
  );
}

function Who({ me }: { me: Me }) {
  const { route } = useLocation();
  return (
    <div class="who">
      <span class="muted who-name" title={me.user.email}>
        {me.user.display_name || me.user.email}
      </span>
      <button type="button" onClick={() => void signOut().then(() => route("/login", true))}>
        Sign out
      </button>
    </div>
  );
}

export function Shell(props: { me: Me; org: Org; children: ComponentChildren }) {
  const { path } = useLocation();
  const [drawer, setDrawer] = useState(false);
  const nav = items(props.org, props.me);
  useEffect(() => setDrawer(false), [path]);
  useEffect(() => {
    if (!drawer) return;
    const esc = (e: KeyboardEvent) => e.key === "Escape" && setDrawer(false);
    document.addEventListener("keydown", esc);
    return () => document.removeEventListener("keydown", esc);
  }, [drawer]);
  const bottom = nav.org.filter((i) => ["Sessions", "New session", "Machines"].includes(i.label));
  const brand = (
    <a class="brand" href={orgPath(props.org, "/sessions")}>
      <img src={iconUrl()} alt="" width={24} height={24} />
      <span>SessionForge</span>
    </a>
  );
  return (
    <div class="app">
      <aside class="sidebar">
        {brand}
        <OrgSwitcher me={props.me} org={props.org} />
        <nav aria-label="Main">
          <NavList list={nav.org} path={path} />
          <NavList list={nav.personal} path={path} />
        </nav>
        <Who me={props.me} />
      </aside>
      <header class="topbar">
        {brand}
        <OrgSwitcher me={props.me} org={props.org} />
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
      <nav class="bottombar" aria-label="Main">
        <ul>
          {bottom.map((i) => (
            <li key={i.href}>
              <a href={i.href} aria-current={isCurrent(path, i.href) ? "page" : undefined}>
                <Icon name={i.icon} />
                <span>{i.label === "New session" ? "New" : i.label}</span>
              </a>
            </li>
          ))}
          <li>
            <button type="button" aria-expanded={drawer} aria-controls="drawer" onClick={() => setDrawer(!drawer)}>
              <Icon name="more" />
              <span>More</span>
            </button>
          </li>
        </ul>
      </nav>
      {drawer ? (
        <div
          class="drawer-backdrop"
          onClick={(e) => {
            // The backdrop itself, or a link in the drawer (even to the page already shown).
            if (e.target === e.currentTarget || (e.target as Element).closest("a")) setDrawer(false);
          }}
        >
          <nav id="drawer" class="drawer" aria-label="All pages">
            <NavList list={nav.org} path={path} />
            <NavList list={nav.personal} path={path} />
            <Who me={props.me} />
          </nav>
        </div>
      ) : null}
    </div>
  );
}
