// The org's enrollment tokens (admins): what each was for, whether it is still usable, which
// machine used it, and revoking the ones not used yet. Their secrets are never shown again.
import { call, describe, type EnrollmentToken } from "../api";
import { atLeast, orgPath } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";

function status(t: EnrollmentToken): [string, string] {
  if (t.revoked_at != null) return ["revoked", "muted"];
  if (t.used_at != null) return ["used", "ok"];
  if (Date.parse(t.expires_at) < Date.now()) return ["expired", "muted"];
  return ["active", "warn"];
}

export function TokensPage() {
  useTitle("Enrollment tokens");
  const { org } = usePage();
  const load = useLoad(
    () =>
      Promise.all([
        call("get", "/api/v1/orgs/{org_id}/enrollment-tokens", { path: { org_id: org.id } }),
        call("get", "/api/v1/orgs/{org_id}/machines", { path: { org_id: org.id } }),
      ]),
    [org.id],
  );
  if (!atLeast(org.role, "admin")) {
    return (
      <section>
        <PageHead title="Enrollment tokens" />
        <p>Your role in this org is {org.role}; admins and owners manage enrollment tokens.</p>
      </section>
    );
  }

  async function revoke(t: EnrollmentToken): Promise<void> {
    const ok = await confirmDialog({
      title: "Revoke this enrollment token?",
      body: <p>{t.note ? `"${t.note}": ` : ""}an install command with it stops working at once. Machines already enrolled stay.</p>,
      confirmLabel: "Revoke token",
      danger: true,
    });
    if (!ok) return;
    try {
      await call("delete", "/api/v1/orgs/{org_id}/enrollment-tokens/{id}", { path: { org_id: org.id, id: t.id } });
      toast("Token revoked.");
      await load.reload();
    } catch (e) {
      toast(describe(e), "error");
    }
  }

  const names = new Map((load.data?.[1] ?? []).map((m) => [m.id, m.hostname]));
  return (
    <section>
      <PageHead title="Enrollment tokens" sub="One-time tokens for adding machines. A token works once, until it expires or is revoked.">
        <a class="button primary" href={orgPath(org, "/machines/add")}>
          Add a machine
        </a>
      </PageHead>
      {load.error ? <ErrorBox error={load.error} /> : null}
      {!load.data ? (
        load.error ? null : <Loading />
      ) : (
        <DataTable
          caption="Enrollment tokens"
          rows={load.data[0]}
          rowKey={(t) => t.id}
          rowAttrs={(t) => ({ "data-token": t.id })}
          empty="No enrollment tokens yet."
          columns={[
            { label: "Note", primary: true, cell: (t) => t.note || <span class="muted">no note</span> },
            {
              label: "Status",
              cell: (t) => {
                const [text, cls] = status(t);
                return <span class={`badge ${cls}`}>{text}</span>;
              },
            },
            { label: "Created", cell: (t) => <When iso={t.created_at} /> },
            { label: "Expires", cell: (t) => (status(t)[0] === "active" ? <When iso={t.expires_at} /> : "") },
            {
              label: "Machine",
              cell: (t) =>
                t.machine_id != null ? (
                  <a href={orgPath(org, `/machines/${t.machine_id}`)}>{names.get(t.machine_id) ?? "signed-out machine"}</a>
                ) : (
                  ""
                ),
            },
            {
              label: "Actions",
              actions: true,
              cell: (t) =>
                status(t)[0] === "active" ? (
                  <button type="button" class="danger small" onClick={() => void revoke(t)} aria-label={`Revoke ${t.note || "token"}`}>
                    Revoke
                  </button>
                ) : null,
            },
          ]}
        />
      )}
    </section>
  );
}
