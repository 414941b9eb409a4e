// The compact org switcher: a button with the current org's name (cut short with an ellipsis,
// never wider than the sidebar), opening a menu of the user's orgs and "Create a team org".
import { useEffect, useRef, useState } from "preact/hooks";
import type { Me, Org } from "../api";
import { orgPath } from "../state/auth";
import { Icon } from "./icons";

export function OrgSwitcher({ me, org }: { me: Me; org: Org }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const outside = (e: Event) => {
      if (!box.current?.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        setOpen(false);
        (box.current?.querySelector("button") as HTMLButtonElement | null)?.focus();
      }
    };
    document.addEventListener("click", outside);
    document.addEventListener("keydown", esc);
    return () => {
      document.removeEventListener("click", outside);
      document.removeEventListener("keydown", esc);
    };
  }, [open]);
  return (
    <div class="org-switch" ref={box}>
      <button
        type="button"
        class="org-button"
        aria-haspopup="true"
        aria-expanded={open}
        aria-label={`Organisation: ${org.name}. Switch organisation`}
        title={org.name}
        onClick={() => setOpen(!open)}
      >
        <span class="org-name">{org.name}</span>
        <Icon name="chevron" size={16} />
      </button>
      {open ? (
        <div class="org-menu" role="menu" onClick={() => setOpen(false)}>
          {me.orgs.map((o) => (
            <a role="menuitem" key={o.id} href={orgPath(o, "/sessions")} aria-current={o.id === org.id ? "true" : undefined}>
              <span class="org-name">{o.name}</span>
              <span class="muted small">{o.personal ? "personal" : o.role}</span>
            </a>
          ))}
          <a role="menuitem" class="create" href="/orgs/new">
            Create a team org
          </a>
        </div>
      ) : null}
    </div>
  );
}
