//! Records the target triple the server is built for, so that at start it can publish the
//! agent build it finds beside its own binary under the right target (see `releases::bundled`).
//! The variable's name must not start with `SESSIONFORGE_`: cargo also sets it when it runs the
//! server (`cargo run`, tests), and every `SESSIONFORGE_*` variable is read as a setting.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=SF_SERVER_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SESSIONFORGE_VERSION");
}
