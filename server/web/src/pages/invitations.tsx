// Inviting people into an org (admins and owners): the invite form, the new invitation's link shown
// once (with whether it could be mailed; without SMTP the admin passes it on), and the invitations
// still open, each with Resend (valid again for the full time) and Revoke (its link stops working).
import { useState } from "preact/hooks";
import { call, type Org, type Role, type Schemas } from "../api";
import { useLoad } from "../lib/use-load";
import { CopyBox, ErrorBox, Loading, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { Field, Form, valueOf } from "../ui/form";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";

type Invitation = Schemas["InvitationDto"];

/** Roles an invitation can give; owners are made from members once they joined. */
const INVITE_ROLES: Role[] = ["member", "viewer", "admin"];
const OPEN_STATES = ["pending", "expired"];

const FIELD_OF: Record<string, string> = {
  INVALID_EMAIL: "email",
  ALREADY_MEMBER: "email",
  ALREADY_INVITED: "email",
  INVALID_ROLE: "role",
  ROLE_REQUIRED: "role",
};

export function Invitations({ org }: { org: Org }) {
  const load = useLoad(() => call("get", "/api/v1/orgs/{org_id}/invitations", { path: { org_id: org.id } }), [org.id]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Exclude<Role, "owner">>("member");
  const [problem, onError] = useState<unknown>();
  const [fresh, setFresh] = useState<{ id: string; email: string; url: string; mailed: boolean } | null>(null);
  const open = (load.data ?? []).filter((i) => OPEN_STATES.includes(i.state));

  async function resend(i: Invitation): Promise<void> {
    onError(undefined);
    try {
      const again = await call("post", "/api/v1/orgs/{org_id}/invitations/{id}/resend", { path: { org_id: org.id, id: i.id } });
      toast(`Invitation to ${i.email} sent again; it is valid until ${new Date(again.expires_at).toLocaleDateString()}.`);
    } catch (e) {
      onError(e);
    }
    await load.reload();
  }

  async function revoke(i: Invitation): Promise<void> {
    const ok = await confirmDialog({
      title: `Revoke the invitation to ${i.email}?`,
      body: <p>Its link stops working. You can invite the address again later.</p>,
      confirmLabel: "Revoke invitation",
      danger: true,
    });
    if (!ok) return;
    onError(undefined);
    try {
      await call("delete", "/api/v1/orgs/{org_id}/invitations/{id}", { path: { org_id: org.id, id: i.id } });
      if (fresh?.id === i.id) setFresh(null);
      toast(`Invitation to ${i.email} revoked.`);
    } catch (e) {
      onError(e);
    }
    await load.reload();
  }

  return (
    <>
      <h2>Invite someone</h2>
      {fresh ? (
        <div class="alert ok" role="status" data-fresh-invitation={fresh.id}>
          <p>
            {fresh.mailed ? (
              <>
                Invitation mailed to <strong class="wrap">{fresh.email}</strong>. You can also pass on the link yourself:
              </>
            ) : (
              <>
                Invitation created, but <strong>not mailed</strong>: this server has no SMTP server configured. Send this
                link to <strong class="wrap">{fresh.email}</strong> yourself:
              </>
            )}
          </p>
          <CopyBox text={fresh.url} testid="accept-url" />
          <p class="muted small">The link is shown only now.</p>
        </div>
      ) : null}
      <Form
        submitLabel="Send invitation"
        busyLabel="Inviting…"
        fieldFor={(code) => FIELD_OF[code]}
        onSubmit={async () => {
          const r = await call("post", "/api/v1/orgs/{org_id}/invitations", { path: { org_id: org.id }, body: { email: email.trim(), role } });
          setFresh({ id: r.invitation.id, email: r.invitation.email, url: r.accept_url, mailed: r.mailed });
          setEmail("");
          await load.reload();
        }}
      >
        <Field name="email" label="Email" hint="They need no account yet: the link lets them create one.">
          {(p) => <input {...p} type="email" required autocomplete="off" value={email} onInput={(e) => setEmail(valueOf(e))} />}
        </Field>
        <Field name="role" label="Role">
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(valueOf(e) as Exclude<Role, "owner">)}>
              {INVITE_ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          )}
        </Field>
      </Form>
      <h2>Open invitations</h2>
      {problem ? <ErrorBox error={problem} /> : null}
      {load.error ? <ErrorBox error={load.error} /> : null}
      {!load.data ? (
        load.error ? null : <Loading />
      ) : (
        <DataTable
          caption={`Open invitations to ${org.name}`}
          rows={open}
          rowKey={(i) => i.id}
          rowAttrs={(i) => ({ "data-invitation": i.email, "data-state": i.state })}
          empty="No open invitations."
          columns={[
            { label: "Email", primary: true, cell: (i) => <span class="wrap">{i.email}</span> },
            { label: "Role", cell: (i) => i.role },
            { label: "State", cell: (i) => <span class={`badge ${i.state === "pending" ? "warn" : "muted"}`}>{i.state}</span> },
            { label: "Invited by", cell: (i) => <span class="wrap">{i.invited_by || "—"}</span> },
            { label: "Expires", cell: (i) => <When iso={i.expires_at} /> },
            {
              label: "Actions",
              actions: true,
              cell: (i) => (
                <>
                  <button type="button" class="small" aria-label={`Resend the invitation to ${i.email}`} onClick={() => void resend(i)}>
                    Resend
                  </button>{" "}
                  <button type="button" class="danger small" aria-label={`Revoke the invitation to ${i.email}`} onClick={() => void revoke(i)}>
                    Revoke
                  </button>
                </>
              ),
            },
          ]}
        />
      )}
    </>
  );
}

