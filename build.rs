//! Renders the extension manifest from `manifest.json` and the configured connect origin,
//! and generates the Rust constant the background checks `sender.origin` against.
//! Both come from the one value `LATCH_CONNECT_ORIGIN`, so they can never disagree.

use std::{env, fs, path::PathBuf};

const DEFAULT_CONNECT_ORIGIN: &str = "http://localhost:8787";

fn main() {
    println!("cargo:rerun-if-env-changed=LATCH_CONNECT_ORIGIN");
    println!("cargo:rerun-if-changed=manifest.json");
    let origin = env::var("LATCH_CONNECT_ORIGIN").unwrap_or_else(|_| DEFAULT_CONNECT_ORIGIN.into());
    if let Err(why) = check_origin(&origin) {
        panic!("LATCH_CONNECT_ORIGIN={origin:?} is not a valid origin: {why}");
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(
        out.join("connect_origin.rs"),
        format!("/// The only origin allowed to message the extension (build-time).\npub const CONNECT_ORIGIN: &str = {origin:?};\n"),
    )
    .unwrap();

    // The rendered manifest goes to target/generated/, where tests/support/build.sh picks it up.
    let template = fs::read_to_string("manifest.json").expect("manifest.json");
    let rendered = template.replace("__CONNECT_ORIGIN__", &origin);
    let generated = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("target/generated");
    fs::create_dir_all(&generated).unwrap();
    fs::write(generated.join("manifest.json"), rendered).unwrap();
}

/// An origin is `scheme://host[:port]` with no path, query or fragment.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or("scheme must be http or https")?;
    if rest.is_empty() {
        return Err("missing host");
    }
    if rest.contains(['/', '?', '#', '*', '"', '\\', ' ']) {
        return Err("an origin has no path, query, fragment or wildcard");
    }
    Ok(())
}
