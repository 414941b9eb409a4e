// Account settings: who you are, and changing your password.
import { call } from "../api";
import { load } from "../auth";
import type { Ctx } from "../context";
import { facts, h, replace, when } from "../dom";
import { field, form, input } from "../form";

export function accountPage(ctx: Ctx): Node {
  const u = ctx.me.user;
  const current = input({ name: "current", type: "password", required: true, autocomplete: "current-password" });
  const next = input({ name: "new", type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const again = input({ name: "again", type: "password", required: true, autocomplete: "new-password" });
  const done = h("div", { "aria-live": "polite" });
  return h(
    "section",
    null,
    h("h1", null, "Account"),
    facts([
      ["Email", u.email],
      ["Name", u.display_name],
      ["Server administrator", u.is_admin ? "yes" : "no"],
      ["Member since", when(u.created_at)],
    ]),
    h("h2", null, "Change password"),
    done,
    form([field("Current password", current), field("New password", next, "At least 10 characters."), field("New password again", again)], {
      submitLabel: "Change password",
      busyLabel: "Changing…",
      onSubmit: async () => {
        if (next.value !== again.value) throw new Error("the two new passwords differ");
        await call("put", "/api/v1/auth/password", { body: { current_password: current.value, new_password: next.value } });
        // Every other sign-in ended; this browser got a fresh cookie and CSRF token.
        await load();
        for (const i of [current, next, again]) i.value = "";
        replace(done, h("div", { class: "alert ok", role: "status" }, "Password changed. Other browsers were signed out."));
      },
    }),
  );
}
