//! `latch-relay scaffold web-pairing`: the app-side pieces of one-click pairing for an
//! integrator's stack — a server route that mints a pairing token with the API key from the
//! environment, and a page with the embed script tag and its container — as a small app
//! that runs as generated. The same rendering serves the CLI and the MCP tool.
//!
//! Inputs end up inside string literals of generated JavaScript, Python and Rust, so they
//! are held to shapes that need no escaping in any of them.

use std::fmt;

use rmcp::schemars::JsonSchema;

/// The stacks a scaffold exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(crate = "rmcp::schemars")]
pub enum Stack {
    Express,
    Axum,
    Flask,
}

impl Stack {
    pub const ALL: [Stack; 3] = [Stack::Express, Stack::Axum, Stack::Flask];

    /// How to run what was written into `dir`.
    pub fn run_hint(self, dir: &str) -> String {
        match self {
            Stack::Express => format!("cd {dir} && npm install && LATCH_API_KEY=lak_… node server.js"),
            Stack::Axum => format!("cd {dir} && LATCH_API_KEY=lak_… cargo run --release"),
            Stack::Flask => format!(
                "cd {dir} && python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && LATCH_API_KEY=lak_… .venv/bin/python app.py"
            ),
        }
    }
}

/// What a scaffold is made for.
#[derive(Debug, Clone)]
pub struct Request {
    pub stack: Stack,
    /// The app's own route the embed script asks for a token (`/latch/pairing-token`).
    pub token_route: String,
    /// The relay's public origin (`https://latch.example.com`).
    pub relay_url: String,
    /// The tenant id, for the embed's status frame.
    pub tenant_id: String,
}

pub const DEFAULT_TOKEN_ROUTE: &str = "/latch/pairing-token";
pub const DEFAULT_RELAY_URL: &str = "http://localhost:8787";

/// One generated file, its path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: &'static str,
    pub contents: String,
}

/// A scaffold: the files of a runnable app, and the snippet for a page of one's own.
#[derive(Debug, Clone)]
pub struct Scaffold {
    pub files: Vec<File>,
    pub snippet: String,
}

/// Why an input can't be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// A path of `/`-separated segments of letters, digits, `-`, `_`, `.` and `~`: nothing that
/// needs quoting in a URL, an HTML attribute or a string literal of any generated language.
fn valid_route(route: &str) -> bool {
    route.len() <= 200
        && route.starts_with('/')
        && !route.contains("//")
        && route.split('/').all(|s| s != "." && s != "..")
        && route.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'-' | b'_' | b'.' | b'~'))
}

/// Checks the inputs and renders the scaffold.
pub fn render(req: &Request) -> Result<Scaffold, Invalid> {
    if !valid_route(&req.token_route) || req.token_route == "/" {
        return Err(Invalid(format!(
            "--token-route {:?} must be a path like /latch/pairing-token (letters, digits, - _ . ~ and /)",
            req.token_route
        )));
    }
    let relay_url = req.relay_url.trim_end_matches('/');
    if !crate::http::is_plain_origin(relay_url) {
        return Err(Invalid(format!(
            "--relay-url {:?} must be an origin like https://latch.example.com",
            req.relay_url
        )));
    }
    if !crate::db::valid_tenant_id(&req.tenant_id) {
        return Err(Invalid(format!("--tenant {:?} must be a tenant id (1–64 of a-z 0-9 _ -)", req.tenant_id)));
    }
    let snippet = format!(
        "<script src=\"{relay_url}/embed.js\" data-latch-token-url=\"{}\" data-latch-tenant=\"{}\"></script>\n<div data-latch-connect></div>",
        req.token_route, req.tenant_id
    );
    let fill = |template: &str| {
        template
            .replace("{{RELAY_URL}}", relay_url)
            .replace("{{TENANT_ID}}", &req.tenant_id)
            .replace("{{TOKEN_ROUTE}}", &req.token_route)
            .replace("{{SNIPPET}}", &snippet)
    };
    let files = match req.stack {
        Stack::Express => vec![
            File { path: "package.json", contents: include_str!("scaffold/express.package.json").to_owned() },
            File { path: "server.js", contents: fill(include_str!("scaffold/express.js")) },
        ],
        Stack::Axum => vec![
            File { path: "Cargo.toml", contents: include_str!("scaffold/axum.Cargo.toml").to_owned() },
            File { path: "src/main.rs", contents: fill(include_str!("scaffold/axum.rs")) },
        ],
        Stack::Flask => vec![
            File { path: "requirements.txt", contents: include_str!("scaffold/flask.requirements.txt").to_owned() },
            File { path: "app.py", contents: fill(include_str!("scaffold/flask.py")) },
        ],
    };
    Ok(Scaffold { files, snippet })
}

/// The scaffold as text to read: each file under a `==> path <==` line, then the snippet.
pub fn to_text(s: &Scaffold) -> String {
    let mut out = String::new();
    for f in &s.files {
        out.push_str(&format!("==> {} <==\n{}\n", f.path, f.contents.trim_end()));
    }
    out.push_str(&format!("==> the script tag and container, for a page of your own <==\n{}\n", s.snippet));
    out
}

/// Writes the scaffold under `dir` (created if missing). Refuses to overwrite a file.
pub fn write(s: &Scaffold, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let targets: Vec<_> = s.files.iter().map(|f| dir.join(f.path)).collect();
    if let Some(existing) = targets.iter().find(|p| p.exists()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists; choose an empty directory", existing.display()),
        ));
    }
    for (f, path) in s.files.iter().zip(&targets) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &f.contents)?;
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(stack: Stack) -> Request {
        Request {
            stack,
            token_route: DEFAULT_TOKEN_ROUTE.into(),
            relay_url: "https://latch.example.com/".into(),
            tenant_id: "acme".into(),
        }
    }

    #[test]
    fn every_stack_fills_every_placeholder() {
        for stack in Stack::ALL {
            let s = render(&request(stack)).unwrap();
            for f in &s.files {
                assert!(!f.contents.contains("{{"), "{stack:?} {}: a placeholder is left", f.path);
            }
            let server = &s.files[1].contents;
            assert!(server.contains("\"https://latch.example.com\""), "{stack:?}: relay url");
            assert!(server.contains("\"/latch/pairing-token\""), "{stack:?}: route");
            assert!(server.contains("LATCH_API_KEY"), "{stack:?}: the key comes from the environment");
            assert!(server.contains(&s.snippet), "{stack:?}: the page carries the snippet");
        }
    }

    #[test]
    fn inputs_that_would_need_escaping_are_refused() {
        for route in [
            "",
            "/",
            "latch",
            "/a b",
            "/a\"b",
            "/a'b",
            "/a`b",
            "/${x}",
            "/a#b",
            "/a?b",
            "//evil.example",
            "/a/../b",
            "/\u{e9}",
        ] {
            let r = Request { token_route: route.into(), ..request(Stack::Express) };
            assert!(render(&r).is_err(), "route {route:?}");
        }
        for url in ["latch.example.com", "javascript:alert(1)", "https://a.example/path", "https://a\".example", ""] {
            let r = Request { relay_url: url.into(), ..request(Stack::Flask) };
            assert!(render(&r).is_err(), "relay url {url:?}");
        }
        for tenant in ["", "Acme", "a\"b", "a b", &"a".repeat(65)] {
            let r = Request { tenant_id: tenant.into(), ..request(Stack::Axum) };
            assert!(render(&r).is_err(), "tenant {tenant:?}");
        }
        let ok = Request { token_route: "/api/v1/latch-token_2.json".into(), ..request(Stack::Express) };
        assert!(render(&ok).is_ok());
    }

    #[test]
    fn writing_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let s = render(&request(Stack::Axum)).unwrap();
        let written = write(&s, dir.path()).unwrap();
        assert_eq!(written.len(), 2);
        assert!(dir.path().join("src/main.rs").exists());
        let err = write(&s, dir.path()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    }
}
