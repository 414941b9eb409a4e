// The REST client, the one way the dashboard talks to the API. Paths, parameters, bodies and
// responses are typed from api-types.ts, which is generated from openapi/openapi.json: calling
// an endpoint the spec does not have, or with the wrong body, does not type-check. Optional
// response fields may be absent or null; read them with `== null` / `??`, never `=== undefined`.
import type { components, paths } from "./api-types";

export type Schemas = components["schemas"];
export type Me = Schemas["Me"];
export type Org = Schemas["OrgDto"];
export type Role = Schemas["Role"];
export type Machine = Schemas["MachineDto"];
export type Session = Schemas["SessionDto"];
export type ApiKey = Schemas["ApiKeyDto"];
export type Member = Schemas["MemberDto"];
export type Template = Schemas["TemplateDto"];
export type EnrollmentToken = Schemas["EnrollmentTokenDto"];
export type Preferences = Schemas["Preferences"];

type JsonType = "application/json; charset=utf-8";
type Method = "get" | "post" | "put" | "delete";
type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonOf<R> = R extends { content: { [K in JsonType]: infer B } } ? B : undefined;
type Responses<O> = O extends { responses: infer R } ? R : never;
type Success<O> = JsonOf<Responses<O>[Extract<keyof Responses<O>, 200 | 201 | 202 | 204>]>;
type BodyOf<O> = O extends { requestBody: { content: { [K in JsonType]: infer B } } }
  ? B
  : O extends { requestBody?: { content: { [K in JsonType]: infer B } } }
    ? B
    : never;
type PathOf<O> = O extends { parameters: { path: infer P } } ? P : never;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? Q : never;

export interface CallOptions<O> {
  path?: PathOf<O>;
  query?: QueryOf<O>;
  body?: BodyOf<O>;
}

/** An error the server answered with (`{code, message}`), or a network failure (`NETWORK`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A mistake in what someone typed, found before asking the server; `field` names the input. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;

/** Remembers the CSRF token that state-changing cookie requests must send. */
export function setCsrf(token: string | undefined): void {
  csrfToken = token;
}

/** Called when the server says the sign-in is gone (401, with its code), so the app can go to
 * the sign-in page and say why. */
let onSignedOut: (code: string) => void = () => {};
export function whenSignedOut(f: (code: string) => void): void {
  onSignedOut = f;
}

export function fillPath(template: string, params: Record<string, string> | undefined): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(params?.[k] ?? ""));
}

/** How long a prefetched answer waits to be used by the page that needs it. */
const PREFETCH_TTL_MS = 5000;
const prefetched = new Map<string, { at: number; answer: Promise<unknown> }>();

function urlOf(path: string, opts: CallOptions<unknown>): string {
  let url = fillPath(path, opts.path as Record<string, string> | undefined);
  const query = Object.entries((opts.query ?? {}) as Record<string, string | undefined>).filter(
    ([, v]) => v !== undefined && v !== "",
  ) as [string, string][];
  if (query.length) url += `?${new URLSearchParams(query)}`;
  return url;
}

/** Starts a GET now, for a page about to ask for it (its first `call` of the same URL takes the
 * answer). Used at start-up, so the first page's data loads while the app itself does. */
export function prefetch<P extends keyof paths>(path: P, opts: CallOptions<Op<P, "get">> = {}): void {
  const url = urlOf(path, opts as CallOptions<unknown>);
  const answer = call("get", path, opts);
  answer.catch(() => {}); // the page that takes it handles the error
  prefetched.set(url, { at: Date.now(), answer });
}

/** Calls `method path` and returns the parsed success body; throws `ApiError` otherwise. */
export async function call<P extends keyof paths, M extends Method>(
  method: M,
  path: P,
  opts: CallOptions<Op<P, M>> = {},
): Promise<Success<Op<P, M>>> {
  const url = urlOf(path, opts as CallOptions<unknown>);
  const early = method === "get" ? prefetched.get(url) : undefined;
  if (early) {
    prefetched.delete(url);
    if (Date.now() - early.at < PREFETCH_TTL_MS) return early.answer as Promise<Success<Op<P, M>>>;
  }
  const headers: Record<string, string> = { accept: "application/json" };
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  if (method !== "get" && csrfToken) headers["x-csrf-token"] = csrfToken;
  let resp: Response;
  try {
    resp = await fetch(url, {
      method: method.toUpperCase(),
      headers,
      credentials: "same-origin",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch {
    throw new ApiError(0, "NETWORK", "Cannot reach the server. Check your connection and try again.");
  }
  if (resp.status === 204) return undefined as Success<Op<P, M>>;
  const text = await resp.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!resp.ok) {
    const err = (data ?? {}) as { code?: string; message?: string };
    const message = err.message ?? `The server answered ${resp.status} ${resp.statusText}.`;
    if (resp.status === 401 && path !== "/api/v1/auth/login") onSignedOut(err.code ?? "UNAUTHORIZED");
    throw new ApiError(resp.status, err.code ?? "ERROR", capitalize(message));
  }
  return data as Success<Op<P, M>>;
}

/** A request whose body or answer is text rather than JSON (license files): same errors as
 * `call`. Resolves to the answer's text. */
export async function callText(method: "put" | "post", url: string, body: string, opts: { contentType: string; headers?: Record<string, string> }): Promise<string> {
  const headers: Record<string, string> = { "content-type": opts.contentType, ...opts.headers };
  if (csrfToken) headers["x-csrf-token"] = csrfToken;
  let resp: Response;
  try {
    resp = await fetch(url, { method: method.toUpperCase(), headers, credentials: "same-origin", body });
  } catch {
    throw new ApiError(0, "NETWORK", "Cannot reach the server. Check your connection and try again.");
  }
  const text = await resp.text();
  if (!resp.ok) {
    let err: { code?: string; message?: string } = {};
    try {
      err = JSON.parse(text) as typeof err;
    } catch {
      /* not JSON */
    }
    if (resp.status === 401) onSignedOut(err.code ?? "UNAUTHORIZED");
    throw new ApiError(resp.status, err.code ?? "ERROR", capitalize(err.message ?? `The server answered ${resp.status} ${resp.statusText}.`));
  }
  return text;
}

function capitalize(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/** A user-facing sentence for any error. */
export function describe(err: unknown): string {
  if (err instanceof ApiError || err instanceof UserError) return err.message;
  if (err instanceof Error) return `Something went wrong: ${err.message}`;
  return "Something went wrong.";
}
