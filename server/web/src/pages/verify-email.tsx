// The page the "confirm your address" link opens: sends the link's token once and says how it went
// (confirmed, or why not: LINK_EXPIRED, LINK_USED, LINK_INVALID). No sign-in needed; when this
// browser is signed in as that account, the dashboard unlocks at once.
import { call } from "../api";
import { me } from "../state/auth";
import { useTitle } from "../state/context";
import { linkToken } from "../lib/link-token";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading } from "../ui/bits";

export function VerifyEmailPage() {
  useTitle("Confirm your address");
  const token = linkToken();
  const result = useLoad(async () => {
    if (!token) throw new Error("this link is incomplete: open the whole link from the email, or copy all of it");
    const user = await call("post", "/api/v1/auth/verify-email", { body: { token } });
    const m = me.value;
    if (m && m.user.id === user.id) me.value = { ...m, user };
    return user;
  }, [token]);

  return (
    <div class="card narrow">
      <h1 tabIndex={-1}>Confirm your address</h1>
      {result.error ? (
        <>
          <ErrorBox error={result.error} />
          <p>
            Sign in to ask for a new link; it is sent to the address on your account. <a href="/login">Sign in</a>
          </p>
        </>
      ) : !result.data ? (
        <Loading what="Confirming…" />
      ) : (
        <>
          <div class="alert ok" role="status">
            <span class="wrap">{result.data.email}</span> is confirmed. Thank you.
          </div>
          <a class="button primary" href="/">
            Go to the dashboard
          </a>
        </>
      )}
    </div>
  );
}
