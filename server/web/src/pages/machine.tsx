// One machine: its facts, its sessions, the org's templates to start there in one click, a
// session with any allowed command, and signing it out (admins, after a confirm dialog).
import { useLocation } from "preact-iso";
import { call, describe } from "../api";
import { atLeast, orgPath } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLive } from "../state/events";
import { useLoad } from "../lib/use-load";
import { sessionTitle } from "../lib/format";
import { ErrorBox, Facts, Loading, OnlineBadge, PageHead, StateBadge, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";
import { NeverConnected, machineFacts } from "./machines";
import { TemplateList } from "./template-list";

export function MachinePage({ id }: { id: string }) {
  const { org } = usePage();
  const { route } = useLocation();
  const load = useLoad(
    () =>
      Promise.all([
        call("get", "/api/v1/orgs/{org_id}/machines/{id}", { path: { org_id: org.id, id } }),
        call("get", "/api/v1/orgs/{org_id}/sessions", { path: { org_id: org.id }, query: { machine_id: id } }),
        call("get", "/api/v1/orgs/{org_id}/templates", { path: { org_id: org.id } }),
      ]),
    [org.id, id],
  );
  useLive(["machines", "sessions"], () => void load.reload());
  useTitle(load.data ? load.data[0].hostname : "Machine");
  if (load.error && !load.data) return <ErrorBox error={load.error} />;
  if (!load.data) return <Loading />;
  const [m, sessions, templates] = load.data;
  const isAdmin = atLeast(org.role, "admin");
  const isMember = atLeast(org.role, "member");

  async function signOut(): Promise<void> {
    const ok = await confirmDialog({
      title: `Sign out ${m.hostname}?`,
      body: <p>Its agent stops relaying at once and must be enrolled again to come back. Its recorded sessions stay.</p>,
      confirmLabel: "Sign out machine",
      danger: true,
    });
    if (!ok) return;
    try {
      await call("delete", "/api/v1/orgs/{org_id}/machines/{id}", { path: { org_id: org.id, id: m.id } });
      toast(`${m.hostname} was signed out.`);
      route(orgPath(org, "/machines"));
    } catch (e) {
      toast(describe(e), "error");
    }
  }

  return (
    <section data-machine={m.id}>
      <PageHead title={m.hostname} sub={<OnlineBadge m={m} />}>
        {isMember ? (
          <a class={`button${m.online ? " primary" : ""}`} href={orgPath(org, `/sessions/new?machine=${m.id}`)}>
            Start a session here
          </a>
        ) : null}
        {isAdmin ? (
          <button type="button" class="danger" onClick={() => void signOut()}>
            Sign out machine
          </button>
        ) : null}
      </PageHead>
      {m.last_seen_at == null && !m.online ? <NeverConnected /> : null}
      <Facts pairs={[...machineFacts(m), ["Enrolled", <When iso={m.enrolled_at} />]]} />
      {templates.length && isMember ? (
        <>
          <h2>Start from a template</h2>
          {!m.online ? <p class="muted">The machine is offline: templates start once its agent is connected.</p> : null}
          <TemplateList templates={templates} machine={m.id} offline={!m.online} />
        </>
      ) : null}
      <h2>Sessions</h2>
      <DataTable
        caption={`Sessions on ${m.hostname}`}
        rows={sessions}
        rowKey={(s) => s.id}
        rowAttrs={(s) => ({ "data-session": s.id })}
        empty="No sessions on this machine yet."
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
          { label: "State", cell: (s) => <StateBadge s={s} /> },
          { label: "Started", cell: (s) => <When iso={s.started_at} /> },
          { label: "Ended", cell: (s) => <When iso={s.ended_at} /> },
        ]}
      />
    </section>
  );
}
