// Anything the app has no page for, or an org the user is not a member of.
import { useContext } from "preact/hooks";
import { PageContext, useTitle } from "../state/context";
import { orgPath } from "../state/auth";
import { PageHead } from "../ui/bits";

export function NotFound() {
  useTitle("Not found");
  const ctx = useContext(PageContext);
  return (
    <section>
      <PageHead title="Page not found" />
      <p>There is nothing here, or it belongs to an org you are not a member of.</p>
      {ctx ? <a href={orgPath(ctx.org, "/sessions")}>Go to your sessions</a> : <a href="/login">Sign in</a>}
    </section>
  );
}
