// The org's audit log (admins and owners): who did what and when, newest first, narrowed to one
// action if wanted, with older events a page at a time and the same selection as a CSV file.
import { useState } from "preact/hooks";
import { call, describe, fillPath, type Schemas } from "../api";
import { atLeast } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { valueOf } from "../ui/form";
import { DataTable } from "../ui/table";

type AuditEvent = Schemas["AuditEventDto"];

/** Actions worth offering in the filter's suggestions; any other can be typed. */
const COMMON_ACTIONS = [
  "member.removed",
  "member.role_changed",
  "invitation.created",
  "invitation.accepted",
  "invitation.revoked",
  "invitation.resent",
  "auth.sign_in",
  "auth.sign_in_failed",
];

/** A short, readable form of an event's before/after summary. */
function detailsText(d: unknown): string {
  if (d == null || (typeof d === "object" && Object.keys(d as object).length === 0)) return "";
  return typeof d === "string" ? d : JSON.stringify(d);
}

export function AuditPage() {
  useTitle("Audit log");
  const { org } = usePage();
  const [typed, setTyped] = useState("");
  const [action, setAction] = useState("");
  const [older, setOlder] = useState<{ events: AuditEvent[]; next: number | null; key: string }>({ events: [], next: null, key: "" });
  const [more, setMore] = useState<{ busy: boolean; error?: unknown }>({ busy: false });
  const key = `${org.id} ${action}`;
  const allowed = atLeast(org.role, "admin");
  const first = useLoad(
    () =>
      allowed
        ? call("get", "/api/v1/orgs/{org_id}/audit", { path: { org_id: org.id }, query: { action: action || undefined } })
        : Promise.resolve(undefined),
    [org.id, action, allowed],
  );
  if (!allowed) {
    return (
      <section>
        <PageHead title="Audit log" />
        <p>Your role in this org is {org.role}; admins and owners read its audit log.</p>
      </section>
    );
  }
  const extra = older.key === key ? older : { events: [], next: null, key };
  const events = [...(first.data?.events ?? []), ...extra.events];
  const next = extra.events.length ? extra.next : (first.data?.next_before ?? null);

  async function loadOlder(): Promise<void> {
    if (next == null) return;
    setMore({ busy: true });
    try {
      const page = await call("get", "/api/v1/orgs/{org_id}/audit", { path: { org_id: org.id }, query: { action: action || undefined, before: next } });
      setOlder({ events: [...extra.events, ...page.events], next: page.next_before ?? null, key });
      setMore({ busy: false });
    } catch (e) {
      setMore({ busy: false, error: e });
    }
  }

  const csv = fillPath("/api/v1/orgs/{org_id}/audit.csv", { org_id: org.id }) + (action ? `?${new URLSearchParams({ action })}` : "");
  return (
    <section>
      <PageHead title="Audit log" sub={`What happened in ${org.name}, newest first.`}>
        <a class="button" href={csv} download>
          Export CSV
        </a>
      </PageHead>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setAction(typed.trim());
        }}
      >
        <div>
          <label for="audit-action">Action</label>
          <input id="audit-action" list="audit-actions" placeholder="all actions" value={typed} onInput={(e) => setTyped(valueOf(e))} />
          <datalist id="audit-actions">
            {COMMON_ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </div>
        <div class="filter-buttons">
          <button type="submit">Filter</button>
          {action ? (
            <button
              type="button"
              onClick={() => {
                setTyped("");
                setAction("");
              }}
            >
              Show all
            </button>
          ) : null}
        </div>
      </form>
      {first.error ? <ErrorBox error={first.error} /> : null}
      {!first.data ? (
        first.error ? null : <Loading />
      ) : (
        <>
          <DataTable
            caption={`Audit log of ${org.name}`}
            rows={events}
            rowKey={(e) => String(e.seq)}
            rowAttrs={(e) => ({ "data-action": e.action })}
            empty={action ? `No "${action}" events.` : "Nothing recorded yet."}
            columns={[
              { label: "Action", primary: true, cell: (e) => <code>{e.action}</code> },
              { label: "When", cell: (e) => <When iso={e.at} /> },
              { label: "Who", cell: (e) => <span class="wrap">{e.actor || e.actor_kind}</span> },
              { label: "What", cell: (e) => (e.target_kind ? <span class="wrap">{`${e.target_kind} ${e.target_id ?? ""}`}</span> : null) },
              { label: "Details", cell: (e) => <span class="wrap mono small">{detailsText(e.details)}</span> },
              { label: "IP", cell: (e) => e.ip ?? null },
            ]}
          />
          {more.error ? <div class="alert error" role="alert">{describe(more.error)}</div> : null}
          {next != null ? (
            <div class="actions">
              <button type="button" disabled={more.busy} onClick={() => void loadOlder()}>
                {more.busy ? "Loading…" : "Load older"}
              </button>
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}
