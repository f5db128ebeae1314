//! `GET /openapi.json` (issue 21, item 8): the document is the router's own (generated
//! from the handlers' `#[utoipa::path]`, routed by `routes!` from that same attribute), so
//! these tests check what could still drift: a route added outside `routes!`, a method a
//! documented path answers that the document does not name, and an error code the relay
//! can answer that no operation documents. Schemathesis (tests/openapi/) then checks every
//! answer of a live relay against the document.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use axum::http::StatusCode;
use common::{fixture, rust_files};

/// HEAD is left out: axum answers it with the GET handler without the body (HTTP's HEAD),
/// except on the capture inbox, whose GET deletes what it hands over (405 there:
/// `captures.rs::a_head_request_drains_nothing`).
const METHODS: [&str; 6] = ["get", "post", "put", "patch", "delete", "options"];

/// Every `$ref` names a schema the document has: a generator stops at a dangling one.
#[test]
fn every_reference_resolves() {
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = serde_json::to_value(latch_relay::http::openapi()).unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50, "{} refs", found.len());
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "dangling $ref {r}");
    }
}

/// Client generators name methods after operation ids: each operation has one, unique.
#[test]
fn every_operation_has_a_unique_operation_id() {
    let doc = serde_json::to_value(latch_relay::http::openapi()).unwrap();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                assert!(ids.insert(id.to_owned()), "{method} {path}: operationId {id} is used twice");
            }
        }
    }
    assert!(ids.len() >= 30, "{ids:?}");
}

/// The document as served, and as the relay builds it in code: the same.
#[tokio::test]
async fn the_document_is_openapi_3_1_and_served_as_built() {
    let f = fixture().await;
    let (status, served) = f.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(served["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "{}", served["openapi"]);
    let built = serde_json::to_value(latch_relay::http::openapi()).unwrap();
    assert_eq!(served, built);
    for scheme in ["apiKey", "accessToken"] {
        assert_eq!(served["components"]["securitySchemes"][scheme]["scheme"], "bearer", "{scheme}");
    }
    // PROTOCOL's endpoints, by their exact names, with their methods.
    for (path, method) in [
        ("/pairing-tokens", "post"),
        ("/pairing-tokens/describe", "post"),
        ("/pairing-tokens/redeem", "post"),
        ("/api/pairing/request", "post"),
        ("/api/pairing/status", "get"),
        ("/api/pairing/approve", "post"),
        ("/api/auth/refresh", "post"),
        ("/api/session", "get"),
        ("/api/errands", "post"),
        ("/api/inbox/v1/captures", "post"),
        ("/api/inbox/v1/captures", "get"),
        ("/api/me", "get"),
        ("/api/me/device", "patch"),
    ] {
        assert!(served["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
}

/// Every documented operation is routed (not the fallback's 404), and every other method
/// on a documented path is refused with 405: the router answers nothing the document
/// leaves out on its paths.
#[tokio::test]
async fn every_documented_operation_is_routed_and_nothing_else_on_its_path() {
    let f = fixture().await;
    let doc = serde_json::to_value(latch_relay::http::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    for (path, item) in paths {
        let concrete = path.replace("{id}", "lbd_unknown");
        for method in METHODS {
            let upper = method.to_uppercase();
            let body = matches!(method, "post" | "put" | "patch").then(|| serde_json::json!({}));
            let (status, answer) = f.call(&upper, &concrete, None, body).await;
            if item[method].is_object() {
                let fallback = status == StatusCode::NOT_FOUND && answer["error"] == "not_found";
                assert!(!fallback && status != StatusCode::METHOD_NOT_ALLOWED, "{upper} {path}: {status} {answer}");
                let documented = item[method]["responses"][status.as_str()].is_object();
                assert!(documented, "{upper} {path} answered {status}, which it does not document: {answer}");
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{upper} {path} is answered but not documented");
            }
        }
    }
}

/// The same sweep as schemathesis sends it: no body, no `Content-Type`, no credential.
/// An undeclared method is 405; a declared one answers a status it documents, and one
/// that needs a credential and takes no body answers 401 (not 415).
#[tokio::test]
async fn bare_requests_get_documented_answers() {
    use axum::body::Body;
    use tower::ServiceExt;
    let f = fixture().await;
    let doc = serde_json::to_value(latch_relay::http::openapi()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "lbd_unknown");
        for method in METHODS {
            let req = axum::http::Request::builder().method(method.to_uppercase().as_str()).uri(&concrete);
            let res = f.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = res.status();
            let Some(op) = item.get(method) else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "bare {method} {path}");
                continue;
            };
            assert!(op["responses"][status.as_str()].is_object(), "bare {method} {path}: {status} is not documented");
            if op["security"].is_array() && op["requestBody"].is_null() {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "bare {method} {path}");
            }
        }
    }
}

/// Every router the relay serves is built with `routes!` from documented handlers: a plain
/// `.route(` would add a path the document does not have. (`metrics.rs` is the separate
/// `--metrics-listen` listener, not this API; `scaffold/` holds the apps `latch-relay init` writes.)
#[test]
fn no_route_is_added_outside_the_document() {
    let mut offenders = Vec::new();
    for file in rust_files(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))) {
        if file.ends_with("metrics.rs") || file.components().any(|c| c.as_os_str() == "scaffold") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // A plain axum router (an `OpenApiRouter::new()` is the documented kind).
        if text.matches("Router::new()").count() > text.matches("OpenApiRouter::new()").count() {
            offenders.push(format!("{} builds an axum Router", file.display()));
        }
        for needle in [
            ".route(",
            ".route_service(",
            ".nest(",
            ".nest_service(",
            ".fallback_service(",
            "routing::",
            "Router::default()",
            "Router::<",
        ] {
            if text.contains(needle) {
                offenders.push(format!("{} uses {needle}", file.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "routes outside routes!: {offenders:?}");
}

/// Every error code a handler can answer (`ApiError::new/bad_request/unauthorized(…, "code")`
/// anywhere in the relay) is named by at least one operation's answers in the document.
#[test]
fn every_error_code_the_relay_answers_is_documented() {
    let doc = latch_relay::http::openapi().to_json().unwrap();
    let mut codes = BTreeSet::new();
    for file in rust_files(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))) {
        codes.extend(error_codes_in(&std::fs::read_to_string(&file).unwrap()));
    }
    assert!(codes.len() >= 40, "only {} codes found: the scan is broken: {codes:?}", codes.len());
    let missing: Vec<_> = codes.iter().filter(|c| !doc.contains(&format!("`{c}`"))).collect();
    assert!(missing.is_empty(), "error codes no operation documents: {missing:?}");
}

/// The first string literal of each `ApiError::new(`, `ApiError::bad_request(` and
/// `ApiError::unauthorized(` call, and each `(S::STATUS, "code", message)` row of a
/// refusal table (rustfmt may break a row after its parenthesis).
fn error_codes_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ").replace("( ", "(");
    for call in ["ApiError::new(", "ApiError::bad_request(", "ApiError::unauthorized(", "(S::"] {
        for (at, _) in squeezed.match_indices(call) {
            let rest = &squeezed[at + call.len()..];
            let Some(open) = rest.find('"') else { continue };
            // The literal must be this call's (before its first closing parenthesis).
            if rest[..open].contains(')') {
                continue;
            }
            let literal = &rest[open + 1..];
            let code = &literal[..literal.find('"').unwrap()];
            if !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == ' ') {
                found.push(code.to_owned());
            }
        }
    }
    found
}

#[test]
fn the_code_scan_reads_calls_and_tables() {
    let text = r#"ApiError::new(StatusCode::GONE, "code_expired", "x"); ApiError::bad_request(
        "invalid_kind", "y"); (S::CONFLICT, "assertion_replayed", "z"); ApiError::new(status, code, message)
        Refusal::Malformed => (
            S::BAD_REQUEST,
            "malformed_assertion","#;
    assert_eq!(error_codes_in(text), ["code_expired", "invalid_kind", "assertion_replayed", "malformed_assertion"]);
}

/// The generated apps (`latch-relay scaffold`) send the documented mint request and name the
/// documented answer: each names every property of `MintResponse` and sends `userId`.
#[test]
fn the_scaffolded_apps_use_the_documented_mint_shapes() {
    let doc = serde_json::to_value(latch_relay::http::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> BTreeSet<String> {
        schemas[name]["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(required("MintRequest"), BTreeSet::from(["userId".to_owned()]));
    let answer = required("MintResponse");
    assert_eq!(answer, BTreeSet::from(["pairingToken", "expiresAt", "connectUrl"].map(str::to_owned)));
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/scaffold"));
    for app in ["express.js", "axum.rs", "flask.py"] {
        let text = std::fs::read_to_string(dir.join(app)).unwrap();
        assert!(text.contains("MintResponse"), "{app} does not name MintResponse");
        for field in answer.iter().chain(["userId".to_owned()].iter()) {
            assert!(text.contains(field.as_str()), "{app} does not name {field}");
        }
    }
}
