// Replays an asciicast v2 recording (the session's `.cast`) in a terminal: play, pause, speed,
// seek to any time and jump to the end. Output (`o`) events are written as they come; resize
// (`r`, "COLSxROWS") events resize the terminal, so a TUI recorded across a resize replays at
// the right size. Seeking back starts again from the header's size and replays up to the target
// in one write per size, which is fast even for long sessions.
import type { TermView } from "./view";

export interface CastEvent {
  t: number;
  code: "o" | "r";
  data: string;
}

export interface Cast {
  width: number;
  height: number;
  events: CastEvent[];
  /** Seconds from the start to the last event. */
  duration: number;
}

/** Parses asciicast v2 text: a JSON header line, then one `[time, code, data]` array per line. */
export function parseCast(text: string): Cast {
  const lines = text.split("\n");
  const header = JSON.parse(lines[0] ?? "{}") as { width?: number; height?: number };
  const events: CastEvent[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      continue; // a cut-off last line of a recording still being written
    }
    if (!Array.isArray(ev) || typeof ev[0] !== "number" || typeof ev[2] !== "string") continue;
    if (ev[1] === "o" || ev[1] === "r") events.push({ t: ev[0], code: ev[1], data: ev[2] });
  }
  const duration = events.length ? events[events.length - 1].t : 0;
  return { width: header.width || 80, height: header.height || 24, events, duration };
}

/** "120x40" → [120, 40]; anything else → null. */
function parseSize(s: string): [number, number] | null {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export class CastPlayer {
  /** Index of the next event to apply. */
  private next = 0;
  private pos = 0;
  private playing = false;
  private rate = 1;
  private frame = 0;
  private wallStart = 0;
  private posStart = 0;

  constructor(
    private readonly view: TermView,
    readonly cast: Cast,
    private readonly onTick: (position: number, playing: boolean) => void,
  ) {
    this.view.setSize(cast.width, cast.height);
  }

  get position(): number {
    return this.pos;
  }

  get isPlaying(): boolean {
    return this.playing;
  }

  get speed(): number {
    return this.rate;
  }

  play(): void {
    if (this.playing) return;
    if (this.pos >= this.cast.duration) this.seek(0);
    this.playing = true;
    this.wallStart = performance.now();
    this.posStart = this.pos;
    this.frame = requestAnimationFrame(this.tick);
    this.onTick(this.pos, true);
  }

  pause(): void {
    this.playing = false;
    cancelAnimationFrame(this.frame);
    this.onTick(this.pos, false);
  }

  setSpeed(rate: number): void {
    this.posStart = this.pos;
    this.wallStart = performance.now();
    this.rate = rate;
  }

  /** Shows the recording as it was at `t` seconds. */
  seek(t: number): void {
    t = Math.max(0, Math.min(this.cast.duration, t));
    if (t < this.pos || this.next === 0) {
      // Reset in the write queue, so output still queued from before cannot land after it.
      this.view.term.write("\x1bc");
      this.view.setSizeInOrder(this.cast.width, this.cast.height);
      this.next = 0;
    }
    this.applyUntil(t);
    this.pos = t;
    this.posStart = t;
    this.wallStart = performance.now();
    this.onTick(t, this.playing);
  }

  /** Jumps to the end: the final screen. */
  end(): void {
    this.pause();
    this.seek(this.cast.duration);
  }

  dispose(): void {
    cancelAnimationFrame(this.frame);
    this.playing = false;
  }

  private tick = (now: number): void => {
    if (!this.playing) return;
    const t = Math.min(this.cast.duration, this.posStart + ((now - this.wallStart) / 1000) * this.rate);
    this.applyUntil(t);
    this.pos = t;
    if (t >= this.cast.duration) {
      this.playing = false;
      this.onTick(t, false);
      return;
    }
    this.onTick(t, true);
    this.frame = requestAnimationFrame(this.tick);
  };

  /** Applies every event up to `t`, batching output between resizes into one write. */
  private applyUntil(t: number): void {
    const events = this.cast.events;
    let out = "";
    while (this.next < events.length && events[this.next].t <= t) {
      const ev = events[this.next++];
      if (ev.code === "o") {
        out += ev.data;
      } else {
        if (out) this.view.term.write(out);
        out = "";
        const size = parseSize(ev.data);
        if (size) this.view.setSizeInOrder(size[0], size[1]);
      }
    }
    if (out) this.view.term.write(out);
  }
}
