// Add a machine: mint a one-time enrollment token and show the one-line install commands for
// Linux/macOS and Windows with it filled in, and when it expires.
import { call, type Schemas } from "../api";
import { atLeast, orgPath, type Ctx } from "../context";
import { copyButton, h, replace } from "../dom";
import { field, form, input } from "../form";

export function addMachinePage(ctx: Ctx): Node {
  const org = ctx.org.id;
  if (!atLeast(ctx.org.role, "admin")) {
    return h("div", null, h("h1", null, "Add a machine"), h("p", null, `Your role in this org is ${ctx.org.role}; admins and owners add machines.`));
  }
  const result = h("div", { "aria-live": "polite" });
  const note = input({ name: "note", placeholder: "e.g. Ana's laptop", maxlength: 100 });
  const minutes = h(
    "select",
    { name: "expires" },
    [
      [60, "1 hour"],
      [24 * 60, "1 day"],
      [7 * 24 * 60, "7 days"],
    ].map(([v, label]) => h("option", { value: String(v) }, String(label))),
  );
  return h(
    "section",
    null,
    h("h1", null, "Add a machine"),
    h("p", null, "Create a one-time enrollment token, then run one line on the machine. The agent installs, enrolls with this server and starts relaying."),
    form([field("Note (optional)", note, "Who or what the token is for; shown in the token list."), field("Token expires after", minutes)], {
      submitLabel: "Create install command",
      busyLabel: "Creating…",
      onSubmit: async () => {
        const created = await call("post", "/api/v1/orgs/{org_id}/enrollment-tokens", {
          path: { org_id: org },
          body: { note: note.value.trim() || undefined, expires_in_minutes: Number(minutes.value) },
        });
        replace(result, commands(created));
        (result.querySelector("h2") as HTMLElement | null)?.focus();
      },
    }),
    result,
    h("p", null, h("a", { href: orgPath(org, "/machines") }, "Back to machines")),
  );
}

function commands(c: Schemas["CreatedEnrollmentToken"]): Node {
  const expires = new Date(c.enrollment_token.expires_at);
  const block = (title: string, cmd: string, testid: string) =>
    h("div", null, h("h3", null, title), h("div", { class: "secret" }, h("code", { "data-command": testid }, cmd), copyButton(cmd)));
  return h(
    "div",
    { class: "card", style: "margin-top:1rem" },
    h("h2", { tabindex: "-1" }, "Install command"),
    h(
      "p",
      null,
      "The token works once and expires ",
      h("time", { datetime: c.enrollment_token.expires_at, "data-expires": c.enrollment_token.expires_at }, expires.toLocaleString()),
      ". It is shown only now.",
    ),
    block("Linux and macOS", c.install.sh, "sh"),
    block("Windows (PowerShell)", c.install.powershell, "powershell"),
    block("Agent already installed", c.install.agent, "agent"),
  );
}
