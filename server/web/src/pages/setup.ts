// First-run setup: create the first administrator with the one-time token the server printed.
import { call } from "../api";
import { signedIn } from "../auth";
import type { Ctx } from "../context";
import { h } from "../dom";
import { field, form, input } from "../form";
import { navigate } from "../router";

export async function setupPage(ctx: Ctx): Promise<Node> {
  const status = await call("get", "/api/v1/setup");
  if (!status.required) {
    return h(
      "div",
      { class: "card narrow" },
      h("h1", null, "Setup is done"),
      h("p", null, "This server already has an administrator."),
      h("a", { class: "button primary", href: "/login" }, "Sign in"),
    );
  }
  const token = input({ name: "token", required: true, autocomplete: "off", value: ctx.query.get("token") ?? "", class: "mono" });
  const email = input({ name: "email", type: "email", required: true, autocomplete: "email" });
  const name = input({ name: "display_name", autocomplete: "name" });
  const password = input({ name: "password", type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const again = input({ name: "password_again", type: "password", required: true, autocomplete: "new-password" });
  return h(
    "div",
    { class: "card narrow" },
    h("h1", null, "Set up SessionForge"),
    h("p", null, "Create the first administrator. The setup token was printed by the server when it started, and works once."),
    form(
      [
        field("Setup token", token, "From the server's start-up output (the link you opened fills it in)."),
        field("Email", email),
        field("Name (optional)", name),
        field("Password", password, "At least 10 characters."),
        field("Password again", again),
      ],
      {
        submitLabel: "Create administrator",
        busyLabel: "Creating…",
        onSubmit: async () => {
          if (password.value !== again.value) throw new Error("the two passwords differ");
          await call("post", "/api/v1/setup", {
            body: { token: token.value.trim(), email: email.value.trim(), password: password.value, display_name: name.value.trim() || undefined },
          });
          signedIn(await call("get", "/api/v1/auth/me"));
          navigate("/", true);
        },
      },
    ),
  );
}
