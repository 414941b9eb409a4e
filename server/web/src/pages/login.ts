// Sign-in with email and password; goes back to the page that asked for it.
import { call } from "../api";
import { signedIn } from "../auth";
import type { Ctx } from "../context";
import { h } from "../dom";
import { field, form, input } from "../form";
import { navigate } from "../router";

export function loginPage(ctx: Ctx): Node {
  const email = input({ name: "email", type: "email", required: true, autocomplete: "username" });
  const password = input({ name: "password", type: "password", required: true, autocomplete: "current-password" });
  const next = ctx.query.get("next");
  // Only same-site paths: never send people elsewhere after signing in.
  const target = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  return h(
    "div",
    { class: "card narrow" },
    h("h1", null, "Sign in to SessionForge"),
    form([field("Email", email), field("Password", password)], {
      submitLabel: "Sign in",
      busyLabel: "Signing in…",
      onSubmit: async () => {
        await call("post", "/api/v1/auth/login", { body: { email: email.value.trim(), password: password.value } });
        signedIn(await call("get", "/api/v1/auth/me"));
        navigate(target, true);
      },
    }),
  );
}
