// The phone key bar, above the on-screen keyboard: Esc, Tab, a sticky Ctrl (it applies to the
// next key, typed or pressed here), arrows, and the user's extra keys. Its buttons never take
// focus, so the keyboard stays open while they are pressed.
import type { KeyName } from "../term/keys";
import { loadKeys, parseKey } from "./keybar-config";

export interface KeyBarProps {
  ctrl: boolean;
  onCtrl: (on: boolean) => void;
  onKey: (name: KeyName) => void;
  onText: (bytes: string) => void;
}

/** Keeps focus (and the keyboard) on the terminal when a bar key is pressed. */
const keepFocus = (e: Event) => e.preventDefault();

export function KeyBar(props: KeyBarProps) {
  const extra = loadKeys().map(parseKey).filter((k) => k !== null);
  const key = (label: string, name: KeyName, aria?: string) => (
    <button type="button" onPointerDown={keepFocus} onMouseDown={keepFocus} onClick={() => props.onKey(name)} aria-label={aria ?? label}>
      {label}
    </button>
  );
  return (
    <div class="keybar" role="toolbar" aria-label="Terminal keys">
      {key("Esc", "Esc", "Escape")}
      {key("Tab", "Tab")}
      <button
        type="button"
        class={props.ctrl ? "latched" : undefined}
        aria-pressed={props.ctrl}
        onPointerDown={keepFocus}
        onMouseDown={keepFocus}
        onClick={() => props.onCtrl(!props.ctrl)}
        aria-label="Control (applies to the next key)"
      >
        Ctrl
      </button>
      {key("←", "Left", "Left arrow")}
      {key("↑", "Up", "Up arrow")}
      {key("↓", "Down", "Down arrow")}
      {key("→", "Right", "Right arrow")}
      {extra.map((k) => (
        <button type="button" key={k.label} onPointerDown={keepFocus} onMouseDown={keepFocus} onClick={() => props.onText(k.bytes)} aria-label={`Key ${k.label}`}>
          {k.label}
        </button>
      ))}
    </div>
  );
}
