// The app: client-side routes (preact-iso) inside the shell for signed-in pages; sign-in, setup,
// sign-up and the pages that mailed links open outside it, without needing anyone signed in. An
// account whose address is not confirmed yet sees only the page that asks to confirm it. Finds out who is signed in first, follows the org on screen for live updates
// and notifications, and moves focus to the new page's heading on navigation.
import type { ComponentChildren, ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { LocationProvider, Route, Router, useLocation } from "preact-iso";
import { loadMe, me, pickOrg, rememberOrg, orgPath } from "./state/auth";
import { PageContext } from "./state/context";
import { followOrg } from "./state/events";
import { loadPrefs, noticeOrg } from "./state/notices";
import { Shell, iconUrl } from "./ui/shell";
import { Toasts } from "./ui/toast";
import { ConfirmHost } from "./ui/dialog";
import { ErrorBox, Loading } from "./ui/bits";
import { NotFound } from "./pages/not-found";
import { LoginPage } from "./pages/login";
import { SetupPage } from "./pages/setup";
import { SignupPage } from "./pages/signup";
import { UnsubscribePage } from "./pages/unsubscribe";
import { VerifyEmailPage } from "./pages/verify-email";
import { ForgotPasswordPage, ResetPasswordPage } from "./pages/password-reset";
import { AcceptInvitationPage } from "./pages/accept-invitation";
import { ConfirmAddress } from "./pages/confirm-address";
import { AuditPage } from "./pages/audit";
import { UsagePage } from "./pages/usage";
import { BillingPage } from "./pages/billing";
import { AdminOrgsPage } from "./pages/admin-orgs";
import { PurchasePage } from "./pages/purchase";
import { LicensePage } from "./pages/license";
import { LicensesPage } from "./pages/licenses";
import { OutboxPage } from "./pages/outbox";
import { UsersPage } from "./pages/users";
import { SessionsPage } from "./pages/sessions";
import { NewSessionPage } from "./pages/new-session";
import { SessionPage } from "./pages/session";
import { ReplayPage } from "./pages/replay";
import { MachinesPage } from "./pages/machines";
import { MachinePage } from "./pages/machine";
import { AddMachinePage } from "./pages/add-machine";
import { TokensPage } from "./pages/tokens";
import { TemplatesPage } from "./pages/templates";
import { MembersPage } from "./pages/members";
import { OrgSettingsPage } from "./pages/org-settings";
import { NewOrgPage } from "./pages/new-org";
import { KeysPage } from "./pages/keys";
import { AccountPage } from "./pages/account";

/** Paths the server handles itself (API, docs, downloads) load normally, never in the app. */
const DASHBOARD_LINKS = /^\/(?!api\/|docs|metrics|assets\/|install\.|\.well-known\/)/;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each page takes its own route parameters
/** Pages anyone may open, signed in or not (the links in mail lead to most of them). */
const PUBLIC: Record<string, ComponentType> = {
  "/login": LoginPage,
  "/setup": SetupPage,
  "/signup": SignupPage,
  "/verify-email": VerifyEmailPage,
  "/forgot-password": ForgotPasswordPage,
  "/reset-password": ResetPasswordPage,
  "/invitations/accept": AcceptInvitationPage,
  "/unsubscribe": UnsubscribePage,
  "/purchase": PurchasePage,
  "/purchase/complete": PurchasePage,
};

const ROUTES: [string, ComponentType<any>][] = [
  ["/orgs/new", NewOrgPage],
  ["/orgs/:org/sessions", SessionsPage],
  ["/orgs/:org/sessions/new", NewSessionPage],
  ["/orgs/:org/sessions/:id", SessionPage],
  ["/orgs/:org/sessions/:id/replay", ReplayPage],
  ["/orgs/:org/machines", MachinesPage],
  ["/orgs/:org/machines/add", AddMachinePage],
  ["/orgs/:org/machines/tokens", TokensPage],
  ["/orgs/:org/machines/:id", MachinePage],
  ["/orgs/:org/templates", TemplatesPage],
  ["/orgs/:org/members", MembersPage],
  ["/orgs/:org/settings", OrgSettingsPage],
  ["/orgs/:org/audit", AuditPage],
  ["/orgs/:org/usage", UsagePage],
  ["/orgs/:org/billing", BillingPage],
  ["/admin/outbox", OutboxPage],
  ["/admin/users", UsersPage],
  ["/admin/orgs", AdminOrgsPage],
  ["/admin/license", LicensePage],
  ["/admin/licenses", LicensesPage],
  ["/keys", KeysPage],
  ["/account", AccountPage],
];

function SignedIn() {
  const { path, url, route } = useLocation();
  const m = me.value;
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (m === undefined) loadMe().catch(setError);
  }, [m]);
  useEffect(() => {
    if (m === null) route(`/login${path === "/" ? "" : `?next=${encodeURIComponent(url)}`}`, true);
    if (m?.user.email_verified) void loadPrefs();
  }, [m === null, m?.user.id, m?.user.email_verified]);
  const wanted = /^\/orgs\/([^/]+)/.exec(path)?.[1];
  const org = m ? pickOrg(m, wanted === "new" ? undefined : wanted && decodeURIComponent(wanted)) : undefined;
  const fallback = m ? pickOrg(m) : undefined;
  const verified = m?.user.email_verified ?? false;
  useEffect(() => {
    if (org) rememberOrg(org);
    // Until the address is confirmed the server refuses the org's event stream too.
    const id = verified ? ((org ?? fallback)?.id ?? null) : null;
    followOrg(id);
    noticeOrg.value = id;
  }, [org?.id, fallback?.id, verified]);
  useEffect(() => {
    if (m && path === "/" && fallback) route(orgPath(fallback, "/sessions"), true);
  }, [m, path]);
  // A new page: focus its heading (for screen readers and keyboards; never drawn as a ring).
  useEffect(() => {
    const t = window.setTimeout(() => {
      const h = document.querySelector<HTMLElement>("main h1") ?? document.getElementById("main");
      h?.focus({ preventScroll: true });
    }, 0);
    return () => window.clearTimeout(t);
  }, [path]);

  if (error) return <main id="main"><ErrorBox error={error} /></main>;
  if (!m) return <main id="main"><Loading what="Loading SessionForge…" /></main>;
  // Nearly every endpoint answers EMAIL_NOT_VERIFIED until then: say so once, not on every page.
  if (!m.user.email_verified) return <Public><ConfirmAddress email={m.user.email} /></Public>;
  const shown = org ?? fallback;
  if (!shown) return <main id="main"><NotFound /></main>;
  return (
    <PageContext.Provider value={{ me: m, org: shown }}>
      <Shell me={m} org={shown}>
        {wanted && wanted !== "new" && !org ? (
          <NotFound />
        ) : (
          <Router>
            {[
              ...ROUTES.map(([p, c]) => <Route key={p} path={p} component={c} />),
              <Route key="default" default component={NotFound} />,
            ]}
          </Router>
        )}
      </Shell>
    </PageContext.Provider>
  );
}

function Public({ children }: { children: ComponentChildren }) {
  return (
    <main id="main" class="public">
      <div class="public-brand">
        <span class="brand">
          <img src={iconUrl()} alt="" width={24} height={24} />
          <span>SessionForge</span>
        </span>
      </div>
      {children}
    </main>
  );
}

function Pages() {
  const { path } = useLocation();
  const Page = PUBLIC[path];
  if (Page) {
    return (
      <Public>
        <Page />
      </Public>
    );
  }
  return <SignedIn />;
}

export function App() {
  return (
    <LocationProvider scope={DASHBOARD_LINKS}>
      <Pages />
      <Toasts />
      <ConfirmHost />
    </LocationProvider>
  );
}
