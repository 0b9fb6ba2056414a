//! `GET /api/v1/openapi.json` (the document) and `GET /api/v1/docs` (the same, as a page people
//! read): both public, since they describe the API and hold no numbers.
//!
//! The page is plain HTML drawn from the document on the server: no script, no third-party
//! viewer to load or trust, and it cannot disagree with the document.

use super::BASE;
use crate::html::esc;
use crate::routes::ServerState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::Arc;
use utoipa::openapi::OpenApi;

/// Routes of the document and its page.
pub fn routes(doc: Arc<OpenApi>) -> Router<ServerState> {
    let json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let page = Arc::new(render(&serde_json::to_value(&*doc).unwrap_or_default()));
    Router::new()
        .route(
            &format!("{BASE}/openapi.json"),
            get(move || {
                let json = json.clone();
                async move { cached((*json).clone(), "application/json") }
            }),
        )
        .route(
            &format!("{BASE}/docs"),
            get(move || {
                let page = page.clone();
                async move { Html((*page).clone()) }
            }),
        )
}

fn cached(body: String, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}

/// A schema's type in a few words: `integer`, `string | null`, `array of CampaignRow`.
fn type_words(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    if let Some(any) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
        return any.iter().map(type_words).collect::<Vec<_>>().join(" | ");
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        Some(Value::String(k)) => k.clone(),
        _ => "any".to_owned(),
    };
    match schema.get("items") {
        Some(items) if kind.starts_with("array") => format!("{} of {}", esc(&kind), type_words(items)),
        _ => esc(&kind),
    }
}

/// The page: the API's description, then each route with its parameters and answers, then
/// each schema with its fields.
pub fn render(doc: &Value) -> String {
    let info = &doc["info"];
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{CSS}</style></head><body><main>\
         <h1>{title}</h1><p>{desc}</p><p><a href=\"{BASE}/openapi.json\">OpenAPI 3.1 document (JSON)</a></p>",
        title = esc(info["title"].as_str().unwrap_or_default()),
        desc = esc(info["description"].as_str().unwrap_or_default()),
    );
    h.push_str("<h2>Routes</h2>");
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else { continue };
            for (method, op) in ops {
                route(&mut h, path, method, op);
            }
        }
    }
    h.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(h, "<section id=\"schema-{0}\"><h3>{0}</h3>", esc(name));
            if let Some(d) = schema["description"].as_str() {
                let _ = write!(h, "<p>{}</p>", esc(d));
            }
            let required: Vec<&str> =
                schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            if let Some(props) = schema["properties"].as_object() {
                h.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
                for (field, p) in props {
                    let optional = if required.contains(&field.as_str()) { "" } else { " <small>(may be absent)</small>" };
                    let _ = write!(
                        h,
                        "<tr><td><code>{}</code>{optional}</td><td>{}</td><td>{}</td></tr>",
                        esc(field),
                        type_words(p),
                        esc(p["description"].as_str().unwrap_or_default())
                    );
                }
                h.push_str("</table>");
            }
            h.push_str("</section>");
        }
    }
    h.push_str("</main></body></html>");
    h
}

fn route(h: &mut String, path: &str, method: &str, op: &Value) {
    let _ = write!(h, "<section class=\"route\"><h3><code>{} {}</code></h3>", esc(&method.to_uppercase()), esc(path));
    if let Some(d) = op["description"].as_str() {
        let _ = write!(h, "<p>{}</p>", esc(d));
    }
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        h.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>");
        for p in params {
            let _ = write!(
                h,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or_default()),
                if p["required"].as_bool() == Some(true) { " <small>(required)</small>" } else { "" },
                esc(p["in"].as_str().unwrap_or_default()),
                type_words(&p["schema"]),
                esc(p["description"].as_str().unwrap_or_default())
            );
        }
        h.push_str("</table>");
    }
    if let Some(responses) = op["responses"].as_object() {
        h.push_str("<ul>");
        for (status, r) in responses {
            let body = r["content"].as_object().and_then(|c| c.values().next()).map(|m| type_words(&m["schema"])).unwrap_or_default();
            let _ = write!(h, "<li><code>{}</code> {}</li>", esc(status), body);
        }
        h.push_str("</ul>");
    }
    let example = path.replace("{id}", "1");
    let _ = write!(
        h,
        "<pre>curl -H \"Authorization: Bearer $SCENEBOARD_KEY\" \"https://sceneboard.example.com{}\"</pre></section>",
        esc(&example)
    );
}

const CSS: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2129;background:#fff}\
main{max-width:960px;margin:0 auto;padding:16px}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
pre{background:#f4f5f7;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}code{font-size:.95em}a{color:#04692f}\
@media (prefers-color-scheme:dark){body{background:#15171a;color:#e8e8e8}pre{background:#22252a}td,th{border-color:#444}a{color:#5fd08e}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_it_shows() {
        let doc = serde_json::json!({
            "info": { "title": "<API>", "description": "a & b" },
            "paths": { "/x/{id}": { "get": { "description": "<b>", "parameters": [], "responses": {} } } },
            "components": { "schemas": { "S": { "properties": { "f": { "type": ["string", "null"], "description": "\"q\"" } } } } }
        });
        let page = render(&doc);
        assert!(page.contains("&lt;API&gt;") && page.contains("a &amp; b") && page.contains("&lt;b&gt;"));
        assert!(page.contains("string | null") && page.contains("&quot;q&quot;"));
        assert!(!page.contains("<b>"));
    }
}
