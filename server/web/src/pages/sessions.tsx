// The org's sessions, filtered by machine, state and kind (kept in the URL), updated live.
import { useEffect } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call, type Session } from "../api";
import { atLeast, orgPath } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLive } from "../state/events";
import { useLoad } from "../lib/use-load";
import { sessionTitle } from "../lib/format";
import { ErrorBox, Loading, PageHead, SourceBadge, StateBadge, WaitingBadge, When } from "../ui/bits";
import { DataTable } from "../ui/table";

export const STATES: Session["state"][] = ["starting", "running", "exited", "crashed", "stale"];
export const KINDS = ["claude", "codex", "gemini", "aider", "opencode", "cursor-agent", "goose", "amp", "other"];

export function SessionsPage() {
  useTitle("Sessions");
  const { org } = usePage();
  const { query, path } = useLocation();
  const filters = { machine: query.machine ?? "", state: query.state ?? "", kind: query.kind ?? "" };
  const load = useLoad(
    () =>
      Promise.all([
        call("get", "/api/v1/orgs/{org_id}/sessions", {
          path: { org_id: org.id },
          query: { machine_id: filters.machine || undefined, state: STATES.find((s) => s === filters.state), kind: filters.kind || undefined },
        }),
        call("get", "/api/v1/orgs/{org_id}/machines", { path: { org_id: org.id } }),
      ]),
    [org.id, filters.machine, filters.state, filters.kind],
  );
  useLive(["sessions", "machines"], () => void load.reload());
  useEffect(() => {
    if (load.data) performance.mark("sessionforge:sessions-list");
  }, [!!load.data]);

  const { route } = useLocation();
  const setFilter = (k: keyof typeof filters) => (e: Event) => {
    const next = { ...filters, [k]: (e.currentTarget as HTMLSelectElement).value };
    const q = new URLSearchParams(Object.entries(next).filter(([, v]) => v) as [string, string][]).toString();
    route(path + (q ? `?${q}` : ""), true);
  };
  const [sessions, machines] = load.data ?? [[], []];
  const names = new Map(machines.map((m) => [m.id, m.hostname]));
  const any = filters.machine || filters.state || filters.kind;

  return (
    <section>
      <PageHead title="Sessions">
        {atLeast(org.role, "member") ? (
          <a class="button primary" href={orgPath(org, "/sessions/new")}>
            New session
          </a>
        ) : null}
      </PageHead>
      <div class="filters" role="group" aria-label="Filter sessions">
        <div>
          <label for="filter-machine">Machine</label>
          <select id="filter-machine" value={filters.machine} onChange={setFilter("machine")}>
            <option value="">All machines</option>
            {machines.map((m) => (
              <option key={m.id} value={m.id}>
                {m.hostname}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-state">State</label>
          <select id="filter-state" value={filters.state} onChange={setFilter("state")}>
            <option value="">Any state</option>
            {STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <div>
          <label for="filter-kind">Kind</label>
          <select id="filter-kind" value={filters.kind} onChange={setFilter("kind")}>
            <option value="">Any kind</option>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </div>
      </div>
      {load.error ? <ErrorBox error={load.error} /> : null}
      {!load.data && !load.error ? (
        <Loading />
      ) : (
        <div aria-live="polite" aria-busy={load.loading}>
          <DataTable
            caption="Sessions"
            rows={sessions}
            rowKey={(s) => s.id}
            rowAttrs={(s) => ({ "data-session": s.id, "data-source": s.source })}
            empty={any ? "No sessions match these filters." : "No sessions yet. Wrap a command with the agent, or start one here."}
            columns={[
              {
                label: "Command",
                primary: true,
                cell: (s) => (
                  <a class="mono title" href={orgPath(org, `/sessions/${s.id}`)}>
                    {sessionTitle(s)}
                  </a>
                ),
              },
              {
                label: "State",
                cell: (s) => (
                  <span class="badges">
                    <StateBadge s={s} />
                    <WaitingBadge s={s} />
                    <SourceBadge s={s} />
                  </span>
                ),
              },
              { label: "Machine", cell: (s) => names.get(s.machine_id) ?? "unknown machine" },
              { label: "Kind", cell: (s) => s.kind },
              { label: "Directory", cell: (s) => <span class="mono wrap">{s.cwd}</span> },
              { label: "Started", cell: (s) => <When iso={s.started_at} /> },
              { label: "Ended", cell: (s) => <When iso={s.ended_at} /> },
            ]}
          />
        </div>
      )}
    </section>
  );
}
