// The terminal bundle (`term.js`): xterm.js and everything that drives it, loaded by the app only
// on pages with a terminal, so the rest of the dashboard stays small. (xterm's small stylesheet
// is part of app.css.)

export { TermView, MIN_FONT, type FitState } from "./view";
export { SessionViewer, type Conn, type PtySize, type SessionState, type ViewerHandlers } from "./viewer";
export { CastPlayer, parseCast, type Cast } from "./player";
export { keyBytes, type KeyName } from "./keys";
