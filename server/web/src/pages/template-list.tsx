// Templates as one-click starts: each shows its command line and starts it on the chosen
// machine at this window's size, then opens the new session.
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { call, describe, type Template } from "../api";
import { atLeast, orgPath } from "../state/auth";
import { usePage } from "../state/context";
import { joinArgs } from "../lib/format";
import { windowTermSize } from "../lib/term-size";
import { toast } from "../ui/toast";

export function TemplateList({ templates, machine, offline }: { templates: Template[]; machine: string; offline?: boolean }) {
  const { org } = usePage();
  const { route } = useLocation();
  const [busy, setBusy] = useState<string | null>(null);
  const may = atLeast(org.role, "member");
  async function start(t: Template): Promise<void> {
    setBusy(t.id);
    try {
      const s = await call("post", "/api/v1/orgs/{org_id}/templates/{id}/start", {
        path: { org_id: org.id, id: t.id },
        body: { machine_id: machine, ...windowTermSize() },
      });
      route(orgPath(org, `/sessions/${s.id}`));
    } catch (e) {
      toast(describe(e), "error");
      setBusy(null);
    }
  }
  return (
    <ul class="template-list" aria-label="Templates">
      {templates.map((t) => (
        <li key={t.id} data-template={t.name}>
          <div class="grow">
            <strong>{t.name}</strong>
            <code class="wrap">{[t.command, joinArgs(t.args)].filter(Boolean).join(" ")}</code>
            {t.cwd ? <span class="muted small">in {t.cwd}</span> : null}
            {t.env_names.length ? <span class="muted small">needs {t.env_names.join(", ")}</span> : null}
          </div>
          {may ? (
            <button type="button" class="primary" disabled={!machine || offline || busy !== null} onClick={() => void start(t)} aria-label={`Start ${t.name}`}>
              {busy === t.id ? "Starting…" : "Start"}
            </button>
          ) : null}
        </li>
      ))}
    </ul>
  );
}
