//! The tray icon for each state, embedded in the binary (made by `scripts/tray-icons.sh`).

use crate::state::Icon;

pub fn png(icon: Icon) -> &'static [u8] {
    match icon {
        Icon::Connected => include_bytes!("../icons/tray-connected.png"),
        Icon::Connecting => include_bytes!("../icons/tray-connecting.png"),
        Icon::Offline => include_bytes!("../icons/tray-offline.png"),
        Icon::UpdateAvailable => include_bytes!("../icons/tray-update.png"),
        Icon::Attention => include_bytes!("../icons/tray-attention.png"),
    }
}
