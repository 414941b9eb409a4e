// Org settings (admins and owners): the org's plan with each limit against its use, the org's
// name, and the commands members may start on machines, each with any arguments or only
// arguments matching glob patterns (`*`, `?`).
import { useState } from "preact/hooks";
import { call, UserError, type Schemas } from "../api";
import { atLeast, loadMe } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Facts, Loading, PageHead, When } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";
import { toast } from "../ui/toast";

/** One allowed command; `args` absent means any arguments. */
type AllowedEntry = Schemas["AllowedCommand"];

interface Row {
  key: number;
  command: string;
  anyArgs: boolean;
  patterns: string;
}

let nextRow = 0;

export function OrgSettingsPage() {
  useTitle("Org settings");
  const { org } = usePage();
  if (!atLeast(org.role, "admin")) {
    return (
      <section>
        <PageHead title="Org settings" />
        <p>Your role in this org is {org.role}; admins and owners change its settings.</p>
      </section>
    );
  }
  return (
    <section>
      <PageHead title="Org settings" sub={org.personal ? "Your personal org." : undefined} />
      <Plan />
      <OrgName />
      <AllowedCommands />
    </section>
  );
}

const LIMIT_NAMES: Record<string, string> = {
  machines: "Machines",
  seats: "Seats (members and pending invitations)",
  concurrent_sessions: "Sessions running at once",
};
const SOURCES: Record<string, string> = {
  default: "the server's default plan",
  override: "set by a server administrator",
  license: "the license installed on this server",
};

/** The org's plan, where it comes from, and each limit against what is in use. */
function Plan() {
  const { org } = usePage();
  const load = useLoad(() => call("get", "/api/v1/orgs/{org_id}/entitlements", { path: { org_id: org.id } }), [org.id]);
  const e = load.data;
  return (
    <>
      <h2>Plan</h2>
      {load.error ? <ErrorBox error={load.error} /> : null}
      {!e ? (
        load.error ? null : <Loading />
      ) : (
        <div data-plan={e.plan}>
          {e.warning ? (
            <div class="alert warn" role="status" data-plan-warning>
              {e.warning}
            </div>
          ) : null}
          <Facts
            pairs={[
              ["Plan", e.plan_name || e.plan],
              ["From", SOURCES[e.source] ?? e.source],
              ["Until", e.ends_at ? <When iso={e.ends_at} /> : null],
            ]}
          />
          <ul class="meters">
            {e.limits.map((l) => {
              const over = l.max != null && l.used > l.max;
              return (
                <li key={l.name} data-limit={l.name} class={over ? "over" : undefined}>
                  <span>{LIMIT_NAMES[l.name] ?? l.name}</span>
                  <span>
                    {l.used} of {l.max ?? "unlimited"}
                    {over ? " — over the plan's limit: nothing is removed, but no more can be added" : ""}
                  </span>
                  {l.max != null ? <progress max={l.max} value={Math.min(l.used, l.max)} aria-label={LIMIT_NAMES[l.name] ?? l.name} /> : null}
                </li>
              );
            })}
          </ul>
          {e.upgrade_url ? (
            <p>
              <a href={e.upgrade_url}>Upgrade the plan</a>
            </p>
          ) : null}
        </div>
      )}
    </>
  );
}

function OrgName() {
  const { org } = usePage();
  const [name, setName] = useState(org.name);
  return (
    <>
      <h2>Name</h2>
      <Form
        submitLabel="Save name"
        busyLabel="Saving…"
        fieldFor={(code) => (code === "INVALID_NAME" ? "name" : undefined)}
        onSubmit={async () => {
          await call("put", "/api/v1/orgs/{org_id}", { path: { org_id: org.id }, body: { name: name.trim() } });
          await loadMe();
          toast("Name saved.");
        }}
      >
        <Field name="name" label="Org name">
          {(p) => <input {...p} required maxLength={100} value={name} onInput={(e) => setName(valueOf(e))} />}
        </Field>
      </Form>
    </>
  );
}

function toRows(entries: AllowedEntry[]): Row[] {
  return entries.map((e) => ({ key: ++nextRow, command: e.command, anyArgs: e.args == null, patterns: (e.args ?? []).join(" ") }));
}

function AllowedCommands() {
  const { org } = usePage();
  const load = useLoad(() => call("get", "/api/v1/orgs/{org_id}/allowed-commands", { path: { org_id: org.id } }), [org.id]);
  if (load.error && !load.data) return <ErrorBox error={load.error} />;
  if (!load.data) return <Loading />;
  const entries = load.data.entries;
  return <CommandsEditor key={JSON.stringify(entries)} entries={entries} isDefault={load.data.default} onSaved={() => void load.reload()} />;
}

function CommandsEditor(props: { entries: AllowedEntry[]; isDefault: boolean; onSaved: () => void }) {
  const { org } = usePage();
  const [rows, setRows] = useState<Row[]>(() => toRows(props.entries));
  const update = (key: number, change: Partial<Row>) => setRows(rows.map((r) => (r.key === key ? { ...r, ...change } : r)));
  return (
    <>
      <h2>Allowed commands</h2>
      <p>
        Members may start these commands on the org's machines (from the dashboard, templates and the tray app).{" "}
        {props.isDefault ? "The org uses the built-in list of AI coding CLIs until you save your own." : null}
      </p>
      <Form
        submitLabel="Save allowed commands"
        busyLabel="Saving…"
        fieldFor={(code) => (code === "INVALID_COMMAND" || code === "INVALID_PATTERN" ? "commands" : undefined)}
        onSubmit={async () => {
          const entries: AllowedEntry[] = rows
            .filter((r) => r.command.trim())
            .map((r) => (r.anyArgs ? { command: r.command.trim() } : { command: r.command.trim(), args: r.patterns.split(/\s+/).filter(Boolean) }));
          if (entries.length === 0) throw new UserError("Allow at least one command, or nobody can start sessions.", "commands");
          await call("put", "/api/v1/orgs/{org_id}/allowed-commands", { path: { org_id: org.id }, body: { entries } });
          toast("Allowed commands saved.");
          props.onSaved();
        }}
      >
        <Field name="commands" label="Commands" hint="A command name (found on the machine's PATH) or a full path.">
          {(p) => (
            <div class="allowed-rows" id={p.id} aria-describedby={p["aria-describedby"]}>
              {rows.map((r, i) => (
                <fieldset class="allowed-row" key={r.key} data-command={r.command}>
                  <legend class="visually-hidden">Allowed command {i + 1}</legend>
                  <input
                    class="mono"
                    name={i === 0 ? p.name : undefined}
                    aria-label={`Command ${i + 1}`}
                    value={r.command}
                    onInput={(e) => update(r.key, { command: valueOf(e) })}
                  />
                  <label class="check">
                    <input type="checkbox" checked={r.anyArgs} onChange={(e) => update(r.key, { anyArgs: (e.currentTarget as HTMLInputElement).checked })} />
                    any arguments
                  </label>
                  {!r.anyArgs ? (
                    <input
                      class="mono"
                      aria-label={`Argument patterns for command ${i + 1}`}
                      placeholder="e.g. --model * -p (empty: no arguments)"
                      value={r.patterns}
                      onInput={(e) => update(r.key, { patterns: valueOf(e) })}
                    />
                  ) : null}
                  <button type="button" class="small" aria-label={`Remove command ${i + 1}`} onClick={() => setRows(rows.filter((x) => x.key !== r.key))}>
                    Remove
                  </button>
                </fieldset>
              ))}
              <button type="button" class="small" onClick={() => setRows([...rows, { key: ++nextRow, command: "", anyArgs: true, patterns: "" }])}>
                Add a command
              </button>
              <p class="hint">
                With "any arguments" off, every argument of a start request must match one of the patterns, separated by spaces: <code>*</code>{" "}
                matches any text, <code>?</code> one character.
              </p>
            </div>
          )}
        </Field>
      </Form>
    </>
  );
}
