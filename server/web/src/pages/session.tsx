// One session: its live terminal (see terminal/live-terminal.tsx), its state kept current from
// the socket and the event stream, stop (with a confirm dialog), replay and the `.cast`
// download once it has ended, and its details with the output byte count as it grows.
import { useEffect, useState } from "preact/hooks";
import { call, describe, type Machine, type Session } from "../api";
import { atLeast, orgPath } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLive } from "../state/events";
import { clearAttention } from "../state/notices";
import { bytes, isLive, sessionTitle } from "../lib/format";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Facts, Loading, SourceBadge, StateBadge, WaitingBadge, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { toast } from "../ui/toast";
import { LiveTerminal } from "../terminal/live-terminal";
import type { Conn } from "../term/index";

/** A session with more stored output than this opens on its last bytes (fast to draw), with
 * the full history one click away. */
const INITIAL_TAIL = 1024 * 1024;

const CONN_TEXT: Record<Conn, [string, string]> = {
  connecting: ["connecting…", "muted"],
  replaying: ["catching up…", "warn"],
  live: ["live", "ok"],
  reconnecting: ["reconnecting…", "warn"],
  closed: ["closed", "muted"],
};

export function SessionPage({ id }: { id: string }) {
  const { org } = usePage();
  const load = useLoad(() => call("get", "/api/v1/orgs/{org_id}/sessions/{id}", { path: { org_id: org.id, id } }), [org.id, id]);
  useTitle(load.data ? sessionTitle(load.data, 40) : "Session");
  const shown: Session | undefined = load.data;
  useEffect(() => clearAttention(id), [id, shown?.state, shown?.waiting_for_input]);
  if (load.error) return <ErrorBox error={load.error} />;
  if (!load.data) return <Loading />;
  return <SessionView key={id} initial={load.data} />;
}

function SessionView({ initial }: { initial: Session }) {
  const { org } = usePage();
  const [session, setSession] = useState(initial);
  const [machine, setMachine] = useState<Machine | null>(null);
  const [conn, setConn] = useState<Conn>("connecting");
  const [offset, setOffset] = useState(initial.output_end);
  const [gap, setGap] = useState(0);
  const [canInput, setCanInput] = useState<boolean | null>(null);
  const [stopping, setStopping] = useState(false);
  const tailStart = Math.max(initial.retained_from, initial.output_end - INITIAL_TAIL);
  const [from, setFrom] = useState(tailStart > 0 ? tailStart : 0);
  const mayWrite = atLeast(org.role, "member");
  const live = isLive(session);
  const relayed = session.source === "relayed";

  const refetch = () =>
    call("get", "/api/v1/orgs/{org_id}/sessions/{id}", { path: { org_id: org.id, id: session.id } })
      .then(setSession)
      .catch(() => {});
  useLive(["sessions"], refetch);
  useEffect(() => {
    call("get", "/api/v1/orgs/{org_id}/machines/{id}", { path: { org_id: org.id, id: session.machine_id } })
      .then(setMachine)
      .catch(() => {});
  }, [session.machine_id]);
  // Once it has ended there is nothing left to stop.
  useEffect(() => {
    if (!live) setStopping(false);
  }, [live]);

  async function stop(): Promise<void> {
    const ok = await confirmDialog({
      title: "Stop this session?",
      body: <p>Its process is ended on {machine?.hostname ?? "the machine"}. Anyone typing in it loses what they have not sent.</p>,
      confirmLabel: "Stop session",
      danger: true,
    });
    if (!ok) return;
    setStopping(true);
    try {
      // The badge says "stopping…" until the session ends; nothing is left behind after that.
      await call("post", "/api/v1/orgs/{org_id}/sessions/{id}/stop", { path: { org_id: org.id, id: session.id } });
    } catch (e) {
      setStopping(false);
      toast(describe(e), "error");
    }
  }

  const readOnly =
    canInput === false && live
      ? mayWrite
        ? "Read-only: this sign-in cannot type into sessions."
        : `Read-only: your role in this org is ${org.role}; members and above can type.`
      : "";

  return (
    <section class="session">
      <div class="session-head">
        <h1 class="mono" tabIndex={-1}>
          {sessionTitle(session)}
        </h1>
        <span class="badges">
          <SourceBadge s={session} />
          <StateBadge s={session} />
          <WaitingBadge s={session} />
          {relayed && live ? (
            <span class={`badge ${CONN_TEXT[conn][1]} conn`} data-conn={conn} role="status">
              {stopping ? "stopping…" : CONN_TEXT[conn][0]}
            </span>
          ) : null}
        </span>
      </div>
      <div class="actions">
        {relayed && live ? (
          <button type="button" class="danger" disabled={!mayWrite || stopping} title={mayWrite ? "" : "Your role cannot stop sessions"} onClick={() => void stop()}>
            {stopping ? "Stopping…" : "Stop session"}
          </button>
        ) : null}
        {relayed && !live ? (
          <a class="button primary" href={orgPath(org, `/sessions/${session.id}/replay`)}>
            Replay
          </a>
        ) : null}
        {relayed ? (
          <a class="button" href={`/api/v1/orgs/${org.id}/sessions/${session.id}/cast`} download={`session-${session.id}.cast`}>
            Download recording (.cast)
          </a>
        ) : null}
        <a href={orgPath(org, `/machines/${session.machine_id}`)}>{machine ? `Machine ${machine.hostname}` : "Machine"}</a>
      </div>
      {!relayed ? (
        <p class="alert info">
          SessionForge found this session running on the machine; its terminal is not relayed. To watch and drive it, start it through the
          agent: <code>sessionforge-agent wrap -- {session.command}</code>
        </p>
      ) : (
        <>
          {from > session.retained_from ? (
            <div class="alert info" data-history="tail">
              Showing the last {bytes(initial.output_end - from)} of {bytes(initial.output_end)} of output.{" "}
              <button type="button" onClick={() => setFrom(0)}>
                Load the full history
              </button>
            </div>
          ) : session.retained_from > 0 ? (
            <div class="alert info">Output before byte {session.retained_from} is no longer stored (retention).</div>
          ) : null}
          {gap > 0 ? (
            <div class="alert error" data-gap={gap}>
              Gap in output: {bytes(gap)} could not be delivered and is missing here.
            </div>
          ) : null}
          <LiveTerminal
            org={org.id}
            session={session}
            from={from}
            live={live}
            events={{
              onConn: setConn,
              onAttached: setCanInput,
              onGap: setGap,
              onOffset: (n) => setOffset((o) => Math.max(o, n)),
              onState: (state, exitCode) => {
                if (state !== session.state || (exitCode ?? null) !== (session.exit_code ?? null)) {
                  setSession((s) => ({ ...s, state, exit_code: exitCode ?? s.exit_code }));
                  // An ended session has more to show (end time, reason): fetch it.
                  if (state !== "running" && state !== "starting") void refetch();
                }
              },
            }}
          />
          <p class="readonly-note" id="readonly-note">
            {readOnly}
          </p>
        </>
      )}
      <h2>Details</h2>
      <Facts
        pairs={[
          ["Machine", machine ? <a href={orgPath(org, `/machines/${machine.id}`)}>{machine.hostname}</a> : "…"],
          ["Kind", session.kind],
          ["Directory", session.cwd ? <span class="mono wrap">{session.cwd}</span> : ""],
          ["Started", <When iso={session.started_at} />],
          ["Ended", session.ended_at == null ? "" : <When iso={session.ended_at} />],
          ["PID", session.pid == null ? "" : String(session.pid)],
          ["Output", <span data-output-bytes={Math.max(offset, session.output_end)}>{bytes(Math.max(offset, session.output_end))}</span>],
          ["Reason", session.reason ?? ""],
        ]}
      />
    </section>
  );
}
