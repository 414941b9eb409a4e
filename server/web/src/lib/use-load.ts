// Loading data for a page: `useLoad(fetch, deps)` runs `fetch` on mount and whenever `deps`
// change, keeps the last good value while reloading, and drops answers that arrive after the
// page moved on (a later load or unmount), so nothing stale lands on screen.
import { useCallback, useLayoutEffect, useRef, useState } from "preact/hooks";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Fetches again; resolves when the new value (or error) is on screen. */
  reload: () => Promise<void>;
}

export function useLoad<T>(fetch: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const generation = useRef(0);
  const fetchRef = useRef(fetch);
  fetchRef.current = fetch;

  const reload = useCallback(async () => {
    const gen = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await fetchRef.current();
      if (gen === generation.current) setState({ data, error: undefined, loading: false });
    } catch (error) {
      if (gen === generation.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, []);

  // A layout effect: the request leaves right after the page is in the DOM, not a frame later.
  useLayoutEffect(() => {
    void reload();
    return () => {
      generation.current++;
    };
  }, deps);

  return { ...state, reload };
}
