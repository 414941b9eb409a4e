//! Exports the target triple this agent is built for (`SESSIONFORGE_TARGET`), so that `update`
//! asks the release manifest for the build that matches it.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=SESSIONFORGE_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
