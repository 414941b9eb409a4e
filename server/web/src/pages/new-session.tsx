// Start a session on a machine: from one of the org's templates in one click, or from a command
// on the org's allow-list with its arguments and working directory; then straight into its live
// view. The session starts at the size of this window (at least 80×24).
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call, UserError, type Machine, type Template } from "../api";
import { atLeast, orgPath } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { splitArgs } from "../lib/format";
import { windowTermSize } from "../lib/term-size";
import { Empty, ErrorBox, Loading, PageHead } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";
import { TemplateList } from "./template-list";

export function NewSessionPage() {
  useTitle("New session");
  const { org } = usePage();
  const { query } = useLocation();
  const load = useLoad(
    () =>
      Promise.all([
        call("get", "/api/v1/orgs/{org_id}/machines", { path: { org_id: org.id } }),
        call("get", "/api/v1/orgs/{org_id}/allowed-commands", { path: { org_id: org.id } }),
        call("get", "/api/v1/orgs/{org_id}/templates", { path: { org_id: org.id } }),
      ]),
    [org.id],
  );
  if (!atLeast(org.role, "member")) {
    return (
      <section>
        <PageHead title="New session" />
        <p>Your role in this org is {org.role}; members and above can start sessions.</p>
      </section>
    );
  }
  if (load.error) return <ErrorBox error={load.error} />;
  if (!load.data) return <Loading />;
  const [machines, allowed, templates] = load.data;
  return <NewSessionForm machines={machines} commands={allowed.commands} isDefault={allowed.default} templates={templates} wanted={query.machine} />;
}

function NewSessionForm(props: { machines: Machine[]; commands: string[]; isDefault: boolean; templates: Template[]; wanted?: string }) {
  const { org } = usePage();
  const { route } = useLocation();
  const online = props.machines.filter((m) => m.online);
  const [machine, setMachine] = useState(online.find((m) => m.id === props.wanted)?.id ?? online[0]?.id ?? "");
  const [command, setCommand] = useState(props.commands[0] ?? "");
  const [args, setArgs] = useState("");
  const [cwd, setCwd] = useState("");

  if (props.machines.length === 0) {
    return (
      <section>
        <PageHead title="New session" />
        <Empty>
          No machines yet.{" "}
          {atLeast(org.role, "admin") ? <a href={orgPath(org, "/machines/add")}>Add a machine</a> : "Ask an org admin to add one."}
        </Empty>
      </section>
    );
  }
  return (
    <section>
      <PageHead title="New session" sub="It starts at the size of this window; anyone watching sees it fitted to their own screen." />
      {online.length === 0 ? (
        <p class="alert info">No machine is online right now. Start the agent on one (sessionforge-agent run) and it will appear here.</p>
      ) : null}
      <div class="field">
        <label for="machine">Machine</label>
        <select id="machine" name="machine" value={machine} onChange={(e) => setMachine(valueOf(e))}>
          {props.machines.map((m) => (
            <option key={m.id} value={m.id} disabled={!m.online}>
              {m.online ? m.hostname : `${m.hostname} (offline)`}
            </option>
          ))}
        </select>
        <p class="hint">Only online machines can start sessions.</p>
      </div>
      {props.templates.length > 0 ? (
        <>
          <h2>From a template</h2>
          <TemplateList templates={props.templates} machine={machine} />
        </>
      ) : null}
      <h2>{props.templates.length > 0 ? "Or a command" : "Command"}</h2>
      <Form
        submitLabel="Start session"
        busyLabel="Starting…"
        fieldFor={(code) => ({ COMMAND_NOT_ALLOWED: "command", INVALID_ARGS: "args", INVALID_CWD: "cwd" })[code]}
        onSubmit={async () => {
          if (!machine) throw new UserError("Pick an online machine.");
          const s = await call("post", "/api/v1/orgs/{org_id}/sessions", {
            path: { org_id: org.id },
            body: { machine_id: machine, command, args: splitArgs(args), cwd: cwd.trim(), env_names: [], ...windowTermSize() },
          });
          route(orgPath(org, `/sessions/${s.id}`));
        }}
      >
        <Field name="command" label="Command" hint={props.isDefault ? "The org uses the built-in list of AI coding CLIs." : "Commands this org allows."}>
          {(p) => (
            <select {...p} value={command} onChange={(e) => setCommand(valueOf(e))}>
              {props.commands.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          )}
        </Field>
        <Field name="args" label="Arguments" hint="Separated by spaces; quote arguments that contain spaces, as in a shell.">
          {(p) => <input {...p} class="mono" autocomplete="off" spellcheck={false} value={args} onInput={(e) => setArgs(valueOf(e))} />}
        </Field>
        <Field name="cwd" label="Working directory" hint="On the machine. Empty means the agent's home directory.">
          {(p) => <input {...p} class="mono" autocomplete="off" spellcheck={false} placeholder="~/projects/my-app" value={cwd} onInput={(e) => setCwd(valueOf(e))} />}
        </Field>
      </Form>
    </section>
  );
}

