// Forgotten passwords. "Forgot password" asks for a link and always answers the same way, whether
// or not an account has the address (nobody learns who has an account here). "Reset password" is
// the page that link opens: a new password, set with the link's token, then sign in with it.
import { useState } from "preact/hooks";
import { call, UserError } from "../api";
import { useTitle } from "../state/context";
import { linkToken } from "../lib/link-token";
import { ErrorBox } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";

/** The one answer to every request for a link. */
const SENT =
  "If an account has this address, we have sent it a link to choose a new password. The link works once and for a limited time.";

export function ForgotPasswordPage() {
  useTitle("Forgot password");
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  return (
    <div class="card narrow">
      <h1 tabIndex={-1}>Forgot your password?</h1>
      {sent ? (
        <>
          <div class="alert ok" role="status" data-sent>
            {SENT}
          </div>
          <p class="muted">Nothing arrived after a few minutes? Look in your spam folder, or ask an administrator.</p>
          <a class="button" href="/login">
            Back to sign in
          </a>
        </>
      ) : (
        <>
          <p>Type the address you sign in with, and we will mail you a link to choose a new password.</p>
          <Form
            submitLabel="Send link"
            busyLabel="Sending…"
            fieldFor={(code) => (code === "INVALID_EMAIL" ? "email" : undefined)}
            onSubmit={async () => {
              await call("post", "/api/v1/auth/password/forgot", { body: { email: email.trim() } });
              setSent(true);
            }}
          >
            <Field name="email" label="Email">
              {(p) => <input {...p} type="email" required autocomplete="username" value={email} onInput={(e) => setEmail(valueOf(e))} />}
            </Field>
          </Form>
          <p class="muted">
            Remembered it? <a href="/login">Sign in</a>.
          </p>
        </>
      )}
    </div>
  );
}

export function ResetPasswordPage() {
  useTitle("Choose a new password");
  const token = linkToken();
  const [v, setV] = useState({ password: "", again: "" });
  const [done, setDone] = useState(false);
  const set = (k: keyof typeof v) => (e: Event) => setV({ ...v, [k]: valueOf(e) });
  return (
    <div class="card narrow">
      <h1 tabIndex={-1}>Choose a new password</h1>
      {done ? (
        <>
          <div class="alert ok" role="status">
            Your password is changed. Sign in with it now.
          </div>
          <a class="button primary" href="/login">
            Sign in
          </a>
        </>
      ) : !token ? (
        <>
          <ErrorBox error={new UserError("This link is incomplete: open the whole link from the email, or copy all of it.")} />
          <a href="/forgot-password">Ask for a new link</a>
        </>
      ) : (
        <>
          <Form
            submitLabel="Set password"
            busyLabel="Saving…"
            fieldFor={(code) => (code === "WEAK_PASSWORD" ? "password" : undefined)}
            onSubmit={async () => {
              if (v.password.length < 10) throw new UserError("Use at least 10 characters.", "password");
              if (v.password !== v.again) throw new UserError("The two passwords differ. Type the same password twice.", "again");
              await call("post", "/api/v1/auth/password/reset", { body: { token, new_password: v.password } });
              setDone(true);
            }}
          >
            <Field name="password" label="New password" hint="At least 10 characters.">
              {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.password} onInput={set("password")} />}
            </Field>
            <Field name="again" label="New password again">
              {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.again} onInput={set("again")} />}
            </Field>
          </Form>
          <p class="muted">
            Link expired or used? <a href="/forgot-password">Ask for a new one</a>.
          </p>
        </>
      )}
    </div>
  );
}
