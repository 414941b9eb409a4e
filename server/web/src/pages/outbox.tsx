// The mail outbox (server administrators): whether an SMTP server is configured, and every mail
// with its state, attempts and last error, newest first. Failed mail can be tried again.
import { useState } from "preact/hooks";
import { call, type Schemas } from "../api";
import { usePage, useTitle } from "../state/context";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading, PageHead, When } from "../ui/bits";
import { valueOf } from "../ui/form";
import { DataTable } from "../ui/table";
import { toast } from "../ui/toast";

type Mail = Schemas["OutboxMailDto"];

const STATE_CLASS: Record<string, string> = { queued: "warn", sent: "ok", failed: "bad" };

export function OutboxPage() {
  useTitle("Mail outbox");
  const { me } = usePage();
  const [state, setState] = useState<"" | "queued" | "sent" | "failed">("");
  const [older, setOlder] = useState<{ mail: Mail[]; next: string | null; key: string }>({ mail: [], next: null, key: "" });
  const [problem, setProblem] = useState<unknown>();
  const first = useLoad(
    () => (me.user.is_admin ? call("get", "/api/v1/admin/outbox", { query: { mail_state: state || undefined } }) : Promise.resolve(undefined)),
    [state, me.user.is_admin],
  );
  if (!me.user.is_admin) {
    return (
      <section>
        <PageHead title="Mail outbox" />
        <p>Only server administrators see the outbox.</p>
      </section>
    );
  }
  const extra = older.key === state ? older : { mail: [], next: null, key: state };
  const mail = [...(first.data?.mail ?? []), ...extra.mail];
  const next = extra.mail.length ? extra.next : (first.data?.next_before ?? null);

  async function loadOlder(): Promise<void> {
    if (next == null) return;
    setProblem(undefined);
    try {
      const page = await call("get", "/api/v1/admin/outbox", { query: { mail_state: state || undefined, before: next } });
      setOlder({ mail: [...extra.mail, ...page.mail], next: page.next_before ?? null, key: state });
    } catch (e) {
      setProblem(e);
    }
  }

  async function retry(m: Mail): Promise<void> {
    setProblem(undefined);
    try {
      await call("post", "/api/v1/admin/outbox/{id}/retry", { path: { id: m.id } });
      toast(`Mail to ${m.to} queued again.`);
    } catch (e) {
      setProblem(e);
    }
    setOlder({ mail: [], next: null, key: "" });
    await first.reload();
  }

  return (
    <section>
      <PageHead title="Mail outbox" sub="Mail this server sends: invitations, address confirmations, password resets." />
      {first.data ? (
        first.data.smtp_configured ? (
          <div class="alert info" data-smtp="on">
            Mail goes out through <code class="wrap">{first.data.smtp}</code>.
          </div>
        ) : (
          <div class="alert warn" data-smtp="off">
            No SMTP server is configured (<code>email.smtp_url</code>), so nothing is sent. Invitation links are shown to the admin who
            creates them, to pass on by hand; people cannot confirm addresses or reset passwords by mail.
          </div>
        )
      ) : null}
      <div class="filters">
        <div>
          <label for="outbox-state">State</label>
          <select id="outbox-state" value={state} onChange={(e) => setState(valueOf(e) as "" | "queued" | "sent" | "failed")}>
            <option value="">all</option>
            <option value="queued">queued</option>
            <option value="sent">sent</option>
            <option value="failed">failed</option>
          </select>
        </div>
      </div>
      {problem ? <ErrorBox error={problem} /> : null}
      {first.error ? <ErrorBox error={first.error} /> : null}
      {!first.data ? (
        first.error ? null : <Loading />
      ) : (
        <>
          <DataTable
            caption="Mail outbox"
            rows={mail}
            rowKey={(m) => m.id}
            rowAttrs={(m) => ({ "data-mail": m.to, "data-state": m.state })}
            empty={state ? `No ${state} mail.` : "No mail yet."}
            columns={[
              { label: "To", primary: true, cell: (m) => <span class="wrap">{m.to}</span> },
              { label: "Kind", cell: (m) => m.template.replace(/_/g, " ") },
              { label: "State", cell: (m) => <span class={`badge ${STATE_CLASS[m.state] ?? "muted"}`}>{m.state}</span> },
              { label: "Attempts", cell: (m) => String(m.attempts) },
              { label: "Last error", cell: (m) => (m.last_error ? <span class="wrap small">{m.last_error}</span> : null) },
              { label: "Created", cell: (m) => <When iso={m.created_at} /> },
              {
                label: "Sent / next try",
                cell: (m) => (m.sent_at != null ? <When iso={m.sent_at} /> : m.next_attempt_at != null ? <When iso={m.next_attempt_at} /> : null),
              },
              {
                label: "Actions",
                actions: true,
                cell: (m) =>
                  m.state === "failed" ? (
                    <button type="button" class="small" aria-label={`Retry the mail to ${m.to}`} onClick={() => void retry(m)}>
                      Retry
                    </button>
                  ) : null,
              },
            ]}
          />
          {next != null ? (
            <div class="actions">
              <button type="button" onClick={() => void loadOlder()}>
                Load older
              </button>
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}
