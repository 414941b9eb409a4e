// The org's members and their roles. Admins and owners change roles, remove members and invite
// people (see invitations.tsx); anyone may leave. The server enforces who may do what, and its
// refusals (LAST_OWNER, SEAT_LIMIT, …) are shown above the list, in its own words.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call, type Member, type Role } from "../api";
import { atLeast, loadMe } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { valueOf } from "../ui/form";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";
import { Invitations } from "./invitations";

const ROLES: Role[] = ["owner", "admin", "member", "viewer"];

export function MembersPage() {
  const { org, me } = usePage();
  const { route } = useLocation();
  useTitle("Members");
  const canManage = atLeast(org.role, "admin");
  const load = useLoad(() => call("get", "/api/v1/orgs/{org_id}/members", { path: { org_id: org.id } }), [org.id]);
  const [busy, setBusy] = useState<string | null>(null);
  const [problem, setProblem] = useState<unknown>();

  async function changeRole(m: Member, to: Role): Promise<void> {
    setBusy(m.user_id);
    setProblem(undefined);
    try {
      await call("put", "/api/v1/orgs/{org_id}/members/{user_id}", { path: { org_id: org.id, user_id: m.user_id }, body: { role: to } });
      toast(`${m.email} is now ${to}.`);
    } catch (e) {
      setProblem(e);
    }
    await load.reload();
    setBusy(null);
  }

  async function remove(m: Member): Promise<void> {
    const self = m.user_id === me.user.id;
    const ok = await confirmDialog(
      self
        ? {
            title: `Leave ${org.name}?`,
            body: <p>You lose access to its machines and sessions at once. An admin can invite you back.</p>,
            confirmLabel: "Leave org",
            danger: true,
          }
        : {
            title: `Remove ${m.display_name || m.email}?`,
            body: <p>They lose access to {org.name} at once, including sessions they are watching. You can invite them again.</p>,
            confirmLabel: "Remove member",
            danger: true,
          },
    );
    if (!ok) return;
    setBusy(m.user_id);
    setProblem(undefined);
    try {
      await call("delete", "/api/v1/orgs/{org_id}/members/{user_id}", { path: { org_id: org.id, user_id: m.user_id } });
      if (self) {
        toast(`You left ${org.name}.`);
        await loadMe();
        route("/", true);
        return;
      }
      toast(`${m.email} was removed.`);
    } catch (e) {
      setProblem(e);
    }
    await load.reload();
    setBusy(null);
  }

  return (
    <section>
      <PageHead title={`Members of ${org.name}`}>{null}</PageHead>
      <p>
        Owners and admins manage the org; members watch, type into, start and stop sessions; viewers only watch. Your role:{" "}
        <strong>{org.role}</strong>.
      </p>
      {problem ? <ErrorBox error={problem} /> : null}
      {load.error ? <ErrorBox error={load.error} /> : null}
      {!load.data ? (
        load.error ? null : <Loading />
      ) : (
        <DataTable
          caption={`Members of ${org.name}`}
          rows={load.data}
          rowKey={(m) => m.user_id}
          rowAttrs={(m) => ({ "data-member": m.email, "data-role": m.role })}
          columns={[
            { label: "Name", primary: true, cell: (m) => <span class="wrap">{m.display_name || m.email}</span> },
            { label: "Email", cell: (m) => <span class="wrap">{m.email}</span> },
            {
              label: "Role",
              cell: (m) =>
                canManage && m.user_id !== me.user.id ? (
                  <select
                    class="role-select"
                    aria-label={`Role of ${m.email}`}
                    value={m.role}
                    disabled={busy === m.user_id}
                    onChange={(e) => void changeRole(m, valueOf(e) as Role)}
                  >
                    {ROLES.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </select>
                ) : (
                  m.role
                ),
            },
            { label: "Joined", cell: (m) => <When iso={m.joined_at} /> },
            {
              label: "Actions",
              actions: true,
              cell: (m) =>
                m.user_id === me.user.id && !org.personal ? (
                  <button type="button" class="danger small" disabled={busy === m.user_id} onClick={() => void remove(m)}>
                    Leave org
                  </button>
                ) : canManage && m.user_id !== me.user.id ? (
                  <button
                    type="button"
                    class="danger small"
                    aria-label={`Remove ${m.email}`}
                    disabled={busy === m.user_id}
                    onClick={() => void remove(m)}
                  >
                    Remove
                  </button>
                ) : null,
            },
          ]}
        />
      )}
      {canManage ? <Invitations org={org} /> : null}
    </section>
  );
}
