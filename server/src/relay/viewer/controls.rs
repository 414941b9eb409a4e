//! What a viewer sends: its messages are read by a task of their own into a small queue
//! ([`read_controls`]), and handled between pages and live items: pause and resume, input and
//! resizes forwarded to the agent when the viewer's role allows, and a socket closed after too
//! many messages that cannot be parsed.

use std::io;

use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocketStream};
use sessionforge_shared::protocol::{MAX_TERM_DIM, ServerMessage, ViewerMessage};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use super::{MAX_PROTOCOL_ERRORS, Viewer, WRITE_TIMEOUT, WsResult, gone};

/// Largest input message a viewer may send.
const MAX_INPUT: usize = 64 * 1024;

/// What the reader task hands over.
pub(super) enum Control {
    Msg(ViewerMessage),
    Bad(String),
}

pub(super) async fn read_controls(mut stream: SplitStream<WebSocketStream>, tx: mpsc::Sender<Control>) {
    while let Some(msg) = stream.next().await {
        let control = match msg {
            Ok(Message::Text(text)) => match serde_json::from_str::<ViewerMessage>(&text) {
                Ok(ViewerMessage::Unknown) => {
                    tracing::debug!("ignoring an unknown message kind from a viewer");
                    continue;
                }
                Ok(m) => Control::Msg(m),
                Err(e) => Control::Bad(e.to_string()),
            },
            Ok(Message::Binary(_)) => Control::Bad("viewers send JSON text messages, not binary frames".into()),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        if tx.send(control).await.is_err() {
            break;
        }
    }
}

impl Viewer {
    /// Handles the viewer's waiting messages; while it is paused, waits until it resumes.
    pub(super) async fn controls_between_pages(&mut self) -> WsResult {
        loop {
            let control = if self.paused {
                self.ctrl.recv().await.ok_or_else(gone)?
            } else {
                match self.ctrl.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => return Err(gone()),
                }
            };
            self.control(control).await?;
        }
    }

    pub(super) async fn control(&mut self, control: Control) -> WsResult {
        match control {
            Control::Msg(ViewerMessage::Pause) => self.paused = true,
            Control::Msg(ViewerMessage::Resume) => self.paused = false,
            Control::Msg(m) => self.command(m).await?,
            Control::Bad(e) => {
                self.error("BAD_MESSAGE", &format!("cannot parse message: {e}")).await?;
                self.bad_messages += 1;
                if self.bad_messages >= MAX_PROTOCOL_ERRORS {
                    let close = Message::close_with(1008u16, "too many messages that could not be parsed");
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, self.sink.send(close)).await;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "too many protocol errors"));
                }
            }
        }
        Ok(())
    }

    async fn command(&mut self, msg: ViewerMessage) -> WsResult {
        let session_id = self.live.id;
        let input = matches!(msg, ViewerMessage::Input { .. });
        let to_agent = match msg {
            ViewerMessage::Input { data } if data.len() <= MAX_INPUT => ServerMessage::Input { session_id, data },
            ViewerMessage::Input { .. } => {
                return self.error("INPUT_TOO_LARGE", "input messages are limited to 64 KiB").await;
            }
            ViewerMessage::Resize { cols, rows, force } => {
                let dims = 1..=MAX_TERM_DIM;
                if !dims.contains(&cols) || !dims.contains(&rows) {
                    return self.error("BAD_SIZE", &format!("cols and rows must be 1 to {MAX_TERM_DIM}")).await;
                }
                if self.can_input && self.live.size().locked && !force {
                    return self
                        .error(
                            "SIZE_LOCKED",
                            "a local terminal holds this session's size; resize with force to override it",
                        )
                        .await;
                }
                ServerMessage::Resize { session_id, cols, rows }
            }
            _ => return Ok(()),
        };
        if !self.can_input {
            return self.error("READ_ONLY", "your role in this org can watch this session but not type into it").await;
        }
        if self.hub.send_to_owner(session_id, to_agent).is_err() {
            return self.error("NOT_CONNECTED", "the session's agent is not connected").await;
        }
        if input && let Some(entry) = self.typed.take() {
            // Once per socket: who typed into the session, never what.
            if let Err(e) = self.hub.store().audit(entry).await {
                tracing::error!(error = %e, "cannot record session input in the audit log");
            }
        }
        Ok(())
    }
}
