//! `sessionforge-tray`: the tray app's entry point; everything lives in the library.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    no_gdk_gl();
    std::process::exit(sessionforge_tray::run());
}

/// GTK probes OpenGL when it opens the display, only to pick a visual for GL widgets, which the
/// tray never has (the settings page renders through WebKit's own EGL). With Mesa the probe maps
/// its LLVM-based driver, about 45 MB of resident memory for nothing. `GDK_GL=disable` skips it,
/// unless the user set `GDK_GL` themselves.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn no_gdk_gl() {
    if std::env::var_os("GDK_GL").is_none() {
        // SAFETY: the first thing `main` does, while this is the only thread.
        unsafe { std::env::set_var("GDK_GL", "disable") };
    }
}
