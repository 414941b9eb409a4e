// What every signed-in page can ask for: the account and the org it is about. The app puts them
// in context once, so that pages need no props for them.
import { createContext } from "preact";
import { useContext, useEffect } from "preact/hooks";
import type { Me, Org } from "../api";
import { pageTitle } from "./notices";

export interface PageCtx {
  me: Me;
  org: Org;
}

export const PageContext = createContext<PageCtx | null>(null);

export function usePage(): PageCtx {
  const ctx = useContext(PageContext);
  if (!ctx) throw new Error("a signed-in page was rendered outside the app shell");
  return ctx;
}

/** Sets the tab title while the page is shown. */
export function useTitle(title: string): void {
  useEffect(() => {
    pageTitle.value = title;
  }, [title]);
}
