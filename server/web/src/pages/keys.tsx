// Personal API keys: create (the key is shown once), list with last use, and revoke. Revoking
// the key still shown in the "copy it now" box takes it away from there too.
import { useState } from "preact/hooks";
import { call, describe, UserError, type ApiKey, type Schemas } from "../api";
import { useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { CopyBox, ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { Field, Form, valueOf } from "../ui/form";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";

type Scope = Schemas["Scope"];
const SCOPES: [Scope, string][] = [
  ["read", "read: list and watch"],
  ["write", "write: also type, start and stop sessions"],
  ["admin", "admin: also manage keys, machines and members"],
];

function keyStatus(k: ApiKey): [string, string] {
  if (k.revoked_at != null) return ["revoked", "muted"];
  if (k.expires_at != null && Date.parse(k.expires_at) < Date.now()) return ["expired", "muted"];
  return ["active", "ok"];
}

export function KeysPage() {
  useTitle("API keys");
  const load = useLoad(() => call("get", "/api/v1/api-keys"), []);
  const [fresh, setFresh] = useState<{ id: string; name: string; key: string } | null>(null);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["read"]);
  const [days, setDays] = useState("");

  async function revoke(k: ApiKey): Promise<void> {
    const ok = await confirmDialog({
      title: `Revoke "${k.name}"?`,
      body: <p>Scripts and tools using it stop working on their next request. This cannot be undone.</p>,
      confirmLabel: "Revoke key",
      danger: true,
    });
    if (!ok) return;
    try {
      await call("delete", "/api/v1/api-keys/{id}", { path: { id: k.id } });
      if (fresh?.id === k.id) setFresh(null);
      toast(`Key "${k.name}" revoked.`);
      await load.reload();
    } catch (e) {
      toast(describe(e), "error");
    }
  }

  return (
    <section>
      <PageHead title="API keys" sub={<>Keys let scripts and tools use the API as you: send them as <code>Authorization: Bearer sfk_…</code>.</>} />
      {fresh ? (
        <div class="alert ok" role="status" data-fresh-key={fresh.id}>
          <p>Key "{fresh.name}" created. Copy it now: it is not shown again.</p>
          <CopyBox text={fresh.key} testid="new-key" />
        </div>
      ) : null}
      {load.error ? <ErrorBox error={load.error} /> : null}
      {!load.data ? (
        load.error ? null : <Loading />
      ) : (
        <DataTable
          caption="Your API keys"
          rows={load.data}
          rowKey={(k) => k.id}
          rowAttrs={(k) => ({ "data-key": k.name })}
          empty="No API keys yet."
          columns={[
            { label: "Name", primary: true, cell: (k) => k.name },
            { label: "Key", cell: (k) => <code>{k.prefix}…</code> },
            { label: "Scopes", cell: (k) => k.scopes.join(", ") },
            { label: "Last used", cell: (k) => (k.last_used_at == null ? "never" : <When iso={k.last_used_at} />) },
            { label: "Expires", cell: (k) => (k.expires_at == null ? "never" : <When iso={k.expires_at} />) },
            {
              label: "Status",
              cell: (k) => {
                const [text, cls] = keyStatus(k);
                return <span class={`badge ${cls}`}>{text}</span>;
              },
            },
            {
              label: "Actions",
              actions: true,
              cell: (k) =>
                keyStatus(k)[0] === "active" ? (
                  <button type="button" class="danger small" aria-label={`Revoke ${k.name}`} onClick={() => void revoke(k)}>
                    Revoke
                  </button>
                ) : null,
            },
          ]}
        />
      )}
      <h2>Create a key</h2>
      <Form
        submitLabel="Create key"
        busyLabel="Creating…"
        fieldFor={(code) => (code === "INVALID_NAME" ? "name" : code === "INVALID_EXPIRY" ? "days" : code === "INVALID_SCOPES" ? "scopes" : undefined)}
        onSubmit={async () => {
          if (scopes.length === 0) throw new UserError("Pick at least one scope.", "scopes");
          const k = await call("post", "/api/v1/api-keys", {
            body: { name: name.trim(), scopes, expires_in_days: days ? Number(days) : undefined },
          });
          setFresh({ id: k.api_key.id, name: k.api_key.name, key: k.key });
          setName("");
          await load.reload();
        }}
      >
        <Field name="name" label="Name">
          {(p) => <input {...p} required maxLength={100} value={name} onInput={(e) => setName(valueOf(e))} />}
        </Field>
        <Field name="scopes" label="Scopes">
          {(p) => (
            <fieldset class="checks" id={p.id} aria-describedby={p["aria-describedby"]}>
              <legend class="visually-hidden">Scopes</legend>
              {SCOPES.map(([scope, label], i) => (
                <label key={scope} class="check">
                  <input
                    type="checkbox"
                    name={i === 0 ? p.name : undefined}
                    checked={scopes.includes(scope)}
                    onChange={(e) => {
                      const on = (e.currentTarget as HTMLInputElement).checked;
                      setScopes(on ? [...scopes, scope] : scopes.filter((s) => s !== scope));
                    }}
                  />
                  {label}
                </label>
              ))}
            </fieldset>
          )}
        </Field>
        <Field name="days" label="Expires after (days, optional)">
          {(p) => <input {...p} type="number" min={1} max={3650} placeholder="never" value={days} onInput={(e) => setDays(valueOf(e))} />}
        </Field>
      </Form>
    </section>
  );
}
