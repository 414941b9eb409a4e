// The org's members and their roles. Admins and owners change roles and add existing accounts;
// the server enforces who may grant what and says so when a change is refused.
import { call, describe, type Member, type Role } from "../api";
import { atLeast, type Ctx } from "../context";
import { errorBox, h, replace, when } from "../dom";
import { field, form, input } from "../form";

const ROLES: Role[] = ["owner", "admin", "member", "viewer"];

export async function membersPage(ctx: Ctx): Promise<Node> {
  const org = ctx.org.id;
  const canManage = atLeast(ctx.org.role, "admin");
  const list = h("div", { "aria-live": "polite" });

  async function refresh(): Promise<void> {
    try {
      const members = await call("get", "/api/v1/orgs/{org_id}/members", { path: { org_id: org } });
      if (ctx.alive()) replace(list, render(members));
    } catch (e) {
      if (ctx.alive()) replace(list, errorBox(describe(e)));
    }
  }

  function render(members: Member[]): Node {
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        null,
        h("caption", { class: "visually-hidden" }, `Members of ${ctx.org.name}`),
        h("thead", null, h("tr", null, ["Name", "Email", "Role", "Joined"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          null,
          members.map((m) => h("tr", { "data-member": m.email }, h("td", null, m.display_name || "—"), h("td", null, m.email), h("td", null, roleCell(m)), h("td", null, when(m.joined_at)))),
        ),
      ),
    );
  }

  function roleCell(m: Member): Node {
    if (!canManage || m.user_id === ctx.me.user.id) return document.createTextNode(m.role);
    const select = h("select", { "aria-label": `Role of ${m.email}` }, ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)));
    const status = h("span", { "aria-live": "polite" });
    select.addEventListener("change", () => {
      select.disabled = true;
      call("put", "/api/v1/orgs/{org_id}/members/{user_id}", { path: { org_id: org, user_id: m.user_id }, body: { role: select.value as Role } })
        .then(() => {
          m.role = select.value as Role;
          replace(status, " saved");
        })
        .catch((e: unknown) => {
          select.value = m.role;
          replace(status, errorBox(describe(e)));
        })
        .finally(() => (select.disabled = false));
    });
    return h("span", null, select, status);
  }

  await refresh();
  const email = input({ name: "email", type: "email", required: true, autocomplete: "off" });
  const role = h("select", { name: "role" }, ROLES.map((r) => h("option", { value: r, selected: r === "member" }, r)));
  return h(
    "section",
    null,
    h("h1", null, `Members of ${ctx.org.name}`),
    h("p", null, "Owners and admins manage the org; members watch, type into, start and stop sessions; viewers only watch. Your role: ", h("strong", null, ctx.org.role), "."),
    list,
    canManage
      ? [
          h("h2", null, "Add a member"),
          form([field("Email of an existing account", email), field("Role", role)], {
            submitLabel: "Add member",
            busyLabel: "Adding…",
            onSubmit: async () => {
              await call("post", "/api/v1/orgs/{org_id}/members", { path: { org_id: org }, body: { email: email.value.trim(), role: role.value as Role } });
              email.value = "";
              await refresh();
            },
          }),
        ]
      : null,
  );
}
