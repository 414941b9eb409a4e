// The page an invitation link opens. It shows what the link offers (org, role, the invited
// address, whether it is still good), then either accepts it as the signed-in account, or lets a
// newcomer sign in first (and come back here, link and all) or create the invited address's
// account with a password: the link reached that address, so it needs no confirmation.
import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call, describe, UserError, type Schemas } from "../api";
import { loadMe, me, orgPath, signedIn, signOut } from "../state/auth";
import { useTitle } from "../state/context";
import { linkToken } from "../lib/link-token";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Facts, Loading, When } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";

type Invitation = Schemas["InvitationDto"];

export function AcceptInvitationPage() {
  useTitle("Invitation");
  const token = linkToken();
  const inv = useLoad(async () => {
    if (!token) throw new UserError("This link is incomplete: open the whole link from the email, or copy all of it.");
    return call("post", "/api/v1/invitations/lookup", { body: { token } });
  }, [token]);
  // Whether someone is signed in decides what the page offers.
  const m = me.value;
  useEffect(() => {
    if (m === undefined) loadMe().catch(() => {});
  }, [m]);

  if (inv.error) {
    return (
      <div class="card narrow">
        <h1 tabIndex={-1}>Invitation</h1>
        <ErrorBox error={inv.error} />
        <p>Ask whoever invited you to send a new invitation.</p>
      </div>
    );
  }
  if (!inv.data || m === undefined) return <Loading />;
  const i = inv.data;
  return (
    <div class="card narrow" data-invitation={i.state}>
      <h1 tabIndex={-1} class="wrap">
        Join {i.org_name}
      </h1>
      <Facts
        pairs={[
          ["Org", i.org_name],
          ["Role", i.role],
          ["For", <span class="wrap">{i.email}</span>],
          ["Invited by", i.invited_by],
          [i.state === "expired" ? "Expired" : "Expires", i.state === "pending" || i.state === "expired" ? <When iso={i.expires_at} /> : null],
        ]}
      />
      {i.state !== "pending" ? (
        <div class="alert warn" role="alert">
          {i.state === "accepted"
            ? "This invitation was already accepted."
            : i.state === "revoked"
              ? "This invitation was withdrawn."
              : "This invitation has expired."}{" "}
          Ask {i.invited_by || "an admin of the org"} for a new one.
        </div>
      ) : m ? (
        <AcceptAsMe inv={i} token={token} email={m.user.email} />
      ) : (
        <AcceptAsNew inv={i} token={token} />
      )}
    </div>
  );
}

function AcceptAsMe({ inv, token, email }: { inv: Invitation; token: string; email: string }) {
  const { route } = useLocation();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  async function accept(): Promise<void> {
    setBusy(true);
    setError(undefined);
    try {
      const done = await call("post", "/api/v1/invitations/accept", { body: { token } });
      await loadMe();
      route(orgPath(done.org_id, "/sessions"));
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }
  return (
    <>
      <p>
        You are signed in as <strong class="wrap">{email}</strong>.
        {email.toLowerCase() !== inv.email.toLowerCase() ? " The invitation was sent to another address; accepting adds this account." : null}
      </p>
      {error ? <div class="alert error" role="alert">{describe(error)}</div> : null}
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => void accept()}>
          {busy ? "Joining…" : `Join ${inv.org_name}`}
        </button>
        <button type="button" onClick={() => void signOut()}>
          Not you? Sign out
        </button>
      </div>
    </>
  );
}

function AcceptAsNew({ inv, token }: { inv: Invitation; token: string }) {
  const { route } = useLocation();
  const [v, setV] = useState({ display_name: "", password: "", again: "" });
  const set = (k: keyof typeof v) => (e: Event) => setV({ ...v, [k]: valueOf(e) });
  const back = `/invitations/accept${location.hash}`;
  return (
    <>
      <h2>Already have an account?</h2>
      <p>
        <a class="button" href={`/login?next=${encodeURIComponent(back)}`}>
          Sign in to accept
        </a>
      </p>
      <h2>New here? Create your account</h2>
      <p class="muted">
        Your account will be <span class="wrap">{inv.email}</span>.
      </p>
      <Form
        submitLabel="Create account and join"
        busyLabel="Joining…"
        fieldFor={(code) => (code === "WEAK_PASSWORD" ? "password" : code === "INVALID_NAME" ? "display_name" : undefined)}
        onSubmit={async () => {
          if (v.password.length < 10) throw new UserError("Use at least 10 characters.", "password");
          if (v.password !== v.again) throw new UserError("The two passwords differ. Type the same password twice.", "again");
          await call("post", "/api/v1/invitations/accept-new", {
            body: { token, password: v.password, display_name: v.display_name.trim() || undefined },
          });
          signedIn(await call("get", "/api/v1/auth/me"));
          route(orgPath(inv.org_id, "/sessions"), true);
        }}
      >
        <Field name="display_name" label="Name (optional)" hint="What other members see.">
          {(p) => <input {...p} autocomplete="name" maxLength={100} value={v.display_name} onInput={set("display_name")} />}
        </Field>
        <Field name="password" label="Password" hint="At least 10 characters.">
          {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.password} onInput={set("password")} />}
        </Field>
        <Field name="again" label="Password again">
          {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.again} onInput={set("again")} />}
        </Field>
      </Form>
    </>
  );
}
