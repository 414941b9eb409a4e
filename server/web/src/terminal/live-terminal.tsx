// A session's live terminal: shown at the PTY's own size, fitted to the screen by font size (or
// scrolled sideways with a cue when even the smallest font is too wide), refitting on resize and
// rotation. "Resize session to my window" is an explicit action for those who can type; while a
// local `wrap` terminal holds the size it says so and asks before overriding it. On touch
// screens a key bar adds Esc, Tab, Ctrl, arrows and the user's extra keys.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Session } from "../api";
import type { Conn, FitState, KeyName, PtySize, SessionState, SessionViewer, TermView } from "../term/index";
import { confirmDialog } from "../ui/dialog";
import { toast } from "../ui/toast";
import { baseFont, loadTerm, terminalTheme, touchFirst } from "./load";
import { KeyBar } from "./keybar";
import { keyBytes } from "../term/keys";

/** Lines of scrollback kept in the browser. */
const SCROLLBACK = 50_000;
/** How often the received byte count is passed up while output flows. */
const OFFSET_EVERY_MS = 500;
/** Room left under the terminal when proposing a size (the key bar, or a margin). */
const KEYBAR_RESERVE = 72;
const MARGIN_RESERVE = 16;

export interface LiveEvents {
  onConn(conn: Conn): void;
  onState(state: SessionState, exitCode: number | undefined): void;
  onAttached(canInput: boolean): void;
  onGap(totalBytes: number): void;
  onOffset(offset: number): void;
}

export function LiveTerminal(props: { org: string; session: Session; from: number; live: boolean; events: LiveEvents }) {
  const host = useRef<HTMLDivElement>(null);
  const parts = useRef<{ view: TermView; viewer: SessionViewer } | null>(null);
  const [size, setSize] = useState<PtySize>({ cols: props.session.cols, rows: props.session.rows, locked: !!props.session.size_locked });
  const [fit, setFit] = useState<FitState | null>(null);
  const [canInput, setCanInput] = useState(false);
  const [ctrl, setCtrl] = useState(false);
  // On by default on touch screens; anyone who can type may toggle it.
  const [keysOn, setKeysOn] = useState(touchFirst);
  const [failed, setFailed] = useState<string | null>(null);
  const ev = useRef(props.events);
  ev.current = props.events;

  useEffect(() => {
    let gone = false;
    let gapTotal = 0;
    let timer = 0;
    loadTerm()
      .then((mod) => {
        if (gone || !host.current) return;
        const view = new mod.TermView(host.current, {
          cols: props.session.cols,
          rows: props.session.rows,
          baseFont: baseFont(),
          scrollback: SCROLLBACK,
          theme: terminalTheme(),
          onFit: setFit,
        });
        const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
        const url = (at: number) => `${wsBase}/api/v1/orgs/${props.org}/sessions/${props.session.id}/attach?from=${at}`;
        const viewer = new mod.SessionViewer(view.term, url, {
          conn: (c) => ev.current.onConn(c),
          attached: (can) => {
            view.term.options.disableStdin = !can;
            setCanInput(can);
            ev.current.onAttached(can);
          },
          size: (s) => {
            view.setSizeInOrder(s.cols, s.rows);
            setSize(s);
          },
          gap: (_o, len) => ev.current.onGap((gapTotal += len)),
          state: (s, code) => ev.current.onState(s, code),
          error: (code, message) => toast(`${message} (${code})`, "error"),
          ctrlReleased: () => setCtrl(false),
        });
        parts.current = { view, viewer };
        // Tests and benchmarks look at the terminal through this handle.
        (window as unknown as { sessionforgeTerminal?: unknown }).sessionforgeTerminal = { term: view.term, viewer, view };
        viewer.connect(props.from);
        let last = -1;
        timer = window.setInterval(() => {
          if (viewer.offset !== last) ev.current.onOffset((last = viewer.offset));
        }, OFFSET_EVERY_MS);
      })
      .catch(() => setFailed("The terminal could not be loaded. Reload the page to try again."));
    return () => {
      gone = true;
      window.clearInterval(timer);
      parts.current?.viewer.close();
      parts.current?.view.dispose();
      parts.current = null;
    };
  }, [props.session.id, props.from]);

  const showKeys = canInput && props.live && keysOn;

  // While the terminal has focus on a phone, the on-screen keyboard is up: the bottom bar makes
  // way for the key bar, which iOS (no interactive-widget) needs lifting above the keyboard.
  useEffect(() => {
    const el = host.current;
    const vv = window.visualViewport;
    if (!el || !showKeys) return;
    const inset = () => {
      const covered = vv ? Math.max(0, window.innerHeight - vv.height - vv.offsetTop) : 0;
      document.documentElement.style.setProperty("--kb-inset", `${Math.round(covered)}px`);
    };
    const focus = () => document.body.classList.add("typing");
    const blur = () => document.body.classList.remove("typing");
    el.addEventListener("focusin", focus);
    el.addEventListener("focusout", blur);
    vv?.addEventListener("resize", inset);
    vv?.addEventListener("scroll", inset);
    inset();
    return () => {
      el.removeEventListener("focusin", focus);
      el.removeEventListener("focusout", blur);
      vv?.removeEventListener("resize", inset);
      vv?.removeEventListener("scroll", inset);
      document.body.classList.remove("typing");
      document.documentElement.style.removeProperty("--kb-inset");
    };
  }, [showKeys]);

  async function resizeToWindow(): Promise<void> {
    const p = parts.current;
    if (!p) return;
    const want = p.view.proposeSize(showKeys ? KEYBAR_RESERVE : MARGIN_RESERVE);
    if (want.cols === size.cols && want.rows === size.rows) {
      toast(`The session is already ${size.cols}×${size.rows}, the size of this window.`, "info");
      return;
    }
    if (size.locked) {
      const ok = await confirmDialog({
        title: "Resize the session?",
        body: (
          <p>
            A local terminal (<code>sessionforge-agent wrap</code>) holds this session's size at {size.cols}×{size.rows}. Resizing to{" "}
            {want.cols}×{want.rows} changes it for everyone, that terminal included, until it is resized again.
          </p>
        ),
        confirmLabel: `Resize to ${want.cols}×${want.rows}`,
      });
      if (!ok) return;
      p.viewer.resize(want.cols, want.rows, true);
    } else {
      p.viewer.resize(want.cols, want.rows);
    }
    toast(`Resize to ${want.cols}×${want.rows} requested.`, "info");
  }

  const key = (name: KeyName) => {
    const p = parts.current;
    if (!p) return;
    const app = p.view.term.modes.applicationCursorKeysMode;
    const bytes = keyBytes(name, app, ctrl);
    p.viewer.setCtrl(false);
    setCtrl(false);
    p.viewer.input(bytes);
  };

  return (
    <div class="live-terminal">
      <div class="term-bar">
        <span class="term-size" data-size={`${size.cols}x${size.rows}`}>
          {size.cols}×{size.rows}
        </span>
        {size.locked ? (
          <span class="badge muted" data-size-locked="" title="Its size follows the terminal it runs in on the machine">
            size held by a local terminal
          </span>
        ) : null}
        {fit ? (
          <span class="muted small" data-font={fit.fontSize}>
            shown at {fit.fontSize} px
          </span>
        ) : null}
        <span class="grow" />
        {canInput && props.live ? (
          <>
            <button type="button" class="small" aria-pressed={keysOn} onClick={() => setKeysOn(!keysOn)} title="Esc, Tab, Ctrl, arrows and your extra keys">
              Key bar
            </button>
            <button type="button" class="small" onClick={() => void resizeToWindow()}>
              Resize session to my window
            </button>
          </>
        ) : null}
      </div>
      {fit?.overflow ? (
        <p class="scroll-cue" role="note">
          <span aria-hidden="true">⇆</span> Wider than your screen: scroll sideways to see all of it.
        </p>
      ) : null}
      {failed ? <div class="alert error">{failed}</div> : null}
      <div class="terminal-frame" ref={host} role="region" aria-label="Terminal" aria-describedby="readonly-note" />
      {showKeys ? (
        <KeyBar
          ctrl={ctrl}
          onCtrl={(on) => {
            setCtrl(on);
            parts.current?.viewer.setCtrl(on);
          }}
          onKey={key}
          onText={(bytes) => parts.current?.viewer.input(bytes)}
        />
      ) : null}
    </div>
  );
}
