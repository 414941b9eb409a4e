// The administrators' console: every org with the plan that applies, where it comes from
// (override, subscription, license, default), its subscription's status and usage; a plan
// override with a reason and an end; and, when the server bills through Stripe, the webhook
// event log with each event's state, error and payload, and replay for failed ones.
import { useState } from "preact/hooks";
import { call, type Schemas } from "../api";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";

type AdminOrg = Schemas["AdminOrgDto"];
type BillingEvent = Schemas["BillingEventDto"];

function Override({ org, onDone }: { org: AdminOrg; onDone: () => Promise<void> }) {
  const [plan, setPlan] = useState("team");
  const [reason, setReason] = useState("");
  const [until, setUntil] = useState("");
  return (
    <Form
      label={`Plan override for ${org.name}`}
      submitLabel="Set plan"
      busyLabel="Saving…"
      fieldFor={(code) => (code === "NOT_FOUND" ? "plan" : undefined)}
      extra={
        org.source === "override" ? (
          <button
            type="button"
            onClick={async () => {
              await call("delete", "/api/v1/admin/orgs/{org_id}/plan", { path: { org_id: org.id } });
              toast(`${org.name}: override removed.`);
              await onDone();
            }}
          >
            Remove override
          </button>
        ) : null
      }
      onSubmit={async () => {
        const body = { plan: plan.trim(), reason: reason.trim(), until: until ? new Date(`${until}T00:00:00Z`).toISOString() : undefined };
        await call("put", "/api/v1/admin/orgs/{org_id}/plan", { path: { org_id: org.id }, body });
        toast(`${org.name} is on the ${plan} plan.`);
        setReason("");
        await onDone();
      }}
    >
      <Field name="plan" label="Plan">
        {(p) => <input {...p} required value={plan} onInput={(e) => setPlan(valueOf(e))} />}
      </Field>
      <Field name="reason" label="Reason (kept in the audit log)">
        {(p) => <input {...p} required maxLength={200} value={reason} onInput={(e) => setReason(valueOf(e))} />}
      </Field>
      <Field name="until" label="Until (UTC; empty for no end)">
        {(p) => <input {...p} type="date" value={until} onInput={(e) => setUntil(valueOf(e))} />}
      </Field>
    </Form>
  );
}

function Events() {
  const events = useLoad(() => call("get", "/api/v1/admin/billing/events"), []);
  const [problem, setProblem] = useState<unknown>();
  async function replay(e: BillingEvent): Promise<void> {
    setProblem(undefined);
    try {
      const r = await call("post", "/api/v1/admin/billing/events/{id}/replay", { path: { id: e.id } });
      toast(`${e.id}: ${r.outcome}${r.detail ? ` (${r.detail})` : ""}`, r.outcome === "failed" ? "error" : "ok");
    } catch (err) {
      setProblem(err);
    }
    await events.reload();
  }
  return (
    <>
      <h2>Stripe webhook events</h2>
      {problem ? <ErrorBox error={problem} /> : null}
      {events.error ? <ErrorBox error={events.error} /> : null}
      {!events.data ? (
        events.error ? null : <Loading />
      ) : (
        <DataTable
          caption="Webhook events"
          rows={events.data}
          rowKey={(e) => e.id}
          rowAttrs={(e) => ({ "data-event": e.id, "data-state": e.state })}
          empty="No events received yet."
          columns={[
            { label: "Event", primary: true, cell: (e) => <span class="wrap">{e.type}</span> },
            { label: "Id", cell: (e) => <code class="wrap">{e.id}</code> },
            { label: "State", cell: (e) => <span class={`badge ${e.state === "failed" ? "bad" : e.state === "processed" ? "ok" : "warn"}`}>{e.state}</span> },
            { label: "Error", cell: (e) => (e.error ? <span class="wrap">{e.error}</span> : null) },
            { label: "Received", cell: (e) => <When iso={e.received_at} /> },
            {
              label: "Payload",
              cell: (e) => (
                <details>
                  <summary>Show</summary>
                  <pre class="payload">{e.payload}</pre>
                </details>
              ),
            },
            {
              label: "Actions",
              actions: true,
              cell: (e) =>
                e.state === "failed" ? (
                  <button type="button" class="small" aria-label={`Replay ${e.id}`} onClick={() => void replay(e)}>
                    Replay
                  </button>
                ) : null,
            },
          ]}
        />
      )}
    </>
  );
}

export function AdminOrgsPage() {
  useTitle("Orgs and plans");
  const { me } = usePage();
  const admin = me.user.is_admin;
  const orgs = useLoad(() => (admin ? call("get", "/api/v1/admin/orgs") : Promise.resolve(undefined)), [admin]);
  const [editing, setEditing] = useState<string | null>(null);
  if (!admin) {
    return (
      <section>
        <PageHead title="Orgs and plans" />
        <p>Only server administrators see every org.</p>
      </section>
    );
  }
  const chosen = orgs.data?.find((o) => o.id === editing);
  return (
    <section>
      <PageHead title="Orgs and plans" sub="Every org on this server, the plan that applies and where it comes from." />
      {orgs.error ? <ErrorBox error={orgs.error} /> : null}
      {!orgs.data ? (
        orgs.error ? null : <Loading />
      ) : (
        <DataTable
          caption="Orgs"
          rows={orgs.data}
          rowKey={(o) => o.id}
          rowAttrs={(o) => ({ "data-org": o.name, "data-org-id": o.id, "data-source": o.source })}
          empty="No orgs."
          columns={[
            { label: "Org", primary: true, cell: (o) => <span class="wrap">{o.name}</span> },
            { label: "Plan", cell: (o) => o.plan },
            { label: "From", cell: (o) => (o.ends_at ? <span>{o.source}, until <When iso={o.ends_at} /></span> : o.source) },
            { label: "Subscription", cell: (o) => o.subscription_status ?? "none" },
            { label: "Members", cell: (o) => String(o.members) },
            { label: "Machines", cell: (o) => String(o.machines) },
            { label: "API calls (month)", cell: (o) => o.api_calls_this_month.toLocaleString() },
            {
              label: "Actions",
              actions: true,
              cell: (o) => (
                <button type="button" class="small" aria-label={`Change the plan of ${o.name}`} onClick={() => setEditing(o.id)}>
                  Change plan
                </button>
              ),
            },
          ]}
        />
      )}
      {chosen ? (
        <article class="card" data-override-for={chosen.name}>
          <h2>Plan of {chosen.name}</h2>
          <Override
            org={chosen}
            onDone={async () => {
              setEditing(null);
              await orgs.reload();
            }}
          />
        </article>
      ) : null}
      {me.billing ? <Events /> : null}
    </section>
  );
}
