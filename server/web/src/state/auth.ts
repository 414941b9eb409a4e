// Who is signed in, as a signal every component can read: the account, its orgs and roles, and
// the CSRF token that state-changing cookie requests send. The sign-in, setup and account pages
// change it; a 401 from any call clears it.
import { signal } from "@preact/signals";
import { ApiError, call, setCsrf, whenSignedOut, type Me, type Org, type Role } from "../api";

/** `undefined` until the first answer; `null` when nobody is signed in. */
export const me = signal<Me | null | undefined>(undefined);

const ORDER: Role[] = ["viewer", "member", "admin", "owner"];
const ORG_KEY = "sessionforge.org";

/** Whether `role` includes everything `min` may do. */
export function atLeast(role: Role, min: Role): boolean {
  return ORDER.indexOf(role) >= ORDER.indexOf(min);
}

export function orgPath(org: Org | string, rest: string): string {
  const id = typeof org === "string" ? org : org.id;
  return `/orgs/${encodeURIComponent(id)}${rest}`;
}

/** Stores the account that just signed in. */
export function signedIn(m: Me): void {
  setCsrf(m.csrf_token ?? undefined);
  me.value = m;
}

export function forget(): void {
  setCsrf(undefined);
  me.value = null;
}

let loading: Promise<Me | null> | null = null;

/** Asks the server who is signed in; `null` when nobody is. One question at a time. */
export function loadMe(): Promise<Me | null> {
  loading ??= (async () => {
    try {
      signedIn(await call("get", "/api/v1/auth/me"));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) forget();
      else throw e;
    } finally {
      loading = null;
    }
    return me.value ?? null;
  })();
  return loading;
}

export async function signOut(): Promise<void> {
  try {
    await call("post", "/api/v1/auth/logout");
  } catch {
    /* signed out either way */
  }
  forget();
}

/** The org a page is about: the one in its URL, else the last one used, else the first. */
export function pickOrg(m: Me, wanted?: string): Org | undefined {
  if (wanted) return m.orgs.find((o) => o.id === wanted);
  const last = localStorage.getItem(ORG_KEY);
  return m.orgs.find((o) => o.id === last) ?? m.orgs[0];
}

export function rememberOrg(org: Org): void {
  localStorage.setItem(ORG_KEY, org.id);
}

/** Why the last sign-in ended, when the server said (for the sign-in page to explain). */
export const signedOutBecause = signal<string | undefined>(undefined);

whenSignedOut((code) => {
  if (code === "SIGNED_IN_ELSEWHERE") signedOutBecause.value = code;
  if (me.value) forget();
});
