//! `sessionforge-tray`: the tray app's entry point; everything lives in the library.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    std::process::exit(sessionforge_tray::run());
}
