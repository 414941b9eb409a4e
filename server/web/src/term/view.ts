// An xterm.js terminal that always shows the PTY's real size (cols × rows) and fits it to the
// screen by font size: as large as the base font allows, smaller on narrow screens down to a
// readable minimum, and below that it scrolls sideways (the page shows a cue). It refits by
// itself when its box changes size (window resize, rotation, sidebar changes). It never changes
// the PTY: `proposeSize` only says what would fit, for an explicit "Resize session to my window".
import { Terminal, type ITheme } from "@xterm/xterm";

/** Smallest font the terminal shrinks to before it scrolls sideways instead, in CSS pixels. */
export const MIN_FONT = 7;
/** Font sizes are chosen in steps of this many pixels. */
const STEP = 0.25;
/** Fit corrections after measuring the real width, at most. */
const MAX_CORRECTIONS = 8;
const FONT_FAMILY = 'ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';

export interface FitState {
  cols: number;
  rows: number;
  fontSize: number;
  /** Wider than its box even at the smallest font: it scrolls sideways. */
  overflow: boolean;
}

export interface ViewOptions {
  cols: number;
  rows: number;
  /** Font size when the box is wide enough, in CSS pixels. */
  baseFont: number;
  scrollback: number;
  theme: ITheme;
  onFit?: (state: FitState) => void;
}

let canvas: HTMLCanvasElement | null = null;

/** Width of one monospace cell per pixel of font size. */
function cellRatio(): number {
  canvas ??= document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  if (!ctx) return 0.6;
  ctx.font = `100px ${FONT_FAMILY}`;
  return ctx.measureText("W").width / 100 || 0.6;
}

export class TermView {
  readonly term: Terminal;
  private readonly scroller: HTMLDivElement;
  private readonly observer: ResizeObserver;
  private frame = 0;
  private corrections = 0;
  private lastWidth = -1;
  private state: FitState;

  constructor(
    private readonly host: HTMLElement,
    private readonly opts: ViewOptions,
  ) {
    this.scroller = document.createElement("div");
    this.scroller.className = "term-scroller";
    host.append(this.scroller);
    this.term = new Terminal({
      cols: Math.max(2, opts.cols),
      rows: Math.max(1, opts.rows),
      scrollback: opts.scrollback,
      fontSize: opts.baseFont,
      fontFamily: FONT_FAMILY,
      theme: opts.theme,
      disableStdin: true,
      cursorBlink: false,
      convertEol: false,
    });
    this.term.open(this.scroller);
    // Not a real state: the first fit always reports.
    this.state = { cols: 0, rows: 0, fontSize: 0, overflow: false };
    // Only a change of width matters: the height follows the font this picks.
    this.observer = new ResizeObserver(() => {
      if (this.host.clientWidth !== this.lastWidth) this.refit();
    });
    this.observer.observe(host);
    window.addEventListener("orientationchange", this.refit);
    this.fit();
  }

  get fitState(): FitState {
    return this.state;
  }

  /** Follows the PTY's size. */
  setSize(cols: number, rows: number): void {
    cols = Math.max(2, cols);
    rows = Math.max(1, rows);
    if (cols !== this.term.cols || rows !== this.term.rows) this.term.resize(cols, rows);
    this.fit();
  }

  /** Follows the PTY's size once everything written so far has been parsed, so that output
   * from before a resize is laid out at the size it was produced for. */
  setSizeInOrder(cols: number, rows: number): void {
    this.term.write("", () => this.setSize(cols, rows));
  }

  /** Refits on the next frame (many resize notices in one frame cost one fit). */
  refit = (): void => {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.fit());
  };

  /** The cols × rows that would fill the box at the base font, leaving `reserveBelow` pixels under it. */
  proposeSize(reserveBelow: number): { cols: number; rows: number } {
    const avail = this.availableWidth();
    const cell = this.cell();
    const scale = this.opts.baseFont / (this.term.options.fontSize ?? this.opts.baseFont);
    const top = this.scroller.getBoundingClientRect().top;
    const height = window.innerHeight - top - reserveBelow;
    const cols = Math.floor(avail / (cell.width * scale));
    const rows = Math.floor(height / (cell.height * scale));
    return { cols: Math.min(500, Math.max(20, cols)), rows: Math.min(200, Math.max(8, rows)) };
  }

  dispose(): void {
    cancelAnimationFrame(this.frame);
    this.observer.disconnect();
    window.removeEventListener("orientationchange", this.refit);
    this.term.dispose();
    this.scroller.remove();
  }

  /** The width the terminal itself may take: the host's, less the box drawn around it. */
  private availableWidth(): number {
    const host = getComputedStyle(this.host);
    const box = getComputedStyle(this.scroller);
    const around = ["paddingLeft", "paddingRight", "borderLeftWidth", "borderRightWidth"] as const;
    const inner = this.host.clientWidth - parseFloat(host.paddingLeft) - parseFloat(host.paddingRight);
    return inner - around.reduce((n, k) => n + (parseFloat(box[k]) || 0), 0);
  }

  /** The real size of one cell now, from the rendered screen. */
  private cell(): { width: number; height: number } {
    const screen = this.term.element?.querySelector(".xterm-screen")?.getBoundingClientRect();
    if (!screen || screen.width === 0) {
      const f = this.term.options.fontSize ?? this.opts.baseFont;
      return { width: f * cellRatio(), height: Math.ceil(f * 1.2) };
    }
    return { width: screen.width / this.term.cols, height: screen.height / this.term.rows };
  }

  private screenWidth(): number {
    return this.term.element?.querySelector(".xterm-screen")?.getBoundingClientRect().width ?? 0;
  }

  private apply(fontSize: number): void {
    if (this.term.options.fontSize !== fontSize) this.term.options.fontSize = fontSize;
  }

  /** Picks the font for the current box and PTY size, then checks it against the real width. */
  private fit(): void {
    const avail = this.availableWidth();
    if (avail <= 0) return;
    this.lastWidth = this.host.clientWidth;
    const ideal = avail / (this.term.cols * cellRatio());
    const font = Math.max(MIN_FONT, Math.min(this.opts.baseFont, Math.floor(ideal / STEP) * STEP));
    this.apply(font);
    this.corrections = 0;
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.check());
  }

  /** Cell widths round differently per font: shrink a step at a time until it really fits. */
  private check(): void {
    const avail = this.availableWidth();
    let font = this.term.options.fontSize ?? this.opts.baseFont;
    const width = this.screenWidth();
    if (width > avail + 0.5 && font > MIN_FONT && this.corrections++ < MAX_CORRECTIONS) {
      font = Math.max(MIN_FONT, font - STEP);
      this.apply(font);
      this.frame = requestAnimationFrame(() => this.check());
      return;
    }
    const overflow = width > avail + 0.5;
    this.host.classList.toggle("overflowing", overflow);
    const next = { cols: this.term.cols, rows: this.term.rows, fontSize: font, overflow };
    const s = this.state;
    this.state = next;
    if (s.cols !== next.cols || s.rows !== next.rows || s.fontSize !== next.fontSize || s.overflow !== next.overflow) {
      this.opts.onFit?.(next);
    }
  }
}
