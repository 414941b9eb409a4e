// Start a session on a machine: an online machine, a command from the org's allow-list, its
// arguments and working directory; then straight into its live view.
import { call } from "../api";
import { atLeast, orgPath, type Ctx } from "../context";
import { h } from "../dom";
import { field, form, input } from "../form";
import { navigate } from "../router";

/** Splits `a "b c" 'd'` into words, the way a shell would for simple quoting. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
    }
  }
  if (quote) throw new Error(`an argument has an unclosed ${quote} quote`);
  if (has || cur) out.push(cur);
  return out;
}

export async function newSessionPage(ctx: Ctx): Promise<Node> {
  const org = ctx.org.id;
  if (!atLeast(ctx.org.role, "member")) {
    return h("div", null, h("h1", null, "New session"), h("p", null, `Your role in this org is ${ctx.org.role}; members and above can start sessions.`));
  }
  const [machines, allowed] = await Promise.all([
    call("get", "/api/v1/orgs/{org_id}/machines", { path: { org_id: org } }),
    call("get", "/api/v1/orgs/{org_id}/allowed-commands", { path: { org_id: org } }),
  ]);
  const online = machines.filter((m) => m.online);
  const machine = h(
    "select",
    { name: "machine", required: true },
    machines.map((m) => h("option", { value: m.id, disabled: !m.online }, m.online ? m.hostname : `${m.hostname} (offline)`)),
  );
  const wanted = ctx.query.get("machine");
  machine.value = online.find((m) => m.id === wanted)?.id ?? online[0]?.id ?? "";
  const command = h("select", { name: "command", required: true }, allowed.commands.map((c) => h("option", { value: c }, c)));
  const args = input({ name: "args", class: "mono", autocomplete: "off", spellcheck: "false" });
  const cwd = input({ name: "cwd", class: "mono", autocomplete: "off", spellcheck: "false", placeholder: "~/projects/my-app" });

  if (machines.length === 0) {
    return h("div", null, h("h1", null, "New session"), h("p", { class: "empty" }, "No machines yet. ", atLeast(ctx.org.role, "admin") ? h("a", { href: orgPath(org, "/machines/add") }, "Add a machine") : "Ask an org admin to add one."));
  }
  return h(
    "section",
    null,
    h("h1", null, "New session"),
    online.length === 0 ? h("p", { class: "alert info" }, "No machine is online right now. Start the agent on one (sessionforge-agent run) and it will appear here.") : null,
    form(
      [
        field("Machine", machine, "Only online machines can start sessions."),
        field("Command", command, allowed.default ? "The org uses the built-in list of AI coding CLIs." : "Commands this org allows."),
        field("Arguments", args, 'Separated by spaces; quote arguments that contain spaces, as in a shell.'),
        field("Working directory", cwd, "On the machine. Empty means the agent's home directory."),
      ],
      {
        submitLabel: "Start session",
        busyLabel: "Starting…",
        onSubmit: async () => {
          if (!machine.value) throw new Error("pick an online machine");
          const s = await call("post", "/api/v1/orgs/{org_id}/sessions", {
            path: { org_id: org },
            body: { machine_id: machine.value, command: command.value, args: splitArgs(args.value), cwd: cwd.value.trim(), env_names: [] },
          });
          navigate(orgPath(org, `/sessions/${s.id}`));
        },
      },
    ),
  );
}
