// "Confirm your address": what an account sees between signing up and opening the mailed link.
// Until then the server refuses nearly everything with EMAIL_NOT_VERIFIED, so this replaces the
// dashboard instead of letting every page fail. It can send the link again, check again after the
// link was opened in another tab, or sign out (a mistyped address is fixed by signing up again).
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call, describe } from "../api";
import { loadMe, signOut } from "../state/auth";
import { useTitle } from "../state/context";

export function ConfirmAddress({ email }: { email: string }) {
  useTitle("Confirm your address");
  const { route } = useLocation();
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<{ text: string; ok: boolean } | null>(null);

  async function resend(): Promise<void> {
    setBusy(true);
    setSaid(null);
    try {
      const r = await call("post", "/api/v1/auth/verify-email/resend");
      setSaid({ text: r?.message ?? `A new link is on its way to ${email}.`, ok: true });
    } catch (e) {
      setSaid({ text: describe(e), ok: false });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="card narrow" data-page="confirm-address">
      <h1 tabIndex={-1}>Confirm your address</h1>
      <p>
        We sent a link to <strong class="wrap">{email}</strong>. Open it to finish setting up your account; until then the
        dashboard stays locked.
      </p>
      <p class="muted">Nothing arrived after a few minutes? Look in your spam folder, or send the link again.</p>
      {said ? (
        <div class={`alert ${said.ok ? "ok" : "error"}`} role={said.ok ? "status" : "alert"}>
          {said.text}
        </div>
      ) : null}
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => void resend()}>
          {busy ? "Sending…" : "Send the link again"}
        </button>
        <button type="button" onClick={() => void loadMe().then(() => route("/", true))}>
          I have confirmed it
        </button>
        <button type="button" onClick={() => void signOut().then(() => route("/login", true))}>
          Sign out
        </button>
      </div>
    </div>
  );
}
