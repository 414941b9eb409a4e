// The org's machines: online state, last seen, facts and running sessions, updated live. A
// machine enrolled but never connected says so, and how to connect it.
import type { ComponentChildren } from "preact";
import { call, type Machine, type Session } from "../api";
import { atLeast, orgPath } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLive } from "../state/events";
import { useLoad } from "../lib/use-load";
import { bytes, isLive, sessionTitle } from "../lib/format";
import { Empty, ErrorBox, Facts, Loading, OnlineBadge, PageHead, StateBadge, When } from "../ui/bits";

/** Running sessions listed under each machine. */
const SESSIONS_PER_MACHINE = 5;

export function machineFacts(m: Machine): [string, ComponentChildren][] {
  return [
    ["Last seen", m.online ? "now" : m.last_seen_at == null ? "never" : <When iso={m.last_seen_at} />],
    ["OS", [m.os, m.os_version].filter(Boolean).join(" · ")],
    ["Arch", m.arch],
    ["CPUs", m.cpus ? String(m.cpus) : ""],
    ["Memory", m.memory_bytes ? (m.memory_used_bytes != null ? `${bytes(m.memory_used_bytes)} of ${bytes(m.memory_bytes)}` : bytes(m.memory_bytes)) : ""],
    ["Load", m.load != null ? m.load.toFixed(2) : ""],
    ["Agent", m.agent_version],
  ];
}

export function NeverConnected() {
  return (
    <p class="note" data-never-connected="">
      Enrolled, but its agent has not connected yet. On the machine, run <code>sessionforge-agent run</code> (the installer starts it as a
      service).
    </p>
  );
}

export function MachinesPage() {
  useTitle("Machines");
  const { org } = usePage();
  const isAdmin = atLeast(org.role, "admin");
  const load = useLoad(
    () =>
      Promise.all([
        call("get", "/api/v1/orgs/{org_id}/machines", { path: { org_id: org.id } }),
        call("get", "/api/v1/orgs/{org_id}/sessions", { path: { org_id: org.id }, query: { state: "running" } }),
      ]),
    [org.id],
  );
  useLive(["machines", "sessions"], () => void load.reload());
  const add = isAdmin ? (
    <a class="button primary" href={orgPath(org, "/machines/add")}>
      Add a machine
    </a>
  ) : null;
  return (
    <section>
      <PageHead title="Machines">
        {isAdmin ? <a href={orgPath(org, "/machines/tokens")}>Enrollment tokens</a> : null}
        {add}
      </PageHead>
      {load.error ? <ErrorBox error={load.error} /> : null}
      {!load.data ? (
        load.error ? null : <Loading />
      ) : load.data[0].length === 0 ? (
        <Empty>
          <p>No machines yet.</p>
          {add ?? <p>Ask an org admin to add one.</p>}
        </Empty>
      ) : (
        <ul class="cards" aria-label="Machines">
          {load.data[0].map((m) => (
            <MachineCard key={m.id} m={m} sessions={load.data![1].filter((s) => s.machine_id === m.id && isLive(s))} />
          ))}
        </ul>
      )}
    </section>
  );
}

function MachineCard({ m, sessions }: { m: Machine; sessions: Session[] }) {
  const { org } = usePage();
  return (
    <li class="card" data-machine={m.id}>
      <div class="card-head">
        <h2 class="card-title">
          <a href={orgPath(org, `/machines/${m.id}`)}>{m.hostname}</a>
        </h2>
        <OnlineBadge m={m} />
      </div>
      {m.last_seen_at == null && !m.online ? <NeverConnected /> : null}
      <Facts pairs={machineFacts(m)} />
      {sessions.length ? (
        <ul class="machine-sessions" aria-label={`Sessions on ${m.hostname}`}>
          {sessions.slice(0, SESSIONS_PER_MACHINE).map((s) => (
            <li key={s.id}>
              <a class="mono" href={orgPath(org, `/sessions/${s.id}`)}>
                {sessionTitle(s, 50)}
              </a>{" "}
              <StateBadge s={s} />
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted small">No running sessions.</p>
      )}
      <div class="actions">
        <a href={orgPath(org, `/machines/${m.id}`)}>Details</a>
        <a href={orgPath(org, `/sessions?machine=${m.id}`)}>All sessions</a>
      </div>
    </li>
  );
}
