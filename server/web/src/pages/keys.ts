// Personal API keys: create (the key is shown once), list with last use, and revoke.
import { call, describe, type ApiKey, type Schemas } from "../api";
import type { Ctx } from "../context";
import { copyButton, errorBox, h, replace, when } from "../dom";
import { field, form, input } from "../form";

type Scope = Schemas["Scope"];
const SCOPES: [Scope, string][] = [
  ["read", "read: list and watch"],
  ["write", "write: also type, start and stop sessions"],
  ["admin", "admin: also manage keys, machines and members"],
];

export async function keysPage(ctx: Ctx): Promise<Node> {
  const list = h("div", { "aria-live": "polite" });
  const created = h("div", { "aria-live": "polite" });

  async function refresh(): Promise<void> {
    try {
      const keys = await call("get", "/api/v1/api-keys");
      if (ctx.alive()) replace(list, render(keys));
    } catch (e) {
      if (ctx.alive()) replace(list, errorBox(describe(e)));
    }
  }

  function render(keys: ApiKey[]): Node {
    if (keys.length === 0) return h("p", { class: "empty" }, "No API keys yet.");
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        null,
        h("caption", { class: "visually-hidden" }, "Your API keys"),
        h("thead", null, h("tr", null, ["Name", "Key", "Scopes", "Created", "Last used", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          null,
          keys.map((k) =>
            h(
              "tr",
              { "data-key": k.id },
              h("td", null, k.name),
              h("td", null, h("code", null, `${k.prefix}…`)),
              h("td", null, k.scopes.join(", ")),
              h("td", null, when(k.created_at)),
              h("td", null, k.last_used_at ? when(k.last_used_at) : "never"),
              h("td", null, k.revoked_at ? h("span", { class: "badge muted" }, "revoked") : expired(k) ? h("span", { class: "badge muted" }, "expired") : h("span", { class: "badge ok" }, "active")),
              h("td", null, k.revoked_at ? null : revokeButton(k)),
            ),
          ),
        ),
      ),
    );
  }

  function revokeButton(k: ApiKey): HTMLButtonElement {
    const b = h("button", { type: "button", class: "danger", "aria-label": `Revoke ${k.name}` }, "Revoke");
    b.addEventListener("click", () => {
      if (!confirm(`Revoke the key "${k.name}"? Programs using it stop working at once.`)) return;
      b.disabled = true;
      call("delete", "/api/v1/api-keys/{id}", { path: { id: k.id } })
        .then(refresh)
        .catch((e: unknown) => {
          b.disabled = false;
          b.after(errorBox(describe(e)));
        });
    });
    return b;
  }

  const name = input({ name: "name", required: true, maxlength: 100, placeholder: "e.g. CI dashboard" });
  const checks = SCOPES.map(([scope, label]) => {
    const box = input({ type: "checkbox", name: "scope", value: scope, checked: scope === "read" });
    return { scope, box, label: h("label", null, box, label) };
  });
  const days = input({ name: "days", type: "number", min: 1, max: 3650, placeholder: "never" });

  await refresh();
  return h(
    "section",
    null,
    h("h1", null, "API keys"),
    h("p", null, "Keys let scripts and tools use the API as you: send them as ", h("code", null, "Authorization: Bearer sfk_…"), "."),
    list,
    h("h2", null, "Create a key"),
    created,
    form(
      [
        field("Name", name),
        h("fieldset", { class: "checks" }, h("legend", null, "Scopes"), checks.map((c) => c.label)),
        field("Expires after (days, optional)", days),
      ],
      {
        submitLabel: "Create key",
        busyLabel: "Creating…",
        onSubmit: async () => {
          const scopes = checks.filter((c) => c.box.checked).map((c) => c.scope);
          if (scopes.length === 0) throw new Error("pick at least one scope");
          const k = await call("post", "/api/v1/api-keys", {
            body: { name: name.value.trim(), scopes, expires_in_days: days.value ? Number(days.value) : undefined },
          });
          replace(
            created,
            h(
              "div",
              { class: "alert ok", role: "status" },
              h("p", { style: "margin-top:0" }, `Key "${k.api_key.name}" created. Copy it now: it is not shown again.`),
              h("div", { class: "secret" }, h("code", { "data-new-key": "" }, k.key), copyButton(k.key)),
            ),
          );
          name.value = "";
          await refresh();
        },
      },
    ),
  );
}

function expired(k: ApiKey): boolean {
  return !!k.expires_at && Date.parse(k.expires_at) < Date.now();
}
