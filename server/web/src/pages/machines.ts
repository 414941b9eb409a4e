// The org's machines: online state, last seen, facts, and their sessions, updated live.
import { call, describe, type Machine, type Session } from "../api";
import { atLeast, orgPath, type Ctx } from "../context";
import { bytes, errorBox, facts, h, replace, when } from "../dom";
import { onChange } from "../events";
import { onlineBadge, sessionTitle, sourceBadge, stateBadge } from "./common";

/** Sessions listed under each machine before "all sessions" takes over. */
const SESSIONS_PER_MACHINE = 5;

export async function machinesPage(ctx: Ctx): Promise<Node> {
  const org = ctx.org.id;
  const list = h("div", { "aria-live": "polite" });
  const isAdmin = atLeast(ctx.org.role, "admin");

  async function refresh(): Promise<void> {
    try {
      const [machines, sessions] = await Promise.all([
        call("get", "/api/v1/orgs/{org_id}/machines", { path: { org_id: org } }),
        call("get", "/api/v1/orgs/{org_id}/sessions", { path: { org_id: org } }),
      ]);
      if (ctx.alive()) replace(list, render(machines, sessions));
    } catch (e) {
      if (ctx.alive()) replace(list, errorBox(describe(e)));
    }
  }

  function render(machines: Machine[], sessions: Session[]): Node {
    if (machines.length === 0) {
      return h(
        "div",
        { class: "empty" },
        h("p", null, "No machines yet."),
        isAdmin ? h("a", { class: "button primary", href: orgPath(org, "/machines/add") }, "Add a machine") : h("p", null, "Ask an org admin to add one."),
      );
    }
    return h(
      "ul",
      { class: "items", "aria-label": "Machines" },
      machines.map((m) => {
        const mine = sessions.filter((s) => s.machine_id === m.id);
        const live = mine.filter((s) => s.state === "running" || s.state === "starting");
        return h(
          "li",
          { "data-machine": m.id },
          h("div", { class: "row" }, h("h2", { class: "title grow", style: "margin:0;font-size:1.05rem" }, m.hostname), onlineBadge(m)),
          facts([
            ["Last seen", m.online ? "now" : when(m.last_seen_at) || "never"],
            ["OS", [m.os, m.os_version].filter(Boolean).join(" · ")],
            ["Arch", m.arch],
            ["CPUs", String(m.cpus)],
            ["Memory", m.memory_used_bytes !== undefined ? `${bytes(m.memory_used_bytes)} of ${bytes(m.memory_bytes)}` : bytes(m.memory_bytes)],
            ["Load", m.load !== undefined ? m.load.toFixed(2) : ""],
            ["Agent", m.agent_version],
          ]),
          live.length
            ? h(
                "ul",
                { class: "machine-sessions", "aria-label": `Sessions on ${m.hostname}` },
                live.slice(0, SESSIONS_PER_MACHINE).map((s) =>
                  h("li", null, h("a", { class: "mono", href: orgPath(org, `/sessions/${s.id}`) }, sessionTitle(s)), " ", sourceBadge(s), " ", stateBadge(s)),
                ),
              )
            : h("p", { class: "muted" }, "No running sessions."),
          h(
            "div",
            { class: "actions" },
            h("a", { href: orgPath(org, `/sessions?machine=${m.id}`) }, `All sessions (${mine.length})`),
            isAdmin ? signOutButton(m) : null,
          ),
        );
      }),
    );
  }

  function signOutButton(m: Machine): HTMLButtonElement {
    const b = h("button", { type: "button", class: "danger" }, "Sign out machine");
    b.addEventListener("click", () => {
      if (!confirm(`Sign out ${m.hostname}? Its agent stops relaying and must be enrolled again.`)) return;
      b.disabled = true;
      call("delete", "/api/v1/orgs/{org_id}/machines/{id}", { path: { org_id: org, id: m.id } })
        .then(refresh)
        .catch((e: unknown) => {
          b.disabled = false;
          b.after(errorBox(describe(e)));
        });
    });
    return b;
  }

  ctx.onDispose(onChange(org, ["machines", "sessions"], () => void refresh()));
  await refresh();
  return h(
    "section",
    null,
    h("div", { class: "row" }, h("h1", { class: "grow" }, "Machines"), isAdmin ? h("a", { class: "button primary", href: orgPath(org, "/machines/add") }, "Add a machine") : null),
    list,
  );
}
