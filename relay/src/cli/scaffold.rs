//! `latch-relay scaffold`: starter code for integrators (no database).

use anyhow::Context;
use clap::Subcommand;
use latch_relay::scaffold;

#[derive(Subcommand)]
pub enum ScaffoldCmd {
    /// The app-side route that mints pairing tokens (API key from LATCH_API_KEY), and a page
    /// with the embed script tag and container: printed, or written with --out.
    WebPairing {
        #[arg(long, value_enum)]
        stack: scaffold::Stack,
        /// The app's route the embed script asks for a token.
        #[arg(long, default_value = scaffold::DEFAULT_TOKEN_ROUTE)]
        token_route: String,
        /// The relay's public origin.
        #[arg(long, default_value = scaffold::DEFAULT_RELAY_URL)]
        relay_url: String,
        /// The tenant id (for the embed's connected state).
        #[arg(long, default_value = "acme")]
        tenant: String,
        /// Write the files into this directory (created if missing; nothing is overwritten).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

pub fn run(c: ScaffoldCmd) -> anyhow::Result<()> {
    let ScaffoldCmd::WebPairing { stack, token_route, relay_url, tenant, out } = c;
    let s = scaffold::render(&scaffold::Request { stack, token_route, relay_url, tenant_id: tenant })?;
    let Some(dir) = out else {
        print!("{}", scaffold::to_text(&s));
        return Ok(());
    };
    let written = scaffold::write(&s, &dir).with_context(|| format!("cannot write into {}", dir.display()))?;
    for path in written {
        println!("wrote {}", path.display());
    }
    println!("run it: {}", stack.run_hint(&dir.display().to_string()));
    println!("the script tag and container, for a page of your own:\n{}", s.snippet);
    Ok(())
}
