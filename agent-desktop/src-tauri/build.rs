//! Tauri's build step: reads `tauri.conf.json` and the capabilities, and embeds the window
//! pages from `../ui` into the binary.

fn main() {
    tauri_build::build();
}
