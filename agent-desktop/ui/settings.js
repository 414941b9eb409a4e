// The tray's settings and enrollment window. Plain JavaScript over Tauri's global API (no build
// step): it reads the agent's settings from the Rust side, enrolls the machine, signs it out,
// and saves preferences. Every failure is shown in words.
"use strict";

const invoke = (cmd, args) => window.__TAURI__.core.invoke(cmd, args);
const $ = (id) => document.getElementById(id);

function show(kind, text) {
  const box = document.createElement("div");
  box.className = `alert ${kind}`;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.textContent = text;
  $("message").replaceChildren(box);
}

function errorText(e) {
  return typeof e === "string" ? e : e && e.message ? e.message : "Something went wrong.";
}

/** Pulls server, token and fingerprint out of an install line, an enroll command or a URL. */
function parseLink(text) {
  const out = {};
  const token = /(?:--token[ =]|SESSIONFORGE_TOKEN=['"]?|[?&]token=)(sfe_[A-Za-z0-9]+)/.exec(text);
  if (token) out.token = token[1];
  const server = /--server[ =](\S+)/.exec(text) || /(https?:\/\/[^\s/'"]+)/.exec(text);
  if (server) out.server = server[1].replace(/\/+$/, "");
  const fp = /--fingerprint[ =]([0-9A-Fa-f:]{95})/.exec(text);
  if (fp) out.fingerprint = fp[1].toUpperCase();
  const key = /--signing-key-id[ =]([0-9a-f]{16})/.exec(text);
  if (key) out.signingKeyId = key[1];
  return out;
}

function renderStatus(s) {
  $("status").textContent = s.status_line;
  $("enroll-section").hidden = s.enrolled;
  $("machine-section").hidden = !s.enrolled;
  const facts = [
    ["Server", s.server_url || "—"],
    ["Machine", s.hostname],
    ["Machine id", s.machine_id || "—"],
    ["Credential kept in", s.credential_location || "—"],
    ["Agent version", s.version],
  ];
  $("machine-facts").replaceChildren(
    ...facts.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      return [dt, dd];
    }),
  );
}

function renderPrefs(p) {
  $("autostart").checked = p.autostart;
  $("notify-ended").checked = p.notify_ended;
  $("notify-failed").checked = p.notify_failed;
  $("notify-waiting").checked = p.notify_waiting;
  const known = new Set(p.known_clis);
  $("clis").replaceChildren(
    ...p.known_clis.map((name) => {
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = name;
      box.checked = p.clis.includes(name);
      label.append(box, ` ${name}`);
      return label;
    }),
  );
  $("extra-cli").value = p.clis.filter((c) => !known.has(c)).join(", ");
}

async function refresh() {
  try {
    const s = await invoke("settings");
    renderStatus(s.status);
    renderPrefs(s.preferences);
  } catch (e) {
    show("error", errorText(e));
  }
}

$("link").addEventListener("input", () => {
  const found = parseLink($("link").value);
  if (found.server) $("server").value = found.server;
  if (found.token) $("token").value = found.token;
  if (found.fingerprint) $("fingerprint").value = found.fingerprint;
  signingKeyId = found.signingKeyId ?? null;
});

/** The release key id the pasted install line names, checked at enrollment. */
let signingKeyId = null;

/** The fingerprint in an "unverified certificate" refusal, if that is what the error is. */
function unverifiedFingerprint(text) {
  const m = /fingerprint is\s+([0-9A-F:]{95})/.exec(text);
  return m ? m[1] : null;
}

$("enroll-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = ev.submitter;
  button.disabled = true;
  try {
    const server = $("server").value.trim();
    const token = $("token").value.trim();
    let fingerprint = $("fingerprint").value.trim() || null;
    let said;
    try {
      said = await invoke("enroll", { server, token, fingerprint, signingKeyId });
    } catch (e) {
      // A certificate this system does not trust is never pinned silently: the person compares
      // the fingerprint with the one the server printed, and only then is it trusted.
      const shown = fingerprint ? null : unverifiedFingerprint(errorText(e));
      if (!shown) throw e;
      const ok = confirm(
        `The server's certificate is not trusted by this system (it may be self-signed). Its SHA-256 fingerprint is:\n\n${shown}\n\n` +
          "Compare it with the one the server printed at start (or the dashboard's Add machine page). Is it the same?",
      );
      if (!ok) throw e;
      fingerprint = shown;
      $("fingerprint").value = shown;
      said = await invoke("enroll", { server, token, fingerprint, signingKeyId });
    }
    $("token").value = "";
    $("link").value = "";
    show("ok", said);
    await refresh();
  } catch (e) {
    show("error", errorText(e));
  } finally {
    button.disabled = false;
  }
});

$("sign-out").addEventListener("click", async () => {
  if (!confirm("Sign out this machine? It stops relaying and forgets its credential; you need a new token to connect again.")) return;
  try {
    await invoke("sign_out");
    show("ok", "This machine is signed out.");
    await refresh();
  } catch (e) {
    show("error", errorText(e));
  }
});

$("prefs-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const checked = [...document.querySelectorAll("#clis input:checked")].map((b) => b.value);
  const extra = $("extra-cli").value.split(",").map((s) => s.trim()).filter(Boolean);
  const preferences = {
    autostart: $("autostart").checked,
    clis: [...new Set([...checked, ...extra])],
    notify_ended: $("notify-ended").checked,
    notify_failed: $("notify-failed").checked,
    notify_waiting: $("notify-waiting").checked,
  };
  try {
    show("ok", await invoke("save_preferences", { preferences }));
    await refresh();
  } catch (e) {
    show("error", errorText(e));
  }
});

window.__TAURI__.event.listen("status-changed", refresh);
refresh();
