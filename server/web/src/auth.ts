// Who is signed in. The sign-in and setup pages store the account here; the shell reads it.
import { ApiError, call, setCsrf, type Me } from "./api";

let me: Me | null = null;

export function current(): Me | null {
  return me;
}

/** Stores the account that just signed in (its CSRF token guards state-changing requests). */
export function signedIn(m: Me): void {
  me = m;
  setCsrf(m.csrf_token);
}

export function forget(): void {
  me = null;
  setCsrf(undefined);
}

/** Asks the server who is signed in; `null` when nobody is. */
export async function load(): Promise<Me | null> {
  try {
    signedIn(await call("get", "/api/v1/auth/me"));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) forget();
    else throw e;
  }
  return me;
}
