// First-run setup: create the first administrator with the one-time token the server printed.
// Mistakes are shown under the field they are about (and that field gets focus): passwords that
// differ, a password the server finds too weak, a wrong or used token.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call, UserError } from "../api";
import { signedIn } from "../state/auth";
import { useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";

const FIELD_OF: Record<string, string> = {
  WEAK_PASSWORD: "password",
  INVALID_EMAIL: "email",
  INVALID_NAME: "display_name",
  INVALID_TOKEN: "token",
  INVALID_SETUP_TOKEN: "token",
};

export function SetupPage() {
  useTitle("Set up");
  const { query, route } = useLocation();
  const status = useLoad(() => call("get", "/api/v1/setup"), []);
  const [v, setV] = useState({ token: query.token ?? "", email: "", display_name: "", password: "", again: "" });
  const set = (k: keyof typeof v) => (e: Event) => setV({ ...v, [k]: valueOf(e) });

  if (status.error) return <ErrorBox error={status.error} />;
  if (!status.data) return <Loading />;
  if (!status.data.required) {
    return (
      <div class="card narrow">
        <h1 tabIndex={-1}>Setup is done</h1>
        <p>This server already has an administrator.</p>
        <a class="button primary" href="/login">
          Sign in
        </a>
      </div>
    );
  }
  return (
    <div class="card narrow">
      <h1 tabIndex={-1}>Set up SessionForge</h1>
      <p>Create the first administrator. The setup token was printed by the server when it started, and works once.</p>
      <Form
        submitLabel="Create administrator"
        busyLabel="Creating…"
        fieldFor={(code) => FIELD_OF[code]}
        onSubmit={async () => {
          if (v.password.length < 10) throw new UserError("Use at least 10 characters.", "password");
          if (v.password !== v.again) throw new UserError("The two passwords differ. Type the same password twice.", "again");
          await call("post", "/api/v1/setup", {
            body: { token: v.token.trim(), email: v.email.trim(), password: v.password, display_name: v.display_name.trim() || undefined },
          });
          signedIn(await call("get", "/api/v1/auth/me"));
          route("/", true);
        }}
      >
        <Field name="token" label="Setup token" hint="From the server's start-up output (the link you opened fills it in).">
          {(p) => <input {...p} class="mono" required autocomplete="off" value={v.token} onInput={set("token")} />}
        </Field>
        <Field name="email" label="Email">
          {(p) => <input {...p} type="email" required autocomplete="email" value={v.email} onInput={set("email")} />}
        </Field>
        <Field name="display_name" label="Name (optional)">
          {(p) => <input {...p} autocomplete="name" value={v.display_name} onInput={set("display_name")} />}
        </Field>
        <Field name="password" label="Password" hint="At least 10 characters.">
          {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.password} onInput={set("password")} />}
        </Field>
        <Field name="again" label="Password again">
          {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.again} onInput={set("again")} />}
        </Field>
      </Form>
    </div>
  );
}
