// Session templates: saved command lines started in one click on a chosen machine. Admins and
// owners create, edit and delete them; members start them; viewers see them.
import { useState } from "preact/hooks";
import { call, describe, UserError, type Template } from "../api";
import { atLeast } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLive } from "../state/events";
import { useLoad } from "../lib/use-load";
import { joinArgs, splitArgs } from "../lib/format";
import { Empty, ErrorBox, Loading, PageHead } from "../ui/bits";
import { confirmDialog } from "../ui/dialog";
import { Field, Form, valueOf } from "../ui/form";
import { toast } from "../ui/toast";
import { TemplateList } from "./template-list";

const FIELD_OF: Record<string, string> = {
  INVALID_NAME: "name",
  TEMPLATE_EXISTS: "name",
  INVALID_COMMAND: "command",
  INVALID_ARGS: "args",
  INVALID_CWD: "cwd",
  INVALID_ENV_NAMES: "env_names",
};

export function TemplatesPage() {
  useTitle("Templates");
  const { org } = usePage();
  const load = useLoad(
    () =>
      Promise.all([
        call("get", "/api/v1/orgs/{org_id}/templates", { path: { org_id: org.id } }),
        call("get", "/api/v1/orgs/{org_id}/machines", { path: { org_id: org.id } }),
        call("get", "/api/v1/orgs/{org_id}/allowed-commands", { path: { org_id: org.id } }),
      ]),
    [org.id],
  );
  useLive(["machines"], () => void load.reload());
  const [editing, setEditing] = useState<Template | "new" | null>(null);
  const [machine, setMachine] = useState("");
  const isAdmin = atLeast(org.role, "admin");
  if (load.error && !load.data) return <ErrorBox error={load.error} />;
  if (!load.data) return <Loading />;
  const [templates, machines, allowed] = load.data;
  const online = machines.filter((m) => m.online);
  const chosen = online.some((m) => m.id === machine) ? machine : (online[0]?.id ?? "");

  async function remove(t: Template): Promise<void> {
    const ok = await confirmDialog({ title: `Delete the template "${t.name}"?`, body: <p>Sessions started from it are not affected.</p>, confirmLabel: "Delete template", danger: true });
    if (!ok) return;
    try {
      await call("delete", "/api/v1/orgs/{org_id}/templates/{id}", { path: { org_id: org.id, id: t.id } });
      toast(`Template "${t.name}" deleted.`);
      await load.reload();
    } catch (e) {
      toast(describe(e), "error");
    }
  }

  return (
    <section>
      <PageHead title="Templates" sub="Saved commands with their arguments, directory and the environment variables they need, started in one click.">
        {isAdmin && editing === null ? (
          <button type="button" class="primary" onClick={() => setEditing("new")}>
            New template
          </button>
        ) : null}
      </PageHead>
      {editing !== null ? (
        <TemplateForm
          key={editing === "new" ? "new" : editing.id}
          template={editing === "new" ? null : editing}
          commands={allowed.commands}
          onDone={async (saved) => {
            setEditing(null);
            if (saved) {
              toast(`Template "${saved.name}" saved.`);
              await load.reload();
            }
          }}
        />
      ) : null}
      {templates.length === 0 ? (
        <Empty>{isAdmin ? "No templates yet. Create one for the commands your team starts often." : "No templates yet. Admins create them."}</Empty>
      ) : (
        <>
          {atLeast(org.role, "member") ? (
            <div class="field">
              <label for="start-on">Start on</label>
              <select id="start-on" value={chosen} onChange={(e) => setMachine(valueOf(e))} disabled={online.length === 0}>
                {online.length === 0 ? <option value="">No machine is online</option> : null}
                {online.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.hostname}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          <TemplateList templates={templates} machine={chosen} />
          {isAdmin ? (
            <ul class="template-admin" aria-label="Manage templates">
              {templates.map((t) => (
                <li key={t.id}>
                  <span class="grow">{t.name}</span>
                  <button type="button" class="small" onClick={() => setEditing(t)} aria-label={`Edit ${t.name}`}>
                    Edit
                  </button>
                  <button type="button" class="small danger" onClick={() => void remove(t)} aria-label={`Delete ${t.name}`}>
                    Delete
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
        </>
      )}
    </section>
  );
}

function TemplateForm(props: { template: Template | null; commands: string[]; onDone: (saved: Template | null) => void }) {
  const { org } = usePage();
  const t = props.template;
  const [v, setV] = useState({
    name: t?.name ?? "",
    command: t?.command ?? props.commands[0] ?? "",
    args: t ? joinArgs(t.args) : "",
    cwd: t?.cwd ?? "",
    env_names: t?.env_names.join(" ") ?? "",
  });
  const set = (k: keyof typeof v) => (e: Event) => setV({ ...v, [k]: valueOf(e) });
  return (
    <div class="card">
      <h2>{t ? `Edit "${t.name}"` : "New template"}</h2>
      <Form
        submitLabel={t ? "Save template" : "Create template"}
        busyLabel="Saving…"
        fieldFor={(code) => FIELD_OF[code]}
        extra={
          <button type="button" onClick={() => props.onDone(null)}>
            Cancel
          </button>
        }
        onSubmit={async () => {
          if (!v.name.trim()) throw new UserError("Give the template a name.", "name");
          const body = {
            name: v.name.trim(),
            command: v.command.trim(),
            args: splitArgs(v.args),
            cwd: v.cwd.trim(),
            env_names: v.env_names.split(/[\s,]+/).filter(Boolean),
          };
          const saved = t
            ? await call("put", "/api/v1/orgs/{org_id}/templates/{id}", { path: { org_id: org.id, id: t.id }, body })
            : await call("post", "/api/v1/orgs/{org_id}/templates", { path: { org_id: org.id }, body });
          props.onDone(saved);
        }}
      >
        <Field name="name" label="Name">
          {(p) => <input {...p} required maxLength={100} value={v.name} onInput={set("name")} />}
        </Field>
        <Field name="command" label="Command" hint="It starts only while it is on the org's allowed commands.">
          {(p) => (
            <>
              <input {...p} class="mono" required list="allowed-commands" autocomplete="off" value={v.command} onInput={set("command")} />
              <datalist id="allowed-commands">
                {props.commands.map((c) => (
                  <option key={c} value={c} />
                ))}
              </datalist>
            </>
          )}
        </Field>
        <Field name="args" label="Arguments" hint="Separated by spaces; quote arguments that contain spaces, as in a shell.">
          {(p) => <input {...p} class="mono" autocomplete="off" spellcheck={false} value={v.args} onInput={set("args")} />}
        </Field>
        <Field name="cwd" label="Working directory" hint="On the machine. Empty means the agent's home directory.">
          {(p) => <input {...p} class="mono" autocomplete="off" spellcheck={false} value={v.cwd} onInput={set("cwd")} />}
        </Field>
        <Field name="env_names" label="Environment variables it needs" hint="Names only, such as ANTHROPIC_API_KEY, separated by spaces. The agent refuses to start the command on a machine where one is not set.">
          {(p) => <input {...p} class="mono" autocomplete="off" spellcheck={false} value={v.env_names} onInput={set("env_names")} />}
        </Field>
      </Form>
    </div>
  );
}
