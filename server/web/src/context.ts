// What every page gets: who is signed in, the org it is about, the route's parameters, and a
// place to register cleanup (sockets, subscriptions) that runs when the page is left.
import type { Me, Org, Role } from "./api";

export interface Ctx {
  me: Me;
  /** The org the page is about (the current org for pages outside `/orgs/:org`). */
  org: Org;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Runs `f` when the user leaves this page. */
  onDispose(f: () => void): void;
  /** False once the user has left this page: late results must then be dropped. */
  alive(): boolean;
  /** Reloads the signed-in account (after changes to orgs or roles). */
  refreshMe(): Promise<void>;
}

export type Page = (ctx: Ctx) => Promise<Node> | Node;

const ORDER: Role[] = ["viewer", "member", "admin", "owner"];

/** Whether `role` includes everything `min` may do. */
export function atLeast(role: Role, min: Role): boolean {
  return ORDER.indexOf(role) >= ORDER.indexOf(min);
}

export function orgPath(org: Org | string, rest: string): string {
  const id = typeof org === "string" ? org : org.id;
  return `/orgs/${encodeURIComponent(id)}${rest}`;
}
