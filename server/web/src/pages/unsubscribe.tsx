// The page a notice mail's unsubscribe link opens: one button stops every notice by email (the
// link's token names the account and proves the link came from this server). No sign-in needed.
import { useState } from "preact/hooks";
import { call } from "../api";
import { useTitle } from "../state/context";
import { linkToken } from "../lib/link-token";
import { ErrorBox } from "../ui/bits";

export function UnsubscribePage() {
  useTitle("Unsubscribe");
  const token = linkToken();
  const [done, setDone] = useState(false);
  const [problem, setProblem] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  return (
    <div class="card narrow">
      <h1 tabIndex={-1}>Stop notices by email</h1>
      {done ? (
        <div class="alert ok" role="status">
          Done: SessionForge no longer mails you about sessions. Turn notices back on in your account settings.
        </div>
      ) : (
        <>
          <p>SessionForge will stop mailing you when sessions wait, finish or crash. Browser notifications stay as they are.</p>
          {problem ? <ErrorBox error={problem} /> : null}
          {!token ? <ErrorBox error={new Error("this link is incomplete: open the whole link from the email")} /> : null}
          <button
            type="button"
            class="primary"
            disabled={!token || busy}
            onClick={async () => {
              setBusy(true);
              setProblem(undefined);
              try {
                await call("post", "/api/v1/auth/unsubscribe", { body: { token: token ?? "" } });
                setDone(true);
              } catch (e) {
                setProblem(e);
              } finally {
                setBusy(false);
              }
            }}
          >
            {busy ? "Unsubscribing…" : "Stop these emails"}
          </button>
        </>
      )}
    </div>
  );
}
