//! `latch-relay mcp`: an MCP server over stdio (rmcp, the official Rust SDK) with one tool,
//! `scaffold_web_pairing`, taking the inputs of `scaffold web-pairing`. A refused input is a
//! tool error the model reads (`isError`), not a protocol error.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler, ServiceExt};

use crate::scaffold::{self, Stack};

/// The tool's inputs: `scaffold web-pairing`'s flags.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaffoldInput {
    /// The integrator's server stack.
    pub stack: Stack,
    /// The app's route the embed script asks for a token (default /latch/pairing-token).
    pub token_route: Option<String>,
    /// The relay's public origin (default http://localhost:8787).
    pub relay_url: Option<String>,
    /// The tenant id, for the embed's connected state (default acme).
    pub tenant: Option<String>,
    /// A directory to write the files into (created if missing; nothing is overwritten).
    /// Without it the files come back as text only.
    pub out: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LatchMcp {
    tool_router: ToolRouter<Self>,
}

impl Default for LatchMcp {
    fn default() -> Self {
        Self { tool_router: Self::tool_router() }
    }
}

#[tool_router]
impl LatchMcp {
    #[tool(
        description = "Generate the app-side pieces of Latch one-click pairing for a web app: a server route that mints a pairing token with the API key from LATCH_API_KEY, and a page with the embed script tag and container, as a small runnable app for Express, axum or Flask."
    )]
    fn scaffold_web_pairing(&self, Parameters(input): Parameters<ScaffoldInput>) -> CallToolResult {
        let request = scaffold::Request {
            stack: input.stack,
            token_route: input.token_route.unwrap_or_else(|| scaffold::DEFAULT_TOKEN_ROUTE.into()),
            relay_url: input.relay_url.unwrap_or_else(|| scaffold::DEFAULT_RELAY_URL.into()),
            tenant_id: input.tenant.unwrap_or_else(|| "acme".into()),
        };
        let s = match scaffold::render(&request) {
            Ok(s) => s,
            Err(e) => return CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        };
        let mut text = scaffold::to_text(&s);
        if let Some(dir) = input.out {
            match scaffold::write(&s, std::path::Path::new(&dir)) {
                Ok(_) => text.push_str(&format!("\nWritten into {dir}. Run it: {}\n", input.stack.run_hint(&dir))),
                Err(e) => {
                    return CallToolResult::error(vec![ContentBlock::text(format!("cannot write into {dir}: {e}"))])
                }
            }
        }
        CallToolResult::success(vec![ContentBlock::text(text)])
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for LatchMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("latch-relay", env!("CARGO_PKG_VERSION")))
            .with_instructions("Scaffolding for apps that pair browsers through Latch: call scaffold_web_pairing.")
    }
}

/// Serves MCP on stdin/stdout until the client goes away. Logs go to stderr.
pub async fn serve_stdio() -> anyhow::Result<()> {
    let running = LatchMcp::default().serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
