// Account settings: who you are, your password and address, which session events notify you in the
// browser (stored on the server, so every browser you use follows them), and this device's
// terminal key bar.
import { useState } from "preact/hooks";
import { call, UserError, type Preferences } from "../api";
import { loadMe } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { prefs } from "../state/notices";
import { Facts, PageHead, When } from "../ui/bits";
import { Field, Form, valueOf } from "../ui/form";
import { toast } from "../ui/toast";
import { DEFAULT_KEYS, MAX_KEYS, loadKeys, parseKey, saveKeys } from "../terminal/keybar-config";

export function AccountPage() {
  useTitle("Account");
  const { me } = usePage();
  const u = me.user;
  return (
    <section>
      <PageHead title="Account" />
      <Facts
        pairs={[
          ["Email", u.email],
          ["Name", u.display_name],
          ["Server administrator", u.is_admin ? "yes" : "no"],
          ["Member since", <When iso={u.created_at} />],
        ]}
      />
      <Notifications key={prefs.value ? "saved" : "defaults"} />
      <KeyBarKeys />
      <Password />
      <Email current={u.email} />
    </section>
  );
}

const EVENTS: [keyof Preferences["notifications"]["browser"], string][] = [
  ["waiting_for_input", "A session is waiting for input"],
  ["finished", "A session finished"],
  ["crashed", "A session crashed or failed to start"],
];

function Notifications() {
  const current = prefs.value?.notifications?.browser ?? { waiting_for_input: true, finished: true, crashed: true };
  const [v, setV] = useState(current);
  const mailed = prefs.value?.notifications?.email ?? { waiting_for_input: false, finished: false, crashed: false, all_org_sessions: false };
  const [m, setM] = useState(mailed);
  const [permission, setPermission] = useState(typeof Notification === "undefined" ? "unsupported" : Notification.permission);
  return (
    <>
      <h2>Notifications</h2>
      <p>
        While a dashboard tab is open, the sessions of the org on screen notify you: a message in the page, a count in the tab's title, and
        a system notification when the tab is in the background and your browser allows it.
      </p>
      <p data-permission={permission}>
        {permission === "granted"
          ? "This browser shows SessionForge's notifications."
          : permission === "denied"
            ? "This browser blocks SessionForge's notifications; allow them in its site settings."
            : permission === "unsupported"
              ? "This browser cannot show system notifications."
              : null}
        {permission === "default" ? (
          <button type="button" onClick={() => void Notification.requestPermission().then(setPermission)}>
            Allow browser notifications
          </button>
        ) : null}
      </p>
      <Form
        submitLabel="Save notification settings"
        busyLabel="Saving…"
        onSubmit={async () => {
          prefs.value = await call("put", "/api/v1/auth/preferences", { body: { notifications: { browser: v, email: m } } });
          toast("Notification settings saved.");
        }}
      >
        <fieldset class="checks">
          <legend>Notify me when</legend>
          {EVENTS.map(([k, label]) => (
            <label key={k} class="check">
              <input type="checkbox" name={k} checked={v[k]} onChange={(e) => setV({ ...v, [k]: (e.currentTarget as HTMLInputElement).checked })} />
              {label}
            </label>
          ))}
        </fieldset>
        <fieldset class="checks">
          <legend>Email me when</legend>
          {EVENTS.map(([k, label]) => (
            <label key={k} class="check">
              <input
                type="checkbox"
                name={`email-${k}`}
                checked={m[k]}
                onChange={(e) => setM({ ...m, [k]: (e.currentTarget as HTMLInputElement).checked })}
              />
              {label}
            </label>
          ))}
          <label class="check">
            <input
              type="checkbox"
              name="email-all"
              checked={m.all_org_sessions}
              onChange={(e) => setM({ ...m, all_org_sessions: (e.currentTarget as HTMLInputElement).checked })}
            />
            for every session of my orgs, not only mine
          </label>
        </fieldset>
        <p class="hint">Mail about one session comes at most once every few minutes; every mail has an unsubscribe link.</p>
      </Form>
    </>
  );
}

function KeyBarKeys() {
  const [keys, setKeys] = useState(loadKeys().join(" "));
  return (
    <>
      <h2>Terminal key bar (this device)</h2>
      <p>On touch screens, a bar above the keyboard has Esc, Tab, Ctrl and arrows, then these keys.</p>
      <Form
        submitLabel="Save keys"
        onSubmit={async () => {
          const list = keys.split(/\s+/).filter(Boolean);
          const bad = list.find((k) => parseKey(k) === null);
          if (bad) throw new UserError(`"${bad}" is not a key: use one character, Enter, Space, Backspace or ^X for Ctrl-X.`, "keys");
          if (list.length > MAX_KEYS) throw new UserError(`At most ${MAX_KEYS} keys.`, "keys");
          saveKeys(list);
          toast("Key bar saved.");
        }}
        extra={
          <button type="button" onClick={() => setKeys(DEFAULT_KEYS.join(" "))}>
            Defaults
          </button>
        }
      >
        <Field name="keys" label="Extra keys" hint="Separated by spaces: one character, Enter, Space, Backspace, or ^X for Ctrl-X.">
          {(p) => <input {...p} class="mono" autocomplete="off" spellcheck={false} value={keys} onInput={(e) => setKeys(valueOf(e))} />}
        </Field>
      </Form>
    </>
  );
}

function Password() {
  const [v, setV] = useState({ current: "", next: "", again: "" });
  const set = (k: keyof typeof v) => (e: Event) => setV({ ...v, [k]: valueOf(e) });
  return (
    <>
      <h2>Change password</h2>
      <Form
        submitLabel="Change password"
        busyLabel="Changing…"
        fieldFor={(code) => (code === "WRONG_PASSWORD" ? "current" : code === "WEAK_PASSWORD" ? "next" : undefined)}
        onSubmit={async () => {
          if (v.next.length < 10) throw new UserError("Use at least 10 characters.", "next");
          if (v.next !== v.again) throw new UserError("The two new passwords differ.", "again");
          await call("put", "/api/v1/auth/password", { body: { current_password: v.current, new_password: v.next } });
          // Every other sign-in ended; this browser got a fresh cookie and CSRF token.
          await loadMe();
          setV({ current: "", next: "", again: "" });
          toast("Password changed. Other browsers were signed out.");
        }}
      >
        <Field name="current" label="Current password">
          {(p) => <input {...p} type="password" required autocomplete="current-password" value={v.current} onInput={set("current")} />}
        </Field>
        <Field name="next" label="New password" hint="At least 10 characters.">
          {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.next} onInput={set("next")} />}
        </Field>
        <Field name="again" label="New password again">
          {(p) => <input {...p} type="password" required autocomplete="new-password" value={v.again} onInput={set("again")} />}
        </Field>
      </Form>
    </>
  );
}

function Email({ current }: { current: string }) {
  const [v, setV] = useState({ email: "", password: "" });
  const [sent, setSent] = useState<string | null>(null);
  const set = (k: keyof typeof v) => (e: Event) => setV({ ...v, [k]: valueOf(e) });
  return (
    <>
      <h2>Change email address</h2>
      <p>
        Your address is <span class="wrap">{current}</span>. A link goes to the new address; until it is opened, the account keeps this
        one, which is told about the change.
      </p>
      {sent ? (
        <div class="alert ok" role="status">
          {sent}
        </div>
      ) : null}
      <Form
        submitLabel="Send the confirmation link"
        busyLabel="Sending…"
        fieldFor={(code) => (code === "WRONG_PASSWORD" ? "email-password" : code === "EMAIL_TAKEN" || code === "INVALID_EMAIL" ? "new-email" : undefined)}
        onSubmit={async () => {
          const r = await call("put", "/api/v1/auth/email", { body: { new_email: v.email.trim(), password: v.password } });
          setV({ email: "", password: "" });
          setSent(r.message);
        }}
      >
        <Field name="new-email" label="New address">
          {(p) => <input {...p} type="email" required autocomplete="email" value={v.email} onInput={set("email")} />}
        </Field>
        <Field name="email-password" label="Your password">
          {(p) => <input {...p} type="password" required autocomplete="current-password" value={v.password} onInput={set("password")} />}
        </Field>
      </Form>
    </>
  );
}
