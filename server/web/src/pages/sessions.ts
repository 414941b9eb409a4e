// The org's sessions, filtered by machine, state and kind (kept in the URL), updated live.
import { call, describe, type Machine, type Session } from "../api";
import { atLeast, orgPath, type Ctx } from "../context";
import { errorBox, facts, h, replace, when } from "../dom";
import { onChange } from "../events";
import { KINDS, STATES, machineNames, sessionTitle, sourceBadge, stateBadge } from "./common";

export async function sessionsPage(ctx: Ctx): Promise<Node> {
  const org = ctx.org.id;
  const list = h("div", { "aria-live": "polite", "aria-busy": "true" });
  const filters = { machine: ctx.query.get("machine") ?? "", state: ctx.query.get("state") ?? "", kind: ctx.query.get("kind") ?? "" };
  let machines: Machine[] = [];

  const machineSelect = h("select", { id: "filter-machine" }, h("option", { value: "" }, "All machines"));
  const stateSelect = h("select", { id: "filter-state" }, h("option", { value: "" }, "Any state"), STATES.map((s) => h("option", { value: s }, s)));
  const kindSelect = h("select", { id: "filter-kind" }, h("option", { value: "" }, "Any kind"), KINDS.map((k) => h("option", { value: k }, k)));
  stateSelect.value = filters.state;
  kindSelect.value = filters.kind;

  async function refresh(): Promise<void> {
    try {
      const [sessions, ms] = await Promise.all([
        call("get", "/api/v1/orgs/{org_id}/sessions", {
          path: { org_id: org },
          query: { machine_id: filters.machine || undefined, state: STATES.find((s) => s === filters.state), kind: filters.kind || undefined },
        }),
        call("get", "/api/v1/orgs/{org_id}/machines", { path: { org_id: org } }),
      ]);
      if (!ctx.alive()) return;
      machines = ms;
      fillMachines();
      replace(list, render(sessions, machineNames(machines)));
    } catch (e) {
      if (ctx.alive()) replace(list, errorBox(describe(e)));
    }
    list.setAttribute("aria-busy", "false");
  }

  function fillMachines(): void {
    const keep = filters.machine;
    replace(machineSelect, h("option", { value: "" }, "All machines"), machines.map((m) => h("option", { value: m.id }, m.hostname)));
    machineSelect.value = keep;
  }

  function render(sessions: Session[], names: Map<string, string>): Node {
    if (sessions.length === 0) {
      const any = filters.machine || filters.state || filters.kind;
      return h(
        "p",
        { class: "empty" },
        any ? "No sessions match these filters." : "No sessions yet. Wrap a command with the agent, or start one here.",
      );
    }
    return h(
      "ul",
      { class: "items", "aria-label": "Sessions" },
      sessions.map((s) =>
        h(
          "li",
          { "data-session": s.id, "data-source": s.source },
          h(
            "div",
            { class: "row" },
            h("a", { class: "title grow mono", href: orgPath(org, `/sessions/${s.id}`) }, sessionTitle(s)),
            sourceBadge(s),
            h("span", { class: "badge muted" }, s.kind),
            stateBadge(s),
          ),
          facts([
            ["Machine", names.get(s.machine_id) ?? "unknown machine"],
            ["Directory", s.cwd],
            ["Started", when(s.started_at)],
            ["Ended", when(s.ended_at)],
            ["PID", s.pid === undefined ? "" : String(s.pid)],
            ["Reason", s.reason ?? ""],
          ]),
        ),
      ),
    );
  }

  function onFilter(): void {
    filters.machine = machineSelect.value;
    filters.state = stateSelect.value;
    filters.kind = kindSelect.value;
    const q = new URLSearchParams(Object.entries(filters).filter(([, v]) => v) as [string, string][]).toString();
    history.replaceState(null, "", location.pathname + (q ? `?${q}` : ""));
    list.setAttribute("aria-busy", "true");
    void refresh();
  }
  for (const s of [machineSelect, stateSelect, kindSelect]) s.addEventListener("change", onFilter);

  ctx.onDispose(onChange(org, ["sessions", "machines"], () => void refresh()));
  await refresh();
  if (filters.machine) machineSelect.value = filters.machine;

  return h(
    "section",
    null,
    h(
      "div",
      { class: "row" },
      h("h1", { class: "grow" }, "Sessions"),
      atLeast(ctx.org.role, "member") ? h("a", { class: "button primary", href: orgPath(org, "/sessions/new") }, "New session") : null,
    ),
    h(
      "div",
      { class: "filters", role: "group", "aria-label": "Filter sessions" },
      h("div", null, h("label", { for: "filter-machine" }, "Machine"), machineSelect),
      h("div", null, h("label", { for: "filter-state" }, "State"), stateSelect),
      h("div", null, h("label", { for: "filter-kind" }, "Kind"), kindSelect),
    ),
    list,
  );
}
