// An org's billing (org admins and owners, when the server bills through Stripe): the
// subscription's plan and status, the trial's days left, the banner while a payment fails,
// seats paid against seats used, and the ways to change it: Stripe Checkout for a plan, the
// Customer Portal for cards, seats and invoices.
import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call } from "../api";
import { atLeast } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Facts, Loading, PageHead, When } from "../ui/bits";
import { valueOf } from "../ui/form";
import { toast } from "../ui/toast";

const STATUS: Record<string, [string, string]> = {
  trialing: ["trial", "ok"],
  active: ["active", "ok"],
  past_due: ["payment failed", "bad"],
  unpaid: ["unpaid", "bad"],
  canceled: ["canceled", "warn"],
  incomplete: ["incomplete", "warn"],
  incomplete_expired: ["expired", "warn"],
  paused: ["paused", "warn"],
};

export function BillingPage() {
  useTitle("Billing");
  const { org, me } = usePage();
  const { query } = useLocation();
  const allowed = me.billing && atLeast(org.role, "admin");
  const load = useLoad(
    () =>
      allowed
        ? Promise.all([
            call("get", "/api/v1/orgs/{org_id}/billing", { path: { org_id: org.id } }),
            call("get", "/api/v1/orgs/{org_id}/entitlements", { path: { org_id: org.id } }),
          ])
        : Promise.resolve(undefined),
    [org.id, allowed],
  );
  const [seats, setSeats] = useState("1");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>();
  useEffect(() => {
    if (query.checkout === "success") toast("Thank you. The plan applies as soon as Stripe confirms it.");
    if (query.checkout === "canceled") toast("Checkout canceled: nothing changed.", "info");
  }, [query.checkout]);
  if (!me.billing) {
    return (
      <section>
        <PageHead title="Billing" />
        <p>This server does not bill through Stripe.</p>
      </section>
    );
  }
  if (!allowed) {
    return (
      <section>
        <PageHead title="Billing" />
        <p>Your role in this org is {org.role}; admins and owners manage its billing.</p>
      </section>
    );
  }

  async function go(op: () => Promise<{ url: string }>): Promise<void> {
    setBusy(true);
    setProblem(undefined);
    try {
      const { url } = await op();
      window.location.assign(url);
    } catch (e) {
      setProblem(e);
      setBusy(false);
    }
  }

  const [b, e] = load.data ?? [];
  const usedSeats = e?.limits.find((l) => l.name === "seats")?.used;
  const [label, tone] = STATUS[b?.status ?? ""] ?? [b?.status ?? "", "warn"];
  return (
    <section>
      <PageHead title="Billing" sub="Plans, seats, cards and invoices, through Stripe." />
      {load.error ? <ErrorBox error={load.error} /> : null}
      {problem ? <ErrorBox error={problem} /> : null}
      {!b || !e ? (
        load.error ? null : <Loading />
      ) : (
        <>
          {b.status === "past_due" || b.status === "unpaid" ? (
            <div class="alert error" role="alert" data-past-due>
              A payment failed{b.past_due_since ? <> on <When iso={b.past_due_since} /></> : null}. The plan keeps working until{" "}
              {b.grace_until ? <When iso={b.grace_until} /> : "the grace period ends"}; update the card under Manage billing. Nothing is deleted either way.
            </div>
          ) : null}
          {b.status === "trialing" && b.trial_days_left != null ? (
            <div class="alert ok" role="status" data-trial>
              Trial: {b.trial_days_left} {b.trial_days_left === 1 ? "day" : "days"} left{b.trial_end ? <> (ends <When iso={b.trial_end} />)</> : null}.
            </div>
          ) : null}
          <div data-billing-plan={b.plan ?? "none"}>
            <Facts
              pairs={[
                ["Plan in effect", `${e.plan_name || e.plan} (${e.source})`],
                ["Subscription", b.plan ? <span>{b.plan} <span class={`badge ${tone}`}>{label}</span></span> : "none"],
                ["Seats", b.seats != null ? `${usedSeats ?? "?"} used of ${b.seats} paid` : usedSeats != null ? `${usedSeats} used` : null],
                ["Renews", b.period_end && b.status !== "canceled" ? <When iso={b.period_end} /> : null],
              ]}
            />
          </div>
          <div class="actions">
            {b.portal ? (
              <button type="button" disabled={busy} onClick={() => void go(() => call("post", "/api/v1/orgs/{org_id}/billing/portal", { path: { org_id: org.id } }))}>
                Manage billing
              </button>
            ) : null}
            <a href={`/orgs/${encodeURIComponent(org.id)}/usage`}>Usage against the plan</a>
          </div>
          <article class="card">
            <h2>Choose a plan</h2>
            {b.trial_available && b.trial_days > 0 ? <p class="muted">Starts with a {b.trial_days}-day trial, no card needed.</p> : null}
            <label class="inline">
              Seats{" "}
              <input type="number" min={1} max={10000} value={seats} onInput={(ev) => setSeats(valueOf(ev))} style={{ width: "6rem" }} />
            </label>
            <ul class="plan-choices">
              {b.prices.map((p) => (
                <li key={`${p.plan}-${p.interval}`}>
                  <button
                    type="button"
                    class="primary"
                    disabled={busy}
                    data-checkout={`${p.plan}-${p.interval}`}
                    onClick={() =>
                      void go(() =>
                        call("post", "/api/v1/orgs/{org_id}/billing/checkout", {
                          path: { org_id: org.id },
                          body: { plan: p.plan, interval: p.interval, seats: Math.max(1, Number(seats) || 1) },
                        }),
                      )
                    }
                  >
                    {p.plan}, {p.interval}
                  </button>
                </li>
              ))}
            </ul>
            {b.prices.length === 0 ? <p class="muted">No prices are configured on this server (billing.prices).</p> : null}
          </article>
        </>
      )}
    </section>
  );
}
