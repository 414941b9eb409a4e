// Accounts (server administrators): every account on this server, and disabling one (its
// sign-ins end, its API keys are revoked, its open connections close; its data stays) or
// enabling it again.
import { useState } from "preact/hooks";
import { call, type Schemas } from "../api";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";

type Account = Schemas["AdminUserDto"];

export function UsersPage() {
  useTitle("Accounts");
  const { me } = usePage();
  const [problem, setProblem] = useState<unknown>();
  const list = useLoad(() => (me.user.is_admin ? call("get", "/api/v1/admin/users") : Promise.resolve(undefined)), [me.user.is_admin]);
  if (!me.user.is_admin) {
    return (
      <section>
        <PageHead title="Accounts" />
        <p>Only server administrators manage accounts.</p>
      </section>
    );
  }

  async function toggle(a: Account): Promise<void> {
    const disable = a.disabled_at == null;
    if (disable) {
      const ok = await confirmDialog({
        title: `Disable ${a.user.email}?`,
        body: (
          <p>
            Their sign-ins end, their API keys are revoked and their open pages and terminals close. Their data stays; you can enable the
            account again.
          </p>
        ),
        confirmLabel: "Disable",
        danger: true,
      });
      if (!ok) return;
    }
    setProblem(undefined);
    try {
      const op = disable ? "/api/v1/admin/users/{id}/disable" : "/api/v1/admin/users/{id}/enable";
      await call("post", op, { path: { id: a.user.id } });
      toast(disable ? `${a.user.email} is disabled.` : `${a.user.email} is enabled again.`);
    } catch (e) {
      setProblem(e);
    }
    await list.reload();
  }

  return (
    <section>
      <PageHead title="Accounts" sub="Everyone with an account on this server." />
      {problem ? <ErrorBox error={problem} /> : null}
      {list.error ? <ErrorBox error={list.error} /> : null}
      {!list.data ? (
        list.error ? null : <Loading />
      ) : (
        <DataTable
          caption="Accounts"
          rows={list.data}
          rowKey={(a) => a.user.id}
          rowAttrs={(a) => ({ "data-user": a.user.email, "data-disabled": a.disabled_at != null ? "yes" : "no" })}
          empty="No accounts."
          columns={[
            { label: "Email", primary: true, cell: (a) => <span class="wrap">{a.user.email}</span> },
            { label: "Name", cell: (a) => a.user.display_name || null },
            {
              label: "State",
              cell: (a) =>
                a.disabled_at != null ? (
                  <span class="badge bad">disabled</span>
                ) : a.user.email_verified ? (
                  <span class="badge ok">active</span>
                ) : (
                  <span class="badge warn">unconfirmed</span>
                ),
            },
            { label: "Administrator", cell: (a) => (a.user.is_admin ? "yes" : "no") },
            { label: "Created", cell: (a) => <When iso={a.user.created_at} /> },
            {
              label: "Actions",
              actions: true,
              cell: (a) =>
                a.user.id === me.user.id ? null : (
                  <button
                    type="button"
                    class={a.disabled_at == null ? "small danger" : "small"}
                    aria-label={`${a.disabled_at == null ? "Disable" : "Enable"} ${a.user.email}`}
                    onClick={() => void toggle(a)}
                  >
                    {a.disabled_at == null ? "Disable" : "Enable"}
                  </button>
                ),
            },
          ]}
        />
      )}
    </section>
  );
}
