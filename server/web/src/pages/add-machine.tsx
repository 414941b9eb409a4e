// Add a machine: which platforms this server can install an agent on (and how to publish a
// build for the others), then a one-time enrollment token with the one-line install commands
// for Linux/macOS and Windows filled in, and when it expires.
import { useState } from "preact/hooks";
import { call, type Schemas } from "../api";
import { atLeast, orgPath } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { CopyBox, PageHead } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";

/** Platforms as people know them, and the builds that install on each (best first). */
const PLATFORMS: [string, string[]][] = [
  ["Linux (x86-64)", ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"]],
  ["Linux (ARM64)", ["aarch64-unknown-linux-gnu", "aarch64-unknown-linux-musl"]],
  ["macOS (Intel)", ["x86_64-apple-darwin"]],
  ["macOS (Apple silicon)", ["aarch64-apple-darwin"]],
  ["Windows (x64)", ["x86_64-pc-windows-msvc"]],
  ["Windows (ARM64)", ["aarch64-pc-windows-msvc", "x86_64-pc-windows-msvc"]],
];

const EXPIRY: [number, string][] = [
  [60, "1 hour"],
  [24 * 60, "1 day"],
  [7 * 24 * 60, "7 days"],
];

function Availability() {
  const targets = useLoad(() => Promise.all([call("get", "/api/v1/releases/targets"), call("get", "/api/v1/health")]), []);
  if (!targets.data) return null;
  const [builds, health] = targets.data;
  const version = new Map(builds.map((t) => [t.target, t.version ?? null]));
  const rows = PLATFORMS.map(([name, list]) => {
    const found = list.find((b) => version.get(b) != null);
    // Suggest the most portable build (static musl on Linux, x64 on Windows).
    return { name, target: found ?? list[list.length - 1], version: found ? version.get(found) : null };
  });
  const missing = rows.filter((r) => r.version == null);
  const howTo = (
    <div class="how-to">
      <p>To publish a build, either:</p>
      <ul>
        <li>
          build the agent beside the server (<code>cargo build --release</code> in the source tree) and restart the server: at start it publishes
          the agent it finds next to its own binary, and every <code>agents/sessionforge-agent-&lt;target&gt;</code> of a release bundle;
        </li>
        <li>
          or publish one on the server (it may be running):
          <CopyBox text={`sessionforge-server release publish --version ${health.version} --target ${missing[0]?.target ?? "TARGET"} ./sessionforge-agent`} />
        </li>
      </ul>
    </div>
  );
  return (
    <div class={`alert ${missing.length === rows.length ? "warn" : "info"}`} data-availability={missing.length === rows.length ? "none" : missing.length ? "some" : "all"}>
      {missing.length === rows.length ? (
        <p>
          <strong>This server has no agent builds yet</strong>, so the install command below cannot install an agent on any machine.
        </p>
      ) : missing.length ? (
        <p>The install command works on the platforms with a build; the others need one published first.</p>
      ) : (
        <p>Agent builds are published for every platform.</p>
      )}
      <ul class="platforms" aria-label="Agent builds by platform">
        {rows.map((r) => (
          <li key={r.name} data-platform={r.name} data-available={r.version != null ? "yes" : "no"}>
            <span>{r.name}</span>{" "}
            {r.version != null ? <span class="badge ok">{r.version}</span> : <span class="badge warn">no build</span>}
          </li>
        ))}
      </ul>
      {missing.length ? howTo : null}
    </div>
  );
}

export function AddMachinePage() {
  useTitle("Add a machine");
  const { org } = usePage();
  const [note, setNote] = useState("");
  const [minutes, setMinutes] = useState("60");
  const [created, setCreated] = useState<Schemas["CreatedEnrollmentToken"] | null>(null);
  if (!atLeast(org.role, "admin")) {
    return (
      <section>
        <PageHead title="Add a machine" />
        <p>Your role in this org is {org.role}; admins and owners add machines.</p>
      </section>
    );
  }
  return (
    <section>
      <PageHead title="Add a machine" sub="Create a one-time enrollment token, then run one line on the machine: the agent installs, enrolls with this server and starts relaying.">
        <a href={orgPath(org, "/machines/tokens")}>Enrollment tokens</a>
      </PageHead>
      <Availability />
      <Form
        submitLabel="Create install command"
        busyLabel="Creating…"
        fieldFor={(code) => (code === "INVALID_NAME" ? "note" : code === "INVALID_EXPIRY" ? "expires" : undefined)}
        onSubmit={async () => {
          setCreated(
            await call("post", "/api/v1/orgs/{org_id}/enrollment-tokens", {
              path: { org_id: org.id },
              body: { note: note.trim() || undefined, expires_in_minutes: Number(minutes) },
            }),
          );
        }}
      >
        <Field name="note" label="Note (optional)" hint="Who or what the token is for; shown in the enrollment token list.">
          {(p) => <input {...p} maxLength={100} placeholder="e.g. Ana's laptop" value={note} onInput={(e) => setNote(valueOf(e))} />}
        </Field>
        <Field name="expires" label="Token expires after">
          {(p) => (
            <select {...p} value={minutes} onChange={(e) => setMinutes(valueOf(e))}>
              {EXPIRY.map(([v, label]) => (
                <option key={v} value={String(v)}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
      </Form>
      {created ? <Commands c={created} /> : null}
    </section>
  );
}

function Commands({ c }: { c: Schemas["CreatedEnrollmentToken"] }) {
  const expires = c.enrollment_token.expires_at;
  const fingerprint = /--fingerprint (\S+)/.exec(c.install.agent)?.[1];
  return (
    <div class="card install" aria-live="polite">
      <h2>Install command</h2>
      <p>
        The token works once and expires{" "}
        <time dateTime={expires} data-expires={expires}>
          {new Date(expires).toLocaleString()}
        </time>
        . It is shown only now.
      </p>
      <h3>Linux and macOS</h3>
      <CopyBox text={c.install.sh} testid="sh" />
      <h3>Windows (PowerShell)</h3>
      <CopyBox text={c.install.powershell} testid="powershell" />
      <h3>Agent already installed</h3>
      <CopyBox text={c.install.agent} testid="agent" />
      {fingerprint ? (
        <p class="muted small" data-fingerprint={fingerprint}>
          This server's certificate is self-signed; agents trust it by its SHA-256 fingerprint, which the commands above carry:{" "}
          <code class="wrap">{fingerprint}</code>
        </p>
      ) : null}
    </div>
  );
}
