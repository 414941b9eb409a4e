// This server's license (server administrators): what it runs under, where the plan comes
// from and how the issuer last answered (with the warning while it cannot be reached); install
// a license file (offline), activate a license key online against its issuer, or remove it.
import { useState } from "preact/hooks";
import { ApiError, call, callText, type Schemas } from "../api";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Facts, Loading, PageHead, When } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { Field, Form, valueOf } from "../ui/form";
import { toast } from "../ui/toast";

type Installed = Schemas["InstalledDto"];

const SOURCES: Record<string, string> = { file: "a license file (offline)", key: "a license key activated online" };

function Current({ l }: { l: Installed }) {
  const o = l.online;
  return (
    <div data-license={l.license_id} data-source={l.source}>
      {o?.warning ? (
        <div class="alert warn" role="status" data-license-warning>
          {o.warning}
        </div>
      ) : null}
      <Facts
        pairs={[
          ["Plan", l.plan],
          ["Licensee", l.licensee],
          ["From", SOURCES[l.source] ?? l.source],
          ["Expires", l.expires_at ? <When iso={l.expires_at} /> : "never (perpetual)"],
          ["Grace after expiry", `${l.grace_days} days`],
          ["Installed", <When iso={l.installed_at} />],
          ["Issuer", o ? <span class="wrap">{o.issuer_url}</span> : null],
          ["Last answer", o ? <span>{o.last_code}, <When iso={o.last_attempt_at} /></span> : null],
          ["Applies until", o ? <When iso={o.valid_until} /> : null],
        ]}
      />
    </div>
  );
}

export function LicensePage() {
  useTitle("License");
  const { me } = usePage();
  const admin = me.user.is_admin;
  const installed = useLoad(
    () =>
      admin
        ? call("get", "/api/v1/admin/license").catch((e: unknown) => {
            if (e instanceof ApiError && e.status === 404) return null;
            throw e;
          })
        : Promise.resolve(undefined),
    [admin],
  );
  const instance = useLoad(() => (admin ? call("get", "/api/v1/admin/license/instance") : Promise.resolve(undefined)), [admin]);
  const [file, setFile] = useState("");
  const [fileKey, setFileKey] = useState("");
  const [key, setKey] = useState("");
  const [issuer, setIssuer] = useState("");
  if (!admin) {
    return (
      <section>
        <PageHead title="License" />
        <p>Only server administrators manage this server's license.</p>
      </section>
    );
  }

  async function remove(): Promise<void> {
    const ok = await confirmDialog({
      title: "Remove the license?",
      body: <p>Every org goes back to the server's default plan. Nothing is deleted: what is over the default plan's limits stays, and only new things are refused.</p>,
      confirmLabel: "Remove license",
      danger: true,
    });
    if (!ok) return;
    try {
      await call("delete", "/api/v1/admin/license");
      toast("The license is removed.");
    } catch (e) {
      toast(e instanceof Error ? e.message : "Could not remove the license.", "error");
    }
    await installed.reload();
  }

  const l = installed.data;
  return (
    <section>
      <PageHead title="License" sub={instance.data ? <>This server's instance id: <code data-instance-id>{instance.data.instance_id}</code></> : undefined} />
      {installed.error ? <ErrorBox error={installed.error} /> : null}
      {l === undefined ? (
        installed.error ? null : <Loading />
      ) : l === null ? (
        <p data-license="none">No license is installed: orgs have the server's default plan.</p>
      ) : (
        <>
          <Current l={l} />
          <div class="actions">
            <button type="button" class="danger" onClick={() => void remove()}>
              Remove license
            </button>
          </div>
        </>
      )}
      <div class="split">
        <article class="card">
          <h2>Activate a license key</h2>
          <p class="muted">The server activates itself on the issuer, then checks in on schedule. The issuer's key must be in <code>licensing.trusted_keys</code>.</p>
          <Form
            submitLabel="Activate"
            busyLabel="Activating…"
            fieldFor={(code) => (code === "NOT_A_LICENSE_KEY" || code === "LICENSE_REFUSED" ? "key" : code === "ISSUER_UNREACHABLE" ? "issuer" : undefined)}
            onSubmit={async () => {
              const done = await call("post", "/api/v1/admin/license/activation", { body: { key: key.trim(), issuer_url: issuer.trim() } });
              toast(`Activated: the ${done.plan} plan for ${done.licensee}.`);
              setKey("");
              await installed.reload();
            }}
          >
            <Field name="key" label="License key">
              {(p) => <input {...p} required autocomplete="off" spellcheck={false} placeholder="SF-XXXXX-XXXXX-XXXXX-XXXXX" value={key} onInput={(e) => setKey(valueOf(e))} />}
            </Field>
            <Field name="issuer" label="Issuer URL">
              {(p) => <input {...p} type="url" required placeholder="https://licenses.example.com" value={issuer} onInput={(e) => setIssuer(valueOf(e))} />}
            </Field>
          </Form>
        </article>
        <article class="card">
          <h2>Install a license file</h2>
          <p class="muted">For servers without a connection to the issuer: verified here, against the trusted issuer keys.</p>
          <Form
            submitLabel="Install"
            busyLabel="Installing…"
            fieldFor={(code) => (code === "LICENSE_KEY_NEEDED" || code === "WRONG_LICENSE_KEY" ? "file-key" : "file")}
            onSubmit={async () => {
              const headers: Record<string, string> = fileKey.trim() ? { "x-license-key": fileKey.trim() } : {};
              const text = await callText("put", "/api/v1/admin/license", file, { contentType: "text/plain", headers });
              const done = JSON.parse(text) as Installed;
              toast(`Installed: the ${done.plan} plan for ${done.licensee}.`);
              setFile("");
              setFileKey("");
              await installed.reload();
            }}
          >
            <Field name="file" label="License file" hint="Paste it, or choose the .lic file.">
              {(p) => (
                <textarea {...p} required rows={6} spellcheck={false} placeholder="-----BEGIN SESSIONFORGE LICENSE FILE-----" value={file} onInput={(e) => setFile(valueOf(e))} />
              )}
            </Field>
            <input
              type="file"
              accept=".lic,text/plain"
              aria-label="Choose a license file"
              onChange={(e) => {
                const f = (e.currentTarget as HTMLInputElement).files?.[0];
                if (f) void f.text().then(setFile);
              }}
            />
            <Field name="file-key" label="License key (for an encrypted file)">
              {(p) => <input {...p} autocomplete="off" spellcheck={false} value={fileKey} onInput={(e) => setFileKey(valueOf(e))} />}
            </Field>
          </Form>
        </article>
      </div>
    </section>
  );
}
