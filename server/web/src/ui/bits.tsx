// Small pieces every page uses: badges for session and machine state, a page heading with its
// actions, label/value facts, times with their exact value on hover, empty states, a loading
// line, an error box, and a box for a secret or command with a Copy button.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { describe, type Machine, type Session } from "../api";
import { ago } from "../lib/format";

const STATE_CLASS: Record<Session["state"], string> = {
  starting: "warn",
  running: "ok",
  exited: "muted",
  crashed: "bad",
  stale: "warn",
};

/** The session's state, with its exit code once it has one. */
export function StateBadge({ s }: { s: Pick<Session, "state" | "exit_code"> }) {
  const code = s.exit_code ?? null;
  const label = s.state === "exited" && code !== null ? `exited (${code})` : s.state;
  const cls = s.state === "exited" && code !== null && code !== 0 ? "bad" : STATE_CLASS[s.state];
  return <span class={`badge ${cls}`} data-state={s.state}>{label}</span>;
}

export function WaitingBadge({ s }: { s: Pick<Session, "state"> & { waiting_for_input?: boolean | null } }) {
  return s.waiting_for_input && (s.state === "running" || s.state === "starting") ? (
    <span class="badge attention" title="The program is waiting for input">
      waiting for input
    </span>
  ) : null;
}

export function OnlineBadge({ m }: { m: Machine }) {
  if (m.online) return <span class="badge ok">online</span>;
  if (m.last_seen_at == null) return <span class="badge warn" title="Enrolled, but its agent has never connected">never connected</span>;
  return <span class="badge muted">offline</span>;
}

export function SourceBadge({ s }: { s: Session }) {
  return s.source === "discovered" ? (
    <span class="badge discovered" title="Found running on the machine; its terminal is not relayed">
      discovered
    </span>
  ) : null;
}

export function PageHead(props: { title: ComponentChildren; children?: ComponentChildren; sub?: ComponentChildren }) {
  return (
    <div class="page-head">
      <div class="page-title">
        <h1 tabIndex={-1}>{props.title}</h1>
        {props.sub ? <p class="muted sub">{props.sub}</p> : null}
      </div>
      {props.children ? <div class="page-actions">{props.children}</div> : null}
    </div>
  );
}

/** Label/value pairs; pairs without a value are left out. */
export function Facts({ pairs }: { pairs: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {pairs
        .filter(([, v]) => v !== "" && v !== null && v !== undefined && v !== false)
        .map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
    </dl>
  );
}

export function When({ iso }: { iso?: string | null }) {
  if (iso == null) return null;
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()}>
      {ago(iso)}
    </time>
  );
}

export function Loading({ what = "Loading…" }: { what?: string }) {
  return <p class="muted loading">{what}</p>;
}

export function ErrorBox({ error }: { error: unknown }) {
  return (
    <div class="alert error" role="alert">
      {describe(error)}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/** A secret or a command on one line that scrolls inside its box, with a Copy button. */
export function CopyBox({ text, label = "Copy", testid }: { text: string; label?: string; testid?: string }) {
  const [said, setSaid] = useState(label);
  const copy = () => {
    const done = (msg: string) => {
      setSaid(msg);
      window.setTimeout(() => setSaid(label), 1500);
    };
    if (!navigator.clipboard) return done("Select and copy");
    navigator.clipboard.writeText(text).then(
      () => done("Copied"),
      () => done("Select and copy"),
    );
  };
  return (
    <div class="copybox">
      <code data-copy={testid}>{text}</code>
      <button type="button" onClick={copy}>
        {said}
      </button>
    </div>
  );
}
