// Sign-in with email and password; goes back to the page that asked for it (an invitation link
// keeps its `#token=` through the trip). Links to the forgotten-password and sign-up pages.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call } from "../api";
import { signedIn, signedOutBecause } from "../state/auth";
import { useTitle } from "../state/context";
import { Field, Form, valueOf } from "../ui/form";

export function LoginPage() {
  useTitle("Sign in");
  const { query, route } = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const next = query.next;
  // Only same-site paths: never send people elsewhere after signing in.
  const target = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  return (
    <div class="card narrow">
      <h1 tabIndex={-1}>Sign in to SessionForge</h1>
      {signedOutBecause.value === "SIGNED_IN_ELSEWHERE" ? (
        <div class="alert warn" role="status" data-signed-out="elsewhere">
          You were signed out here because your account signed in somewhere else, and its plan allows only so many
          sign-ins at once. Sign in again to continue here (the oldest other sign-in then ends).
        </div>
      ) : null}
      <Form
        submitLabel="Sign in"
        busyLabel="Signing in…"
        fieldFor={(code) => (code === "INVALID_EMAIL" ? "email" : undefined)}
        onSubmit={async () => {
          await call("post", "/api/v1/auth/login", { body: { email: email.trim(), password } });
          signedIn(await call("get", "/api/v1/auth/me"));
          signedOutBecause.value = undefined;
          route(target, true);
        }}
      >
        <Field name="email" label="Email">
          {(p) => <input {...p} type="email" required autocomplete="username" value={email} onInput={(e) => setEmail(valueOf(e))} />}
        </Field>
        <Field name="password" label="Password">
          {(p) => (
            <input {...p} type="password" required autocomplete="current-password" value={password} onInput={(e) => setPassword(valueOf(e))} />
          )}
        </Field>
      </Form>
      <p class="muted login-links">
        <a href="/forgot-password">Forgot password?</a>
        <a href="/signup">Create an account</a>
      </p>
    </div>
  );
}
