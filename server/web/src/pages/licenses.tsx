// Licenses this server issues (server administrators of an issuer): the list with live
// activations; create one (its key shown once); suspend, reinstate, revoke, renew; and export
// an offline license file, optionally bound to one instance and encrypted under the key.
import { useState } from "preact/hooks";
import { call, callText, type Schemas } from "../api";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { CopyBox, ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { Field, Form, valueOf } from "../ui/form";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";

type License = Schemas["LicenseDto"];
type Action = "suspend" | "reinstate" | "revoke";

const ACTION_PATHS = {
  suspend: "/api/v1/admin/licenses/{id}/suspend",
  reinstate: "/api/v1/admin/licenses/{id}/reinstate",
  revoke: "/api/v1/admin/licenses/{id}/revoke",
} as const;

/** Saves `text` as a file named `name` (the browser's download). */
function saveFile(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function CreateLicense({ onCreated }: { onCreated: (key: string, l: License) => void }) {
  const [plan, setPlan] = useState("team");
  const [licensee, setLicensee] = useState("");
  const [email, setEmail] = useState("");
  const [max, setMax] = useState("1");
  const [expires, setExpires] = useState("");
  return (
    <Form
      label="New license"
      submitLabel="Create license"
      busyLabel="Creating…"
      fieldFor={(code) => (code === "UNKNOWN_PLAN" ? "plan" : code === "INVALID_EMAIL" ? "email" : undefined)}
      onSubmit={async () => {
        const body = {
          plan: plan.trim(),
          licensee: licensee.trim(),
          customer_email: email.trim() || undefined,
          max_activations: Number(max),
          expires_at: expires ? new Date(`${expires}T00:00:00Z`).toISOString() : undefined,
        };
        const created = await call("post", "/api/v1/admin/licenses", { body });
        onCreated(created.key, created.license);
        setLicensee("");
        setEmail("");
      }}
    >
      <Field name="plan" label="Plan" hint="A plan id of this server's catalogue: free, pro, team, enterprise, self-hosted, or one of yours.">
        {(p) => <input {...p} required value={plan} onInput={(e) => setPlan(valueOf(e))} />}
      </Field>
      <Field name="licensee" label="Licensee">
        {(p) => <input {...p} required maxLength={200} value={licensee} onInput={(e) => setLicensee(valueOf(e))} />}
      </Field>
      <Field name="email" label="Customer email (optional)">
        {(p) => <input {...p} type="email" value={email} onInput={(e) => setEmail(valueOf(e))} />}
      </Field>
      <Field name="max" label="Activations allowed">
        {(p) => <input {...p} type="number" min={1} max={100000} required value={max} onInput={(e) => setMax(valueOf(e))} />}
      </Field>
      <Field name="expires" label="Expires (UTC; empty for perpetual)">
        {(p) => <input {...p} type="date" value={expires} onInput={(e) => setExpires(valueOf(e))} />}
      </Field>
    </Form>
  );
}

export function LicensesPage() {
  useTitle("Licenses");
  const { me } = usePage();
  const admin = me.user.is_admin;
  const list = useLoad(() => (admin ? call("get", "/api/v1/admin/licenses") : Promise.resolve(undefined)), [admin]);
  const [fresh, setFresh] = useState<{ key: string; id: string } | null>(null);
  const [problem, setProblem] = useState<unknown>();
  if (!admin) {
    return (
      <section>
        <PageHead title="Licenses" />
        <p>Only server administrators issue licenses.</p>
      </section>
    );
  }

  async function act(l: License, action: Action): Promise<void> {
    if (action !== "reinstate") {
      const ok = await confirmDialog({
        title: `${action === "revoke" ? "Revoke" : "Suspend"} the license for ${l.licensee}?`,
        body:
          action === "revoke" ? (
            <p>Its validations answer SUSPENDED from now on, for good: a revoked license cannot be reinstated.</p>
          ) : (
            <p>Its validations answer SUSPENDED until you reinstate it.</p>
          ),
        confirmLabel: action === "revoke" ? "Revoke" : "Suspend",
        danger: true,
      });
      if (!ok) return;
    }
    setProblem(undefined);
    try {
      await call("post", ACTION_PATHS[action], { path: { id: l.id } });
      toast(`License ${action === "revoke" ? "revoked" : action === "suspend" ? "suspended" : "reinstated"}.`);
    } catch (e) {
      setProblem(e);
    }
    await list.reload();
  }

  async function exportFile(l: License): Promise<void> {
    setProblem(undefined);
    try {
      const body = JSON.stringify({ encrypt_with_key: fresh?.id === l.id ? fresh.key : undefined });
      const text = await callText("post", `/api/v1/admin/licenses/${encodeURIComponent(l.id)}/file`, body, { contentType: "application/json" });
      saveFile(`${l.id}.lic`, text);
      toast("License file saved.");
    } catch (e) {
      setProblem(e);
    }
  }

  return (
    <section>
      <PageHead title="Licenses" sub="Licenses this server issues. Licensed servers validate and activate them here." />
      {fresh ? (
        <div class="alert ok" role="status" data-fresh-license={fresh.id}>
          <p>The new license's key. Copy it now: it is not shown again (only its hash is kept).</p>
          <CopyBox text={fresh.key} testid="license-key" />
        </div>
      ) : null}
      {problem ? <ErrorBox error={problem} /> : null}
      {list.error ? <ErrorBox error={list.error} /> : null}
      {!list.data ? (
        list.error ? null : <Loading />
      ) : (
        <DataTable
          caption="Licenses"
          rows={list.data}
          rowKey={(l) => l.id}
          rowAttrs={(l) => ({ "data-license": l.licensee, "data-status": l.status })}
          empty="No licenses issued yet."
          columns={[
            { label: "Licensee", primary: true, cell: (l) => <span class="wrap">{l.licensee}</span> },
            { label: "Plan", cell: (l) => l.plan },
            { label: "Key", cell: (l) => <code>…{l.key_hint}</code> },
            { label: "Activations", cell: (l) => `${l.activations} of ${l.max_activations}` },
            { label: "Expires", cell: (l) => (l.expires_at ? <When iso={l.expires_at} /> : "never") },
            { label: "Status", cell: (l) => <span class={`badge ${l.status === "active" ? "ok" : "bad"}`}>{l.status}</span> },
            {
              label: "Actions",
              actions: true,
              cell: (l) => (
                <span class="row-actions">
                  <button type="button" class="small" aria-label={`Export a file for ${l.licensee}`} onClick={() => void exportFile(l)}>
                    Export file
                  </button>
                  {l.status === "active" ? (
                    <button type="button" class="small" aria-label={`Suspend ${l.licensee}`} onClick={() => void act(l, "suspend")}>
                      Suspend
                    </button>
                  ) : null}
                  {l.status === "suspended" ? (
                    <button type="button" class="small" aria-label={`Reinstate ${l.licensee}`} onClick={() => void act(l, "reinstate")}>
                      Reinstate
                    </button>
                  ) : null}
                  {l.status !== "revoked" ? (
                    <button type="button" class="small danger" aria-label={`Revoke ${l.licensee}`} onClick={() => void act(l, "revoke")}>
                      Revoke
                    </button>
                  ) : null}
                </span>
              ),
            },
          ]}
        />
      )}
      <article class="card">
        <h2>New license</h2>
        <CreateLicense
          onCreated={(key, l) => {
            setFresh({ key, id: l.id });
            toast(`License created for ${l.licensee}.`);
            void list.reload();
          }}
        />
      </article>
    </section>
  );
}
