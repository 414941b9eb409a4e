// Sign-up, when the server takes new accounts. A server that takes them only by invitation, or
// not at all, says so (403 SIGNUP_INVITE_ONLY / SIGNUP_CLOSED) and the page shows that instead of
// the form. A new account is signed in but must confirm its address: the page then asks for that.
import { useState } from "preact/hooks";
import { ApiError, call, UserError } from "../api";
import { signedIn } from "../state/auth";
import { useTitle } from "../state/context";
import { Field, Form, valueOf } from "../ui/form";
import { ConfirmAddress } from "./confirm-address";

const FIELD_OF: Record<string, string> = {
  INVALID_EMAIL: "email",
  EMAIL_TAKEN: "email",
  INVALID_NAME: "display_name",
  WEAK_PASSWORD: "password",
};

/** Refusals that no change to the form can fix. */
const CLOSED = ["SIGNUP_INVITE_ONLY", "SIGNUP_CLOSED"];

export function SignupPage() {
  useTitle("Create an account");
  const [v, setV] = useState({ email: "", display_name: "", password: "", again: "" });
  const [closed, setClosed] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const set = (k: keyof typeof v) => (e: Event) => setV({ ...v, [k]: valueOf(e) });

  if (done) return <ConfirmAddress email={done} />;
  if (closed) {
    return (
      <div class="card narrow">
        <h1 tabIndex={-1}>{closed.code === "SIGNUP_INVITE_ONLY" ? "By invitation only" : "Sign-up is closed"}</h1>
        <div class="alert info" role="alert" data-code={closed.code}>
          {closed.message}
        </div>
        <p>
          Already have an account? <a href="/login">Sign in</a>.
        </p>
      </div>
    );
  }
  return (
    <div class="card narrow">
      <h1 tabIndex={-1}>Create an account</h1>
      <Form
        submitLabel="Create account"
        busyLabel="Creating…"
        fieldFor={(code) => FIELD_OF[code]}
        onSubmit={async () => {
          if (v.password.length < 10) throw new UserError("Use at least 10 characters.", "password");
          if (v.password !== v.again) throw new UserError("The two passwords differ. Type the same password twice.", "again");
          try {
            await call("post", "/api/v1/auth/signup", {
              body: { email: v.email.trim(), password: v.password, display_name: v.display_name.trim() || undefined },
            });
          } catch (e) {
            if (e instanceof ApiError && CLOSED.includes(e.code)) return setClosed(e);
            throw e;
          }
          const m = await call("get", "/api/v1/auth/me");
          signedIn(m);
          setDone(m.user.email);
        }}
      >
        <Field name="email" label="Email" hint="We send a link to it: the account works once you open it.">
          {(p) => <input {...p} type="email" required autocomplete="email" value={v.email} onInput={set("email")} />}
        </Field>
        <Field name="display_name" label="Name (optional)">
          {(p) => <input {...p} autocomplete="name" maxLength={100} value={v.display_name} onInput={set("display_name")} />}
        </Field>
        <Field name="password" label="Password" hint="At least 10 characters.">
          {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.password} onInput={set("password")} />}
        </Field>
        <Field name="again" label="Password again">
          {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.again} onInput={set("again")} />}
        </Field>
      </Form>
      <p class="muted">
        Already have an account? <a href="/login">Sign in</a>.
      </p>
    </div>
  );
}
