//! `latch-relay mcp` with a real MCP client (rmcp over the child's stdin/stdout): the
//! initialize handshake, tools/list, and tools/call of scaffold_web_pairing.

use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::json;

fn text_of(content: &[ContentBlock]) -> String {
    content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect()
}

#[tokio::test]
async fn an_mcp_client_lists_and_calls_scaffold_web_pairing() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("never.db");
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_latch-relay")).configure(|c| {
        c.arg("--database").arg(format!("sqlite://{}", db_path.display())).arg("mcp");
    });
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("initialize handshake");

    let server = client.peer_info().expect("the server answered initialize");
    assert_eq!(server.server_info.as_ref().map(|i| i.name.as_str()), Some("latch-relay"));
    assert!(server.capabilities.tools.is_some(), "tools capability");

    let tools = client.list_all_tools().await.unwrap();
    let tool = tools.iter().find(|t| t.name == "scaffold_web_pairing").expect("the tool is listed");
    let schema = serde_json::to_value(tool.input_schema.as_ref()).unwrap();
    let schema_text = schema.to_string();
    for name in ["stack", "tokenRoute", "relayUrl", "tenant", "out"] {
        assert!(schema["properties"].get(name).is_some(), "input {name} in {schema_text}");
    }
    assert!(schema_text.contains("express") && schema_text.contains("axum") && schema_text.contains("flask"));

    let call = |args: serde_json::Value| {
        let mut params = CallToolRequestParams::new("scaffold_web_pairing");
        params.arguments = args.as_object().cloned();
        client.call_tool(params)
    };
    let ok = call(json!({"stack": "flask", "tokenRoute": "/api/latch-token", "tenant": "acme"})).await.unwrap();
    assert_ne!(ok.is_error, Some(true));
    let text = text_of(&ok.content);
    assert!(text.contains("==> app.py <=="), "{text}");
    assert!(text.contains(r#"@app.post("/api/latch-token")"#), "{text}");
    assert!(text.contains(r#"data-latch-token-url="/api/latch-token""#), "{text}");

    // Written like --out; a second call into the same directory overwrites nothing.
    let out = dir.path().join("app");
    let args = json!({"stack": "express", "out": out.to_str().unwrap()});
    let written = call(args.clone()).await.unwrap();
    assert_ne!(written.is_error, Some(true), "{}", text_of(&written.content));
    assert!(out.join("server.js").exists() && out.join("package.json").exists());
    let again = call(args).await.unwrap();
    assert_eq!(again.is_error, Some(true));
    assert!(text_of(&again.content).contains("already exists"));

    // A refused input is a tool error the caller can read, not a broken session.
    let bad = call(json!({"stack": "axum", "tokenRoute": "/x\"; drop"})).await.unwrap();
    assert_eq!(bad.is_error, Some(true));
    assert!(text_of(&bad.content).contains("--token-route"));
    let unknown = call(json!({"stack": "django"})).await.unwrap();
    assert_eq!(unknown.is_error, Some(true));
    assert!(text_of(&unknown.content).contains("expected one of `express`, `axum`, `flask`"));

    client.cancel().await.unwrap();
    assert!(!db_path.exists(), "mcp opened the database");
}
