// Replay in the browser: the session's recording (`.cast`) in a player with play/pause, speed,
// a time slider to seek, and "jump to the end"; the download stays one click away.
import { useEffect, useRef, useState } from "preact/hooks";
import { call, describe } from "../api";
import { orgPath } from "../state/auth";
import { usePage, useTitle } from "../state/context";
import { clock, sessionTitle } from "../lib/format";
import { useLoad } from "../lib/use-load";
import { ErrorBox, Loading, StateBadge } from "../ui/bits";
import { baseFont, loadTerm, terminalTheme } from "../terminal/load";
import type { CastPlayer, FitState, TermView } from "../term/index";

const SPEEDS = [0.5, 1, 2, 4, 8, 16];
/** The slider's resolution, in seconds. */
const SLIDER_STEP = 0.1;

export function ReplayPage({ id }: { id: string }) {
  const { org } = usePage();
  const session = useLoad(() => call("get", "/api/v1/orgs/{org_id}/sessions/{id}", { path: { org_id: org.id, id } }), [org.id, id]);
  useTitle(session.data ? `Replay: ${sessionTitle(session.data, 40)}` : "Replay");
  const castUrl = `/api/v1/orgs/${encodeURIComponent(org.id)}/sessions/${encodeURIComponent(id)}/cast`;
  const host = useRef<HTMLDivElement>(null);
  const player = useRef<CastPlayer | null>(null);
  const [pos, setPos] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(1);
  const [duration, setDuration] = useState<number | null>(null);
  const [fit, setFit] = useState<FitState | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** Recordings under a minute show tenths of a second, so a short one does not read 0:00 / 0:00. */
  const short = (duration ?? 0) < 60;

  useEffect(() => {
    let view: TermView | null = null;
    let gone = false;
    Promise.all([loadTerm(), fetch(castUrl, { credentials: "same-origin" })])
      .then(async ([mod, resp]) => {
        if (!resp.ok) throw new Error(`the recording could not be fetched (${resp.status})`);
        const cast = mod.parseCast(await resp.text());
        if (gone || !host.current) return;
        view = new mod.TermView(host.current, {
          cols: cast.width,
          rows: cast.height,
          baseFont: baseFont(),
          scrollback: 10_000,
          theme: terminalTheme(),
          onFit: setFit,
        });
        view.term.options.disableStdin = true;
        const p = new mod.CastPlayer(view, cast, (t, on) => {
          setPos(t);
          setPlaying(on);
        });
        player.current = p;
        (window as unknown as { sessionforgeTerminal?: unknown }).sessionforgeTerminal = { term: view.term, player: p, view };
        setDuration(cast.duration);
        p.play();
      })
      .catch((e: unknown) => setError(describe(e)));
    return () => {
      gone = true;
      player.current?.dispose();
      player.current = null;
      view?.dispose();
    };
  }, [castUrl]);

  const p = player.current;
  return (
    <section class="replay">
      <div class="session-head">
        <h1 class="mono" tabIndex={-1}>
          Replay: {session.data ? sessionTitle(session.data) : "…"}
        </h1>
        {session.data ? <StateBadge s={session.data} /> : null}
      </div>
      <div class="actions">
        <a href={orgPath(org, `/sessions/${id}`)}>Back to the session</a>
        <a class="button" href={castUrl} download={`session-${id}.cast`}>
          Download recording (.cast)
        </a>
      </div>
      {session.error ? <ErrorBox error={session.error} /> : null}
      {error ? <div class="alert error" role="alert">{error}</div> : null}
      {duration === null && !error ? <Loading what="Loading the recording…" /> : null}
      <div class="player-controls" role="group" aria-label="Player" hidden={duration === null}>
        <button type="button" class="primary" onClick={() => (playing ? p?.pause() : p?.play())} disabled={!p}>
          {playing ? "Pause" : "Play"}
        </button>
        <label class="inline">
          <span>Speed</span>
          <select
            value={String(speed)}
            onChange={(e) => {
              const v = Number((e.currentTarget as HTMLSelectElement).value);
              setSpeed(v);
              p?.setSpeed(v);
            }}
          >
            {SPEEDS.map((s) => (
              <option key={s} value={String(s)}>
                {s}×
              </option>
            ))}
          </select>
        </label>
        <input
          type="range"
          class="seek"
          aria-label="Position"
          min={0}
          max={duration ?? 0}
          step={SLIDER_STEP}
          value={pos}
          onInput={(e) => p?.seek(Number((e.currentTarget as HTMLInputElement).value))}
        />
        <span class="mono time" data-position={pos.toFixed(1)}>
          {clock(pos, short)} / {clock(duration ?? 0, short)}
        </span>
        <button type="button" onClick={() => p?.end()} disabled={!p}>
          Jump to the end
        </button>
      </div>
      {fit?.overflow ? (
        <p class="scroll-cue" role="note">
          <span aria-hidden="true">⇆</span> Wider than your screen: scroll sideways to see all of it.
        </p>
      ) : null}
      <div class="terminal-frame" ref={host} role="region" aria-label="Recording" />
      {fit ? (
        <p class="muted small" data-size={`${fit.cols}x${fit.rows}`}>
          {fit.cols}×{fit.rows}, shown at {fit.fontSize} px
        </p>
      ) : null}
    </section>
  );
}
