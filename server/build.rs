//! Records the target triple the server is built for, so that at start it can publish the
//! agent build it finds beside its own binary under the right target (see `releases::bundled`).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=SESSIONFORGE_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SESSIONFORGE_VERSION");
}
