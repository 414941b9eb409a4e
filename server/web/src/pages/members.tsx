// The org's members and their roles. Admins and owners change roles and add existing accounts;
// the server enforces who may grant what and says so when a change is refused.
import { useState } from "preact/hooks";
import { call, describe, type Member, type Role } from "../api";
import { atLeast } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";

const ROLES: Role[] = ["owner", "admin", "member", "viewer"];

export function MembersPage() {
  const { org, me } = usePage();
  useTitle("Members");
  const canManage = atLeast(org.role, "admin");
  const load = useLoad(() => call("get", "/api/v1/orgs/{org_id}/members", { path: { org_id: org.id } }), [org.id]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [busy, setBusy] = useState<string | null>(null);

  async function changeRole(m: Member, to: Role): Promise<void> {
    setBusy(m.user_id);
    try {
      await call("put", "/api/v1/orgs/{org_id}/members/{user_id}", { path: { org_id: org.id, user_id: m.user_id }, body: { role: to } });
      toast(`${m.email} is now ${to}.`);
    } catch (e) {
      toast(describe(e), "error");
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
            { label: "Name", primary: true, cell: (m) => m.display_name || m.email },
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
          ]}
        />
      )}
      {canManage ? (
        <>
          <h2>Add a member</h2>
          <Form
            submitLabel="Add member"
            busyLabel="Adding…"
            fieldFor={(code) => (code === "INVALID_EMAIL" || code === "UNKNOWN_USER" || code === "CONFLICT" ? "email" : undefined)}
            onSubmit={async () => {
              await call("post", "/api/v1/orgs/{org_id}/members", { path: { org_id: org.id }, body: { email: email.trim(), role } });
              toast(`${email.trim()} was added as ${role}.`);
              setEmail("");
              await load.reload();
            }}
          >
            <Field name="email" label="Email of an existing account">
              {(p) => <input {...p} type="email" required autocomplete="off" value={email} onInput={(e) => setEmail(valueOf(e))} />}
            </Field>
            <Field name="role" label="Role">
              {(p) => (
                <select {...p} value={role} onChange={(e) => setRole(valueOf(e) as Role)}>
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              )}
            </Field>
          </Form>
        </>
      ) : null}
    </section>
  );
}
