// The viewer socket (`/api/v1/orgs/{org}/sessions/{id}/attach?from=OFFSET`) feeding an xterm.js
// terminal. Output arrives as binary frames carrying their byte offset, so after any reconnect
// the viewer asks for exactly the next byte and nothing is shown twice or skipped.
//
// Flow control: bytes handed to xterm but not yet parsed are counted; above HIGH_WATER the
// viewer sends `pause` (the server stops sending and later resyncs it from storage), below
// LOW_WATER it sends `resume`. The page never buffers more than that, however fast the session.
//
// The PTY has one size, reported in `attached` and in `size` events (with `size_locked` while a
// local `wrap` terminal holds it). The viewer only changes it on an explicit `resize`.
import type { Terminal } from "@xterm/xterm";
import { withCtrl } from "./keys";

/** Unparsed bytes above which the server is asked to pause. */
const HIGH_WATER = 2 * 1024 * 1024;
/** Unparsed bytes below which a paused stream is resumed. */
const LOW_WATER = 256 * 1024;
/** Binary frame layout (see docs/protocol.md): kind, session id, offset, data. */
const FRAME_KIND_OUTPUT = 1;
const FRAME_HEADER = 25;
/** Reconnect delays grow from the first to the last, with jitter. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

export type Conn = "connecting" | "replaying" | "live" | "reconnecting" | "closed";
export type SessionState = "starting" | "running" | "exited" | "crashed" | "stale";

export interface PtySize {
  cols: number;
  rows: number;
  locked: boolean;
}

export interface ViewerHandlers {
  conn(state: Conn): void;
  attached(canInput: boolean): void;
  size(size: PtySize): void;
  gap(offset: number, length: number): void;
  state(state: SessionState, exitCode: number | undefined): void;
  error(code: string, message: string): void;
  /** The sticky Ctrl was used up by a key. */
  ctrlReleased?(): void;
}

type ViewerEvent =
  | { type: "attached"; can_input: boolean; state: SessionState; exit_code?: number | null; from: number; end: number; cols?: number; rows?: number; size_locked?: boolean }
  | { type: "size"; cols: number; rows: number; size_locked?: boolean }
  | { type: "gap"; offset: number; length: number }
  | { type: "state"; state: SessionState; exit_code?: number | null }
  | { type: "resync"; from: number }
  | { type: "live"; offset: number }
  | { type: "error"; code: string; message: string };

export class SessionViewer {
  /** Offset of the next byte the terminal needs. */
  private pos = 0;
  private pending = 0;
  private paused = false;
  private ws: WebSocket | null = null;
  private stopped = false;
  private attempt = 0;
  private seenOutput = false;
  private timer: number | undefined;
  private ctrl = false;
  canInput = false;

  constructor(
    private readonly term: Terminal,
    private readonly attachUrl: (from: number) => string,
    private readonly on: ViewerHandlers,
  ) {
    term.onData((data) => this.input(data));
  }

  /** Bytes of output received so far (the offset just past them). */
  get offset(): number {
    return this.pos;
  }

  /** Unparsed bytes waiting in the terminal (for flow-control measurements). */
  get backlog(): number {
    return this.pending;
  }

  /** Latches Ctrl for the next key typed or pressed on the key bar. */
  setCtrl(on: boolean): void {
    this.ctrl = on;
  }

  /** Sends what a key or the keyboard produced (members and above), applying a latched Ctrl. */
  input(data: string): void {
    if (!this.canInput) return;
    if (this.ctrl) {
      this.ctrl = false;
      data = withCtrl(data);
      this.on.ctrlReleased?.();
    }
    this.send({ type: "input", data });
  }

  /** Attaches from `from` (the first time) or from where the terminal is (after a reconnect). */
  connect(from?: number): void {
    if (from !== undefined) this.pos = from;
    if (this.stopped) return;
    this.on.conn(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.attachUrl(this.pos));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.paused = false;
    ws.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
      if (typeof ev.data === "string") this.event(ev.data);
      else this.output(ev.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.on.conn("reconnecting");
      const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt++);
      this.timer = window.setTimeout(() => this.connect(), delay / 2 + (Math.random() * delay) / 2);
    };
  }

  /** Asks to resize the session's PTY (members and above); `force` overrides a local terminal's hold. */
  resize(cols: number, rows: number, force = false): void {
    if (this.canInput) this.send(force ? { type: "resize", cols, rows, force } : { type: "resize", cols, rows });
  }

  close(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
    this.on.conn("closed");
  }

  private send(msg: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private event(text: string): void {
    let ev: ViewerEvent;
    try {
      ev = JSON.parse(text) as ViewerEvent;
    } catch {
      return;
    }
    switch (ev.type) {
      case "attached":
        performance.mark("sessionforge:attached");
        this.attempt = 0;
        this.canInput = ev.can_input;
        // Output before `from` is gone (retention): there is nothing to wait for below it.
        if (ev.from > this.pos) this.pos = ev.from;
        this.on.attached(ev.can_input);
        if (ev.cols != null && ev.rows != null) this.on.size({ cols: ev.cols, rows: ev.rows, locked: !!ev.size_locked });
        this.on.state(ev.state, ev.exit_code ?? undefined);
        this.on.conn(ev.end > this.pos ? "replaying" : "live");
        break;
      case "size":
        this.on.size({ cols: ev.cols, rows: ev.rows, locked: !!ev.size_locked });
        break;
      case "gap":
        if (ev.offset + ev.length > this.pos) {
          this.pos = ev.offset + ev.length;
          this.on.gap(ev.offset, ev.length);
        }
        break;
      case "state":
        this.on.state(ev.state, ev.exit_code ?? undefined);
        break;
      case "resync":
        this.on.conn("replaying");
        break;
      case "live":
        performance.mark("sessionforge:live");
        this.on.conn("live");
        break;
      case "error":
        this.on.error(ev.code, ev.message);
        break;
      default:
        break; // newer servers may send kinds this page does not know
    }
  }

  private output(buf: ArrayBuffer): void {
    if (buf.byteLength < FRAME_HEADER) return;
    const view = new DataView(buf);
    if (view.getUint8(0) !== FRAME_KIND_OUTPUT) return;
    const offset = Number(view.getBigUint64(17));
    const data = new Uint8Array(buf, FRAME_HEADER);
    const end = offset + data.length;
    if (end <= this.pos) return;
    const chunk = data.subarray(Math.max(0, this.pos - offset));
    if (!this.seenOutput) {
      this.seenOutput = true;
      performance.mark("sessionforge:first-output");
    }
    this.pos = end;
    this.pending += chunk.length;
    this.term.write(chunk, () => {
      this.pending -= chunk.length;
      if (this.paused && this.pending < LOW_WATER) {
        this.paused = false;
        this.send({ type: "resume" });
      }
    });
    if (!this.paused && this.pending > HIGH_WATER) {
      this.paused = true;
      this.send({ type: "pause" });
    }
  }
}
