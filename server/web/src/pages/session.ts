// One session: its live terminal with scrollback from the start, typing and resizing where the
// role allows (read-only otherwise, and it says so), stop, the `.cast` download, and a visible
// connection state: live, replaying, reconnecting, or a gap in the output.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { call, describe, type Machine, type Session } from "../api";
import { atLeast, orgPath, type Ctx } from "../context";
import { bytes, errorBox, facts, h, replace, when } from "../dom";
import { onChange } from "../events";
import { SessionViewer, type Conn, type ViewerHandlers } from "../terminal";
import { sessionTitle, sourceBadge, stateBadge } from "./common";

/** Lines of scrollback kept in the browser. */
const SCROLLBACK = 50_000;
/** A session with more stored output than this opens on its last bytes (fast to draw), with
 * the full history one click away. */
const INITIAL_TAIL = 1024 * 1024;

const CONN_TEXT: Record<Conn | "ended", [string, string]> = {
  ended: ["ended", "muted"],
  connecting: ["connecting…", "muted"],
  replaying: ["catching up…", "warn"],
  live: ["live", "ok"],
  reconnecting: ["reconnecting…", "warn"],
  closed: ["closed", "muted"],
};

function terminalTheme(): { background: string; foreground: string; cursor: string } {
  const css = getComputedStyle(document.documentElement);
  const bg = css.getPropertyValue("--term-bg").trim() || "#000000";
  const fg = css.getPropertyValue("--term-fg").trim() || "#ffffff";
  return { background: bg, foreground: fg, cursor: fg };
}

export async function sessionPage(ctx: Ctx): Promise<Node> {
  const org = ctx.org.id;
  const id = ctx.params.id;
  let session = await call("get", "/api/v1/orgs/{org_id}/sessions/{id}", { path: { org_id: org, id } });
  let machine: Machine | null = null;
  const mayWrite = atLeast(ctx.org.role, "member");

  const stateSlot = h("span", null, stateBadge(session));
  const connBadge = h("span", { class: "badge muted conn", role: "status", "aria-live": "polite" }, "");
  const gapNote = h("div", { "aria-live": "polite" });
  const notes = h("div", { "aria-live": "polite" });
  const details = h("div");
  const stopButton = h("button", { type: "button", class: "danger" }, "Stop session");
  const fitButton = h("button", { type: "button", title: "Resize the session's terminal to this window" }, "Fit to window");
  const readOnly = h("p", { class: "readonly-note", id: "readonly-note" }, "");
  let gapBytes = 0;

  function renderDetails(s: Session): void {
    replace(stateSlot, stateBadge(s));
    replace(
      details,
      facts([
        ["Machine", machine?.hostname ?? "unknown machine"],
        ["Kind", s.kind],
        ["Directory", s.cwd],
        ["Started", when(s.started_at)],
        ["Ended", when(s.ended_at)],
        ["PID", s.pid === undefined ? "" : String(s.pid)],
        ["Output", bytes(s.output_end)],
        ["Reason", s.reason ?? ""],
      ]),
    );
    const live = s.state === "running" || s.state === "starting";
    stopButton.disabled = !live || !mayWrite || s.source !== "relayed";
    stopButton.title = !mayWrite ? "Your role cannot stop sessions" : live ? "" : "The session has ended";
  }

  stopButton.addEventListener("click", () => {
    if (!confirm("Stop this session? Its process is ended on the machine.")) return;
    stopButton.disabled = true;
    call("post", "/api/v1/orgs/{org_id}/sessions/{id}/stop", { path: { org_id: org, id } })
      .then(() => replace(notes, h("div", { class: "alert info" }, "Stop requested.")))
      .catch((e: unknown) => {
        stopButton.disabled = false;
        replace(notes, errorBox(describe(e)));
      });
  });

  const head = h(
    "div",
    { class: "session-head" },
    h("h1", { class: "mono" }, sessionTitle(session)),
    sourceBadge(session),
    stateSlot,
    session.source === "relayed" ? connBadge : null,
  );
  const actions = h(
    "div",
    { class: "actions" },
    session.source === "relayed" ? [fitButton, stopButton] : null,
    session.source === "relayed"
      ? h("a", { class: "button", href: `/api/v1/orgs/${org}/sessions/${id}/cast`, download: `session-${id}.cast` }, "Download recording (.cast)")
      : null,
    h("a", { href: orgPath(org, "/sessions") }, "All sessions"),
  );
  renderDetails(session);
  // The machine's name is only for the details: fetch it without holding up the terminal.
  call("get", "/api/v1/orgs/{org_id}/machines/{id}", { path: { org_id: org, id: session.machine_id } })
    .then((m) => {
      machine = m;
      if (ctx.alive()) renderDetails(session);
    })
    .catch(() => {});
  const refetch = () => {
    call("get", "/api/v1/orgs/{org_id}/sessions/{id}", { path: { org_id: org, id } })
      .then((s) => {
        if (!ctx.alive()) return;
        session = s;
        renderDetails(s);
      })
      .catch(() => {});
  };
  ctx.onDispose(onChange(org, ["sessions"], refetch));

  if (session.source !== "relayed") {
    return h(
      "section",
      null,
      head,
      details,
      h(
        "p",
        { class: "alert info" },
        "SessionForge found this session running on the machine; its terminal is not relayed. To watch and drive it, start it through the agent: ",
        h("code", null, `sessionforge-agent wrap -- ${session.command}`),
      ),
      actions,
    );
  }

  const frame = h("div", { class: "terminal-frame", role: "region", "aria-label": "Terminal", "aria-describedby": "readonly-note" });
  const historyNote = h("div", { "aria-live": "polite" });
  let current: { term: Terminal; viewer: SessionViewer } | null = null;

  const handlers: ViewerHandlers = {
    conn(conn) {
      // Once the session has ended there is nothing live to follow, however healthy the socket.
      const ended = conn === "live" && !(session.state === "running" || session.state === "starting");
      const state = ended ? "ended" : conn;
      const [text, cls] = CONN_TEXT[state];
      connBadge.textContent = text;
      connBadge.className = `badge ${cls} conn`;
      connBadge.dataset.state = state;
    },
    attached(canInput) {
      if (current) current.term.options.disableStdin = !canInput;
      readOnly.textContent = canInput
        ? ""
        : mayWrite
          ? "Read-only: this sign-in cannot type into sessions."
          : `Read-only: your role in this org is ${ctx.org.role}; members and above can type.`;
      fitButton.hidden = !canInput;
    },
    gap(_offset, length) {
      gapBytes += length;
      replace(gapNote, h("div", { class: "alert error", "data-gap": String(gapBytes) }, `Gap in output: ${bytes(gapBytes)} could not be delivered and is missing here.`));
    },
    state(state, exitCode) {
      if (state !== session.state || exitCode !== session.exit_code) {
        session = { ...session, state, exit_code: exitCode ?? session.exit_code };
        renderDetails(session);
        // An ended session has more to show (end time, reason, final size): fetch it.
        if (state !== "running" && state !== "starting") refetch();
        if (connBadge.dataset.state === "live" && state !== "running" && state !== "starting") this.conn("live");
      }
    },
    error(code, message) {
      replace(notes, errorBox(`${message} (${code})`));
    },
  };

  /** Shows the session from `from` in a new terminal, replacing any earlier one. */
  function mount(from: number): void {
    if (current) {
      current.viewer.close();
      current.term.dispose();
    }
    frame.replaceChildren();
    gapBytes = 0;
    gapNote.replaceChildren();
    const term = new Terminal({
      cols: session.cols,
      rows: session.rows,
      scrollback: SCROLLBACK,
      convertEol: false,
      cursorBlink: false,
      disableStdin: true,
      fontSize: window.matchMedia("(max-width: 720px)").matches ? 11 : 13,
      fontFamily: 'ui-monospace, "SF Mono", Menlo, Consolas, monospace',
      theme: terminalTheme(),
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
    const viewer = new SessionViewer(term, (at) => `${wsBase}/api/v1/orgs/${org}/sessions/${id}/attach?from=${at}`, handlers);
    current = { term, viewer };
    // Tests and benchmarks look at the terminal through this handle.
    (window as unknown as { sessionforgeTerminal?: unknown }).sessionforgeTerminal = current;
    term.open(frame);
    viewer.connect(from);
    if (from > session.retained_from) {
      const more = h("button", { type: "button" }, "Load the full history");
      more.addEventListener("click", () => {
        replace(historyNote);
        mount(0);
      });
      replace(
        historyNote,
        h("div", { class: "alert info", "data-history": "tail" }, `Showing the last ${bytes(session.output_end - from)} of ${bytes(session.output_end)} of output. `, more),
      );
    } else if (session.retained_from > 0) {
      replace(historyNote, h("div", { class: "alert info" }, `Output before byte ${session.retained_from} is no longer stored (retention).`));
    }
  }

  fitButton.addEventListener("click", () => {
    if (!current) return;
    const fit = new FitAddon();
    current.term.loadAddon(fit);
    const dims = fit.proposeDimensions();
    fit.dispose();
    if (dims && dims.cols > 1 && dims.rows > 1) current.viewer.resize(dims.cols, dims.rows);
  });
  ctx.onDispose(() => {
    current?.viewer.close();
    current?.term.dispose();
  });

  const section = h("section", null, head, actions, notes, historyNote, gapNote, frame, readOnly, h("h2", null, "Details"), details);
  // xterm needs its element in the document before it can measure fonts: open it once the
  // page is on screen (after this function's caller has shown it). Long sessions open on their
  // latest output; the full history is one click away.
  const start = Math.max(session.retained_from, session.output_end - INITIAL_TAIL);
  window.setTimeout(() => {
    if (ctx.alive()) mount(start > 0 ? start : 0);
  }, 0);
  return section;
}
